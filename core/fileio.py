"""Atomic file writes: the one "write a temporary file, fsync, rename into place" helper.

A reader (another process, or this one after a crash) sees either the old file or the new one, never half of
either: ``os.replace`` is atomic on POSIX and Windows when source and target are on the same file system, which
is why the temporary file is created next to the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write(path: Path | str, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (creating the parent folder); returns the path.

    ``mode`` (e.g. ``0o600`` for secrets) is applied to the temporary file before it becomes visible.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path | str, value: Any, *, indent: int | None = 2) -> Path:
    """``value`` as JSON (``default=str`` for dates and paths), written atomically."""
    return atomic_write(path, json.dumps(value, indent=indent, default=str))


class RestorePoint:
    """The bytes of some files as they are now, to put back if a multi-file write fails half-way.

    ``with RestorePoint([index, embeddings]) as point: ...; point.track(new_file)``: on an exception every listed
    file gets its old bytes back (or is removed if it did not exist) and every tracked new file is deleted, then the
    exception propagates. Meant for small files written under one lock (the gallery's index and embeddings).
    """

    def __init__(self, paths: list[Path]) -> None:
        self._saved = {Path(p): (Path(p).read_bytes() if Path(p).exists() else None) for p in paths}
        self._created: list[Path] = []

    def track(self, path: Path) -> None:
        """A file about to be written that did not exist before (removed on failure)."""
        if not Path(path).exists():
            self._created.append(Path(path))

    def __enter__(self) -> RestorePoint:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            return
        for path in self._created:
            path.unlink(missing_ok=True)
        for path, data in self._saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, data)
