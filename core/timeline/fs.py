"""Where the timeline's files live: the on-disk layout and the two storage backends (local folder, fsspec).

Layout (see docs/timeline.md)::

    <root>/date=2025-03-14/a-<ns>-<pid>-<rand>.parquet   one file per append (small, immutable)
    <root>/date=2025-03-14/c-<ns>-<pid>-<rand>.parquet   result of a compaction or a rewrite (immutable)
    <root>/date=2025-03-14/.tmp-<rand>.parquet           being written (ignored by readers)
    <root>/_quarantine/date=.../<name>                  corrupt files moved aside by compaction
    <root>/.maintenance.lock                             local stores: the file lock

Files are never modified in place. A writer writes ``.tmp-*`` and renames it to a fresh, unique final name
(``os.replace``; on object stores the single PUT of the whole object is the atomic step), so a reader only ever
sees whole files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time as _time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import StoreError

logger = logging.getLogger(__name__)

PARTITION_PREFIX = "date="
APPEND_PREFIX = "a-"
COMPACT_PREFIX = "c-"
TMP_PREFIX = ".tmp-"
QUARANTINE_DIR = "_quarantine"
LOCK_NAME = ".maintenance.lock"

#: ``(name, is_dir, size, mtime)`` of one folder entry (mtime 0.0 where the backend does not know it).
DirEntry = tuple[str, bool, int, float]


@dataclass(frozen=True)
class StoredFile:
    path: str
    partition: str  # "2025-03-14"
    name: str
    size: int

    @property
    def is_small(self) -> bool:
        return self.name.startswith(APPEND_PREFIX)


def new_file_name(prefix: str) -> str:
    """A final file name no other writer (process, host) will ever use: ``<prefix><ns>-<pid>-<rand>.parquet``."""
    return f"{prefix}{_time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"


def first_line(exc: BaseException) -> str:
    """The first line of an error message (at most 300 characters), for logs and problem lists."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _serialise(table: pa.Table, **write_kwargs) -> pa.Buffer:
    sink = pa.BufferOutputStream()  # serialise first: one write() call is much faster than many small ones
    pq.write_table(table, sink, **write_kwargs)
    return sink.getvalue()


class Backend:
    """File operations of one store root, plus the layout on top of them (partitions, data files, quarantine)."""

    local: bool
    root: str

    # --- primitives, one implementation per backend
    def join(self, *parts: str) -> str:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def list_dir(self, path: str) -> list[DirEntry]:
        """The entries of ``path``; [] when it does not exist."""
        raise NotImplementedError

    def write_atomic(self, final: str, table: pa.Table, **write_kwargs) -> None:
        """Write ``table`` as parquet to ``final``; readers see the whole file or nothing."""
        raise NotImplementedError

    def open_input(self, path: str) -> Any:
        """Something pyarrow.parquet can read."""
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def remove_tree(self, path: str) -> None:
        raise NotImplementedError

    def move(self, src: str, dst: str) -> None:
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    # --- layout
    def partition_dir(self, day: str) -> str:
        return self.join(PARTITION_PREFIX + day)

    def partitions(self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> list[str]:
        """Dates (``YYYY-MM-DD``, sorted) of the partitions that may hold rows in ``[start, end)``."""
        first = start.date().isoformat() if start is not None else None
        last = (end - pd.Timedelta(microseconds=1)).date().isoformat() if end is not None else None
        out = []
        for name, is_dir, _, _ in self.list_dir(self.root):
            if not is_dir or not name.startswith(PARTITION_PREFIX):
                continue
            day = name[len(PARTITION_PREFIX):]
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            out.append(day)
        return sorted(out)

    def files(self, day: str) -> list[StoredFile]:
        """The visible data files of one partition (no temporary or hidden files), sorted by name."""
        out = []
        for name, is_dir, size, _ in self.list_dir(self.partition_dir(day)):
            if is_dir or not name.endswith(".parquet") or name.startswith((".", "_")):
                continue
            out.append(StoredFile(path=self.join(PARTITION_PREFIX + day, name), partition=day, name=name, size=size))
        return sorted(out, key=lambda f: f.name)

    def all_files(self, start: pd.Timestamp | None = None,
                  end: pd.Timestamp | None = None) -> dict[str, list[StoredFile]]:
        """``{day: files}`` of every non-empty partition that may hold rows in ``[start, end)``."""
        return {day: files for day in self.partitions(start, end) if (files := self.files(day))}

    def quarantined_files(self) -> list[str]:
        out = []
        for name, is_dir, _, _ in self.list_dir(self.join(QUARANTINE_DIR)):
            if is_dir:
                for fname, fdir, _, _ in self.list_dir(self.join(QUARANTINE_DIR, name)):
                    if not fdir:
                        out.append(self.join(QUARANTINE_DIR, name, fname))
        return out

    def read_file(self, f: StoredFile, columns: Sequence[str] | None = None, filters=None) -> pa.Table:
        source = self.open_input(f.path)
        if filters:
            return pq.read_table(source, columns=list(columns) if columns else None, filters=filters)
        with pq.ParquetFile(source) as pf:  # much cheaper than read_table for the many small files
            return pf.read(columns=list(columns) if columns else None, use_threads=False)


class LocalBackend(Backend):
    local = True

    def __init__(self, root: str, fsync: bool):
        self.root = os.path.abspath(root)
        self.fsync = fsync

    def join(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def list_dir(self, path: str) -> list[DirEntry]:
        out = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    out.append((entry.name, entry.is_dir(), st.st_size, st.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return out

    def write_atomic(self, final: str, table: pa.Table, **write_kwargs) -> None:
        # Temporary file + os.replace, like core.fileio.atomic_write, which is deliberately not used here: the
        # temporary name must be ``.tmp-*.parquet`` (compaction removes stale ones, docs/timeline.md), fsync is
        # optional (one fsync per live append would dominate its cost), and a partition folder removed by
        # retention while we write is recreated and the write retried.
        directory = os.path.dirname(final)
        tmp = os.path.join(directory, f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet")
        data = _serialise(table, **write_kwargs)
        for attempt in range(3):
            try:
                os.makedirs(directory, exist_ok=True)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    if self.fsync:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, final)
                break
            except FileNotFoundError:  # the partition folder was removed under us (retention): recreate it
                if attempt == 2:
                    raise
            except BaseException:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
                raise
        if self.fsync:
            _fsync_dir(directory)

    def open_input(self, path: str) -> Any:
        return path  # pyarrow opens local paths itself (memory-mapped, fastest)

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def move(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


class FsspecBackend(Backend):
    local = False

    def __init__(self, fs, root: str):
        self.fs = fs
        self.root = root.rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def makedirs(self, path: str) -> None:
        try:
            self.fs.makedirs(path, exist_ok=True)
        except Exception:  # object stores have no folders; some refuse makedirs below a bucket
            pass

    def list_dir(self, path: str) -> list[DirEntry]:
        try:
            self.fs.invalidate_cache(path)
            entries = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            out.append((name, e.get("type") == "directory", int(e.get("size") or 0), 0.0))
        return out

    def write_atomic(self, final: str, table: pa.Table, **write_kwargs) -> None:
        # Object stores make an object visible only once its single PUT completes: write the final name directly.
        data = _serialise(table, **write_kwargs)
        self.makedirs(final.rsplit("/", 1)[0])
        self.fs.pipe_file(final, data.to_pybytes())

    def open_input(self, path: str) -> Any:
        return pa.BufferReader(self.fs.cat_file(path))

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def move(self, src: str, dst: str) -> None:
        self.fs.mv(src, dst)

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)


def open_backend(uri: str, *, fsync: bool, storage_options: dict | None) -> tuple[Backend, str]:
    """The backend for ``uri`` and its default maintenance-lock path.

    Local folders keep the lock inside the store; file locks do not work on object stores, so remote stores
    use ``<tempdir>/facedash-locks/<hash of uri>.lock``.
    """
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise StoreError(
            f"timeline store {uri!r}: cannot open this URI ({exc}); for s3:// install s3fs, for gs:// gcsfs"
        ) from None
    if isinstance(fs, LocalFileSystem):
        local = LocalBackend(root, fsync)
        return local, os.path.join(local.root, LOCK_NAME)
    digest = hashlib.sha1(uri.encode()).hexdigest()[:16]
    return FsspecBackend(fs, root), os.path.join(tempfile.gettempdir(), "facedash-locks", f"{digest}.lock")


class FileHealth:
    """Which files are known to be unreadable, and the row counts of parquet footers.

    Both are cached per path: file names are never reused and files are never modified, so a verdict holds.
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self.bad: dict[str, str] = {}  # path -> why it cannot be read
        self._footers: dict[tuple[str, int], int | None] = {}  # (path, size) -> num_rows, None = unreadable

    def mark_bad(self, path: str, reason: str) -> None:
        if path not in self.bad:
            logger.warning("timeline store: skipping unreadable file %s (%s)", path, reason)
        self.bad[path] = reason

    def skip_bad(self, files: dict[str, list[StoredFile]], problems: list[str]) -> dict[str, list[StoredFile]]:
        """``files`` without those known to be unreadable; each one skipped is added to ``problems``."""
        if not self.bad:
            return files
        out: dict[str, list[StoredFile]] = {}
        for day, day_files in files.items():
            good = []
            for f in day_files:
                reason = self.bad.get(f.path)
                if reason is None:
                    good.append(f)
                else:
                    logger.debug("timeline store: skipping unreadable file %s", f.path)
                    problems.append(f"{f.path}: {reason}")
            if good:
                out[day] = good
        return out

    def footer_rows(self, f: StoredFile) -> int | None:
        """Row count from the parquet footer; None if the file is unreadable (FileNotFoundError if it vanished)."""
        key = (f.path, f.size)
        if key not in self._footers:
            try:
                self._footers[key] = pq.read_metadata(self.backend.open_input(f.path)).num_rows
            except FileNotFoundError:
                raise
            except Exception as exc:  # corrupt / truncated / not parquet
                self.mark_bad(f.path, first_line(exc))
                self._footers[key] = None
        return self._footers[key]
