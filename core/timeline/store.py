"""Emotion-timeline store: date-partitioned parquet files under a folder or an fsspec URI.

:class:`TimelineStore` is the entry point: it opens the location, appends rows, reads and queries them. The work
is split by responsibility (see docs/timeline.md):

* :mod:`core.timeline.schema` -- columns, validation of incoming rows, the ``obs_id`` content hash;
* :mod:`core.timeline.fs` -- the on-disk layout and the storage backends (local folder, fsspec);
* :mod:`core.timeline.sql` -- DuckDB access (the ``obs`` relation behind :meth:`TimelineStore.query`);
* :mod:`core.timeline.maintenance` -- compaction, erasure and retention (everything that deletes files).

Rules that make concurrent use safe:

* Files are never modified in place. A writer writes ``.tmp-*`` and renames it to a fresh, unique final name
  (``os.replace``; on object stores the single PUT of the whole object is the atomic step). A reader therefore
  only ever sees whole files, and appends need no lock at all.
* Compaction, erasure and retention (everything that deletes files) run under one exclusive lock: a
  ``filelock.FileLock`` in the store folder, or a local lock file for remote URIs.
* Every row carries ``obs_id`` (128-bit content hash unless the caller gives one). Every file holds unique ids.
  A crash between "new file renamed" and "old files deleted", or a caller retrying an append that in fact
  succeeded, can leave the same row in two files of one partition; readers therefore de-duplicate by ``obs_id``
  in every partition that holds more than one file, and compaction removes such duplicates for good.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
import time as _time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import StoreError
from core.timeline import maintenance
from core.timeline.fs import APPEND_PREFIX, PARTITION_PREFIX, FileHealth, new_file_name, open_backend
from core.timeline.maintenance import RewriteReport
from core.timeline.schema import (
    COLUMNS,
    SCHEMA,
    TimelineArgumentError,
    build_table,
    dedup,
    normalize_records,
    observations_to_columns,
    to_frame,
    to_utc,
)
from core.timeline.sql import SqlReader, quote_ident, unique
from core.types import Observation

__all__ = ["TimelineStore"]

logger = logging.getLogger(__name__)

_EPOCH = dt.date(1970, 1, 1)


class TimelineStore:
    """Append-only, date-partitioned parquet store of :class:`~core.types.Observation` rows.

    Parameters
    ----------
    uri:
        A local folder (``/data/timeline``, ``file:///data/timeline``) or an fsspec URI (``s3://bucket/timeline``,
        ``gs://bucket/timeline``, ``memory://timeline`` for tests).
    flush_rows:
        Rows kept in memory before they are written as one file. ``1`` (default) writes every append at once
        (nothing is lost if the process dies). Larger values batch small appends; call :meth:`flush` / use the
        store as a context manager. Buffered rows are also flushed after ``flush_interval_s`` (checked on append)
        and before every read by this instance.
    compact_min_files:
        A partition with more files than this is compacted into one file right after an append (if no other
        process holds the maintenance lock at that moment; otherwise the next append tries again).
    lock_path:
        The maintenance lock. Default: ``<root>/.maintenance.lock`` for local stores and
        ``<tempdir>/facedash-locks/<hash of uri>.lock`` for remote ones.
    lock_timeout_s:
        How long erasure/retention/explicit compaction wait for the lock before raising :class:`StoreError`.
    fsync:
        Local stores: fsync each file and its folder before it becomes visible (survives power loss, slower).
    compression:
        Parquet codec. ``snappy`` (default) decodes about twice as fast as ``zstd`` in DuckDB; zstd is ~20 % smaller.
    threads:
        Worker threads for compaction and erasure (default: CPUs, at most 4).
    storage_options:
        Passed to fsspec for remote URIs (credentials; see docs/timeline.md).
    """

    def __init__(
        self,
        uri: str | os.PathLike,
        *,
        flush_rows: int = 1,
        flush_interval_s: float = 60.0,
        compact_min_files: int = 16,
        row_group_size: int = 16_384,
        lock_path: str | os.PathLike | None = None,
        lock_timeout_s: float = 60.0,
        stale_tmp_s: float = 3600.0,
        fsync: bool = False,
        compression: str = "snappy",
        threads: int | None = None,
        storage_options: dict | None = None,
    ):
        if flush_rows < 1:
            raise TimelineArgumentError("flush_rows must be >= 1")
        if compact_min_files < 1:
            raise TimelineArgumentError("compact_min_files must be >= 1")
        self.uri = str(uri)
        self._backend, default_lock = open_backend(self.uri, fsync=fsync, storage_options=storage_options)
        self.lock_path = str(lock_path or default_lock)
        self.flush_rows = int(flush_rows)
        self.flush_interval_s = float(flush_interval_s)
        self.compact_min_files = int(compact_min_files)
        self.row_group_size = int(row_group_size)
        self.lock_timeout_s = float(lock_timeout_s)
        self.stale_tmp_s = float(stale_tmp_s)
        self.compression = compression
        self.threads = max(1, int(threads or min(4, os.cpu_count() or 1)))
        #: Problems met by the last read/query: ``"<path>: <reason>"`` for each file skipped.
        self.last_read_problems: list[str] = []
        self._buffer: list[pa.Table] = []
        self._buffer_rows = 0
        self._buffer_since: float | None = None
        self._mutex = threading.RLock()
        self._health = FileHealth(self._backend)
        self._sql = SqlReader(self.uri, self._backend, self._health)
        self._lock: Any = None
        self._lock_pid: int | None = None
        if self._backend.local:
            try:
                self._backend.makedirs(self._backend.root)
            except OSError as exc:
                raise StoreError(f"timeline store folder {self._backend.root} cannot be created ({exc})") from None

    # ---------------------------------------------------------------------------------------- construction
    @classmethod
    def from_settings(cls, settings, **kwargs) -> TimelineStore:
        """The store at ``settings.timeline_uri``; remote stores keep their lock in ``<data_dir>/.locks``."""
        uri = settings.timeline_uri
        if "lock_path" not in kwargs and "://" in uri and not uri.startswith("file://"):
            digest = hashlib.sha1(uri.encode()).hexdigest()[:16]
            kwargs["lock_path"] = Path(settings.data_dir) / ".locks" / f"timeline-{digest}.lock"
        return cls(uri, **kwargs)

    @property
    def is_local(self) -> bool:
        return self._backend.local

    @property
    def root(self) -> str:
        return self._backend.root

    def __repr__(self) -> str:
        return f"TimelineStore({self.uri!r})"

    def __enter__(self) -> TimelineStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Flush buffered rows and release the DuckDB connection."""
        self.flush()
        self._sql.close()

    # ---------------------------------------------------------------------------------------------- locking
    def _filelock(self):
        import filelock

        if self._lock is None or self._lock_pid != os.getpid():
            os.makedirs(os.path.dirname(self.lock_path) or ".", exist_ok=True)
            self._lock = filelock.FileLock(self.lock_path)
            self._lock_pid = os.getpid()
        return self._lock

    class _Held:
        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.lock.release()

    def maintenance_lock(self, timeout: float | None = None) -> _Held:
        """Acquire the exclusive maintenance lock (context manager); :class:`StoreError` after ``timeout``."""
        import filelock

        lock = self._filelock()
        timeout = self.lock_timeout_s if timeout is None else timeout
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise StoreError(
                f"timeline store {self.uri}: another process holds the maintenance lock {self.lock_path} "
                f"(waited {timeout:g} s); try again later"
            ) from None
        return self._Held(lock)

    # ---------------------------------------------------------------------------------------------- append
    def append(self, observations: Iterable[Observation] | pd.DataFrame) -> int:
        """Store observations (or a DataFrame with the documented schema). Returns the number of rows accepted.

        Each call writes one file per UTC date it touches (unless ``flush_rows`` > 1 buffers it). A file becomes
        visible whole or not at all. Appending the same observations again is harmless: readers and compaction
        drop rows whose ``obs_id`` is already stored.
        """
        if isinstance(observations, pd.DataFrame):
            table = normalize_records(observations)
        else:
            table = build_table(observations_to_columns(observations))
        if table.num_rows == 0:
            return 0
        with self._mutex:
            if self.flush_rows <= 1 and not self._buffer:
                days = self._write(table)
            else:
                self._buffer.append(table)
                self._buffer_rows += table.num_rows
                if self._buffer_since is None:
                    self._buffer_since = _time.monotonic()
                due = _time.monotonic() - self._buffer_since >= self.flush_interval_s
                days = self._flush_locked() if self._buffer_rows >= self.flush_rows or due else []
        self._compact_written(days)  # outside the mutex: other threads of this process keep reading/appending
        return table.num_rows

    @property
    def buffered_rows(self) -> int:
        return self._buffer_rows

    def flush(self) -> int:
        """Write buffered rows (if any) now. Returns the number of rows written."""
        with self._mutex:
            rows = self._buffer_rows
            days = self._flush_locked()
        self._compact_written(days)
        return rows

    def _flush_locked(self) -> list[str]:
        if not self._buffer:
            return []
        table = dedup(pa.concat_tables(self._buffer))
        self._buffer, self._buffer_rows, self._buffer_since = [], 0, None
        return self._write(table)

    def _write(self, table: pa.Table) -> list[str]:
        """Write ``table`` as one new file per UTC date. Returns the dates written."""
        daynum = table.column("time").cast(pa.int64()).to_numpy() // 86_400_000_000
        unique_days = np.unique(daynum)
        written = []
        for number in unique_days:
            day = (_EPOCH + dt.timedelta(days=int(number))).isoformat()
            written.append(day)
            part = table if len(unique_days) == 1 else table.filter(pa.array(daynum == number))
            final = self._backend.join(PARTITION_PREFIX + day, new_file_name(APPEND_PREFIX))
            try:
                self._backend.write_atomic(final, part, compression=self.compression,
                                           row_group_size=self.row_group_size)
            except OSError as exc:  # disk full, permissions, network: nothing of this file is visible
                raise StoreError(f"cannot write to the timeline store {self.uri}: {exc}") from exc
        return written

    def _compact_written(self, days: list[str]) -> None:
        for day in days:
            try:
                if len(self._backend.files(day)) > self.compact_min_files:
                    maintenance.compact_if_free(self, day)
            except Exception as exc:  # compaction failing must never fail an append that has been stored
                logger.warning("timeline store: compaction of %s after append failed: %s", day, exc)

    # ------------------------------------------------------------------------------------------ maintenance
    def compact(self, *, min_files: int = 2) -> dict:
        """Merge every partition holding at least ``min_files`` files into one file (under the lock).

        Also removes duplicate ``obs_id`` rows, sorts rows by (worker_id, time), moves corrupt files to
        ``_quarantine/`` and deletes stale temporary files. Returns ``{"partitions": n, "files_before": n,
        "files_after": n}``.
        """
        return maintenance.compact(self, min_files=min_files)

    def erase_worker(self, worker_id: str) -> int:
        """Delete every row of ``worker_id`` from every file (files are rewritten). Returns rows deleted."""
        return self.erase_worker_report(worker_id).rows_deleted

    def erase_worker_report(self, worker_id: str) -> RewriteReport:
        """:meth:`erase_worker` with details: rows deleted, files rewritten, files that could not be read."""
        return maintenance.erase_worker_report(self, worker_id)

    def delete_before(self, cutoff: Any) -> int:
        """Delete every row with ``time < cutoff``. Whole older partitions are removed. Returns rows deleted."""
        return self.delete_before_report(cutoff).rows_deleted

    def delete_before_report(self, cutoff: Any) -> RewriteReport:
        """:meth:`delete_before` with details (see :func:`core.timeline.maintenance.delete_before_report`)."""
        return maintenance.delete_before_report(self, cutoff)

    # ---------------------------------------------------------------------------------------------- reading
    def query(
        self,
        sql: str,
        *,
        worker: str | Sequence[str] | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
        include_unknown: bool = True,
        params: dict | None = None,
    ) -> pa.Table:
        """Run DuckDB ``sql`` over a relation ``obs`` holding the (de-duplicated) rows that match the filters.

        ``worker``: one id or a list (None = everyone; ``include_unknown=False`` drops unknown faces).
        ``start`` inclusive, ``end`` exclusive. ``columns`` limits what ``obs`` exposes (faster); default all.
        Unreadable files are skipped and listed in :attr:`last_read_problems`. Returns an Arrow table.
        """
        self.flush()
        start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
        cols = list(columns) if columns else list(COLUMNS)
        bad = [c for c in cols if c not in COLUMNS]
        if bad:
            raise TimelineArgumentError(f"unknown timeline columns {bad}; the schema is {list(COLUMNS)}")
        workers = [worker] if isinstance(worker, str) else (list(worker) if worker is not None else None)
        result, self.last_read_problems = self._sql.query(
            sql, cols=cols, workers=workers, start_ts=start_ts, end_ts=end_ts, include_unknown=include_unknown,
            params=params,
        )
        return result

    def read(
        self,
        worker: str | Sequence[str] | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
        *,
        include_unknown: bool = True,
    ) -> pd.DataFrame:
        """Stored rows as a DataFrame sorted by (time, obs_id); see :data:`SCHEMA` / docs/timeline.md for columns.

        Dtypes: ``time`` datetime64[us, UTC]; strings ``str`` (missing = NaN); scores, ``valence_score``,
        ``distance``, ``threshold``, ``detector_confidence`` float32 (missing = NaN); ``box_*`` Int32 (nullable).
        """
        cols = list(columns) if columns else list(COLUMNS)
        order = [c for c in ("time", "obs_id") if c in cols] or cols[:1]
        table = self.query(
            f"SELECT * FROM obs ORDER BY {', '.join(quote_ident(c) for c in order)}",
            worker=worker, start=start, end=end, columns=cols, include_unknown=include_unknown,
        )
        return to_frame(table.cast(pa.schema([SCHEMA.field(c) for c in cols])))

    def count(self, worker: str | Sequence[str] | None = None, start: Any = None, end: Any = None) -> int:
        table = self.query("SELECT count(*) AS n FROM obs", worker=worker, start=start, end=end, columns=["time"])
        return int(table.column("n")[0].as_py())

    def workers(self) -> list[str]:
        """Known worker ids that have rows (sorted)."""
        table = self.query(
            "SELECT DISTINCT worker_id FROM obs WHERE worker_id IS NOT NULL ORDER BY 1", columns=["worker_id"]
        )
        return [v for v in table.column("worker_id").to_pylist()]

    def stats(self) -> dict:
        """Summary: rows, unknown_rows, workers, files, small_files, partitions, bytes, first_time, last_time
        (ISO strings or None), corrupt_files (names of skipped or quarantined files), uri."""
        files = self._backend.all_files()
        all_files = [f for day_files in files.values() for f in day_files]
        table = self.query(
            "SELECT count(*) AS n, count(*) FILTER (WHERE worker_id IS NULL) AS unknown, "
            "count(DISTINCT worker_id) AS workers, min(time) AS first, max(time) AS last FROM obs",
            columns=["time", "worker_id"],
        )
        problems = list(self.last_read_problems)
        row = {k: v[0] for k, v in table.to_pydict().items()}
        first, last = row["first"], row["last"]
        return {
            "uri": self.uri,
            "rows": int(row["n"]),
            "unknown_rows": int(row["unknown"]),
            "workers": int(row["workers"]),
            "files": len(all_files),
            "small_files": sum(f.is_small for f in all_files),
            "partitions": len(files),
            "bytes": sum(f.size for f in all_files),
            "first_time": first.isoformat() if first is not None else None,
            "last_time": last.isoformat() if last is not None else None,
            "corrupt_files": unique([p.split(": ", 1)[0] for p in problems] + self._backend.quarantined_files()),
        }

    def file_paths(self) -> list[str]:
        """Every visible data file (for tests and tools)."""
        return [f.path for day_files in self._backend.all_files().values() for f in day_files]
