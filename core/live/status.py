"""``StatusFile``: the live worker's statistics as a JSON file (``Settings.live_status_file``, for tests/monitoring).

Written atomically with :func:`core.fileio.atomic_write_json` (a reader in another process never sees half a
file), at most every ``min_interval_s`` unless forced (when the worker stops, when recording is toggled).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.fileio import atomic_write_json
from core.live.types import LiveStats
from core.types import utcnow

log = logging.getLogger(__name__)


class StatusFile:
    """``write(stats)`` puts ``LiveStats.as_dict()`` plus ``updated`` (ISO time) into ``path``; no-op without a path."""

    def __init__(self, path: str | Path | None, min_interval_s: float = 0.25) -> None:
        self.path = Path(path) if path else None
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._written_at = float("-inf")

    def write(self, stats: Callable[[], LiveStats], force: bool = False) -> bool:
        """Write ``stats()`` (called only when a write is due); True if written. Failures are logged, not raised."""
        if self.path is None:
            return False
        now = time.perf_counter()
        with self._lock:
            if not force and now - self._written_at < self.min_interval_s:
                return False
            self._written_at = now
        try:
            data = stats().as_dict()
            data["updated"] = utcnow().isoformat()
            atomic_write_json(self.path, data, indent=1)
        except Exception as exc:
            log.warning("live: could not write the status file %s: %s", self.path, exc)
            return False
        return True


__all__ = ["StatusFile"]
