"""Everything that deletes timeline files: compaction, erasure of a worker, retention.

All of it runs under the store's exclusive maintenance lock (:meth:`TimelineStore.maintenance_lock`), and all of
it follows one rule: the replacement file is renamed into place *before* the files it replaces are deleted. A
crash in between leaves duplicate rows, which readers drop by ``obs_id`` and the next run removes; never a loss.
The functions take a :class:`~core.timeline.store.TimelineStore`; its methods ``compact``,
``erase_worker_report`` and ``delete_before_report`` call them.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import StoreError
from core.timeline.fs import COMPACT_PREFIX, PARTITION_PREFIX, QUARANTINE_DIR, TMP_PREFIX, StoredFile, new_file_name
from core.timeline.schema import SCHEMA, TimelineArgumentError, dedup, to_utc

if TYPE_CHECKING:
    from core.timeline.store import TimelineStore

logger = logging.getLogger(__name__)


@dataclass
class RewriteReport:
    """What an erasure or retention run did."""

    rows_deleted: int = 0
    files_rewritten: int = 0  # files replaced by a filtered copy (or deleted because nothing was left)
    files_deleted: int = 0  # whole files/partitions dropped (retention)
    unreadable_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows_deleted": self.rows_deleted,
            "files_rewritten": self.files_rewritten,
            "files_deleted": self.files_deleted,
            "unreadable_files": list(self.unreadable_files),
        }


def _parallel(store: TimelineStore, fn: Callable, items: Sequence) -> list:
    """``[fn(x) for x in items]`` on the maintenance thread pool (pyarrow releases the GIL while it works)."""
    if store.threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=store.threads, thread_name_prefix="timeline") as pool:
        return list(pool.map(fn, items))


def _write_partition_file(store: TimelineStore, day: str, table: pa.Table) -> str:
    backend = store._backend
    final = backend.join(PARTITION_PREFIX + day, new_file_name(COMPACT_PREFIX))
    backend.write_atomic(final, table, compression=store.compression, row_group_size=store.row_group_size)
    return final


# ---------------------------------------------------------------------------------------------- compaction
def compact(store: TimelineStore, *, min_files: int = 2) -> dict:
    """Merge every partition holding at least ``min_files`` files into one file (under the lock).

    Also removes duplicate ``obs_id`` rows, sorts rows by (worker_id, time), moves corrupt files to
    ``_quarantine/`` and deletes stale temporary files. Returns ``{"partitions": n, "files_before": n,
    "files_after": n}``.
    """
    backend = store._backend
    store.flush()
    summary = {"partitions": 0, "files_before": 0, "files_after": 0}
    with store.maintenance_lock():
        todo = []
        for day in backend.partitions():
            files = backend.files(day)
            summary["files_before"] += len(files)
            if len(files) >= min_files or _has_stale_tmp(store, day):
                todo.append(day)
        _parallel(store, lambda day: compact_partition(store, day), todo)
        summary["partitions"] = len(todo)
        summary["files_after"] = sum(len(backend.files(day)) for day in backend.partitions())
    return summary


#: A file joins a merge after an append while it is at most this many times the size of the newer files chosen.
TIER_RATIO = 2.0


def _written_ns(f: StoredFile) -> int:
    """When a file was written, from its name (``<prefix><ns>-<pid>-<rand>.parquet``); 0 for foreign names."""
    stamp = f.name.split("-", 2)[1] if f.name.count("-") >= 2 else ""
    return int(stamp) if stamp.isdigit() else 0


def tiered_merge_set(files: Sequence[StoredFile], rows: Callable[[StoredFile], int],
                     ratio: float = TIER_RATIO) -> list[StoredFile]:
    """The files an after-append compaction merges: the newest ones, as long as the merge stays cheap.

    Walking from the newest file to the oldest, a file joins while it holds at most ``ratio`` times the rows
    already chosen (``rows(f)``: a file's row count). Merging a whole day's partition after every few appends would
    read and rewrite all of the day's rows each time: quadratic in the day's rows, and Arrow's allocator keeps the
    pages of those ever bigger reads (the live soak grew 70 MB an hour). With this rule files grow like a binary
    counter: a row is rewritten about log2(rows / compact_min_files) times a day, and a partition keeps
    ``compact_min_files`` files plus about that many. ``compact()`` (CLI ``timeline compact``) still merges
    everything into one file.
    """
    chosen: list[StoredFile] = []
    total = 0
    for f in sorted(files, key=lambda f: (_written_ns(f), f.name), reverse=True):
        n = rows(f)
        if chosen and n > ratio * total:
            break
        chosen.append(f)
        total += n
    return chosen if len(chosen) > 1 else []


def compact_if_free(store: TimelineStore, day: str) -> bool:
    """After an append: merge the partition's newest files (:func:`tiered_merge_set`) if the maintenance lock is
    free right now. True if it ran."""
    try:
        held = store.maintenance_lock(timeout=0)
    except StoreError:  # another process holds the lock: the next append tries again
        return False
    with held:
        files = store._backend.files(day)
        if len(files) > store.compact_min_files:  # another process may have compacted it meanwhile
            compact_partition(store, day, tiered_merge_set(files, lambda f: _row_count(store, f)))
    # mimalloc (Arrow's default pool here) keeps freed pages for reuse; hand them back, or a long-running
    # process grows with every compaction (measured: 168 -> 145 MB after 3,500 single-row appends)
    pa.default_memory_pool().release_unused()
    return True


def _row_count(store: TimelineStore, f: StoredFile) -> int:
    """Rows in one file, from its footer (a missing or unreadable file counts 0: the merge quarantines it)."""
    try:
        return int(pq.read_metadata(store._backend.open_input(f.path)).num_rows)
    except Exception:
        return 0


def compact_partition(store: TimelineStore, day: str, files: Sequence[StoredFile] | None = None) -> None:
    """Merge ``files`` (default: all) of one partition into one sorted, de-duplicated file. Caller holds the lock."""
    backend = store._backend
    _remove_stale_tmp(store, day)
    tables, inputs = [], []
    for f in (backend.files(day) if files is None else files):
        try:
            tables.append(backend.read_file(f))
            inputs.append(f)
        except FileNotFoundError:
            continue
        except Exception as exc:
            logger.warning("timeline store: unreadable file %s during compaction: %s", f.path, exc)
            _quarantine(store, f)
    if len(inputs) <= 1:
        return
    table = dedup(pa.concat_tables([t.cast(SCHEMA) for t in tables]))
    table = table.sort_by([("worker_id", "ascending"), ("time", "ascending")])
    if table.num_rows:
        _write_partition_file(store, day, table)
    for f in inputs:  # a crash in this loop leaves duplicates that readers drop by obs_id
        backend.remove(f.path)


def _stale_tmp_names(store: TimelineStore, day: str) -> list[str]:
    now = _time.time()
    return [
        name
        for name, is_dir, _, mtime in store._backend.list_dir(store._backend.partition_dir(day))
        if not is_dir and name.startswith(TMP_PREFIX) and mtime and now - mtime > store.stale_tmp_s
    ]


def _has_stale_tmp(store: TimelineStore, day: str) -> bool:
    return bool(_stale_tmp_names(store, day))


def _remove_stale_tmp(store: TimelineStore, day: str) -> None:
    for name in _stale_tmp_names(store, day):
        logger.info("timeline store: removing stale temporary file %s/%s", day, name)
        store._backend.remove(store._backend.join(PARTITION_PREFIX + day, name))


def _quarantine(store: TimelineStore, f: StoredFile) -> None:
    dst = store._backend.join(QUARANTINE_DIR, PARTITION_PREFIX + f.partition, f.name)
    logger.warning("timeline store: moving corrupt file %s to %s", f.path, dst)
    try:
        store._backend.move(f.path, dst)
    except Exception as exc:
        logger.warning("timeline store: could not quarantine %s: %s", f.path, exc)


# ------------------------------------------------------------------------------------------------ rewrite
def _rewrite(store: TimelineStore, f: StoredFile, keep: Callable[[pa.Table], Any]) -> int:
    """Replace ``f`` by its rows where ``keep(table)`` is true (caller holds the lock). Returns rows removed.

    The filtered copy is renamed into place before the original is deleted: a crash in between leaves
    duplicates (dropped by readers, removed by the next run), never a loss.
    """
    table = store._backend.read_file(f)
    kept = table.filter(keep(table))
    removed = table.num_rows - kept.num_rows
    if removed == 0:
        return 0
    if kept.num_rows:
        _write_partition_file(store, f.partition, kept.cast(SCHEMA))
    store._backend.remove(f.path)
    return removed


def erase_worker_report(store: TimelineStore, worker_id: str) -> RewriteReport:
    """Delete every row of ``worker_id`` from every file (files are rewritten): rows deleted, files rewritten,
    files that could not be read (and so may still hold rows of the worker)."""
    if not worker_id:
        raise TimelineArgumentError("erase_worker needs a worker id")
    store.flush()
    report = RewriteReport()
    seen: set[str] = set()

    def keep(table: pa.Table):
        return pc.invert(pc.fill_null(pc.equal(table.column("worker_id"), worker_id), False))

    def erase_in(f: StoredFile) -> tuple[int, str | None]:
        try:
            ids = store._backend.read_file(f, columns=["worker_id"]).column("worker_id")
            if not pc.any(pc.fill_null(pc.equal(ids, worker_id), False)).as_py():
                return 0, None
            return _rewrite(store, f, keep), None
        except FileNotFoundError:
            return 0, None
        except Exception as exc:  # corrupt file: cannot prove it holds no row of the worker
            logger.warning("timeline store: cannot read %s to erase a worker: %s", f.path, exc)
            return 0, f.path

    with store.maintenance_lock():
        # Repeat until a pass finds no file it has not checked: appends that land during the erasure are covered.
        for _ in range(10):
            new_files = [f for files in store._backend.all_files().values() for f in files if f.path not in seen]
            if not new_files:
                break
            seen.update(f.path for f in new_files)
            for removed, unreadable in _parallel(store, erase_in, new_files):
                report.rows_deleted += removed
                report.files_rewritten += removed > 0
                if unreadable:
                    report.unreadable_files.append(unreadable)
        report.unreadable_files.extend(store._backend.quarantined_files())
    logger.info("timeline store: erased %d rows of a worker from %d files", report.rows_deleted, report.files_rewritten)
    return report


# ---------------------------------------------------------------------------------------------- retention
def _required_utc(value: Any, name: str) -> pd.Timestamp:
    ts = to_utc(value, name)
    if ts is None:
        raise TimelineArgumentError(f"{name}: a time is required")
    return ts


def delete_before_report(store: TimelineStore, cutoff: Any) -> RewriteReport:
    """Delete every row with ``time < cutoff``: older partitions are removed whole, the cutoff's own date is
    rewritten, quarantined files of older dates are removed too."""
    cutoff_ts = _required_utc(cutoff, "cutoff")
    store.flush()
    report = RewriteReport()
    cutoff_day = cutoff_ts.date().isoformat()
    backend = store._backend
    with store.maintenance_lock():
        for day in backend.partitions():
            if day > cutoff_day:
                break
            if day < cutoff_day:
                _drop_partition(store, day, report)
            else:
                _trim_partition(store, day, cutoff_ts, report)
        for day_dir, is_dir, _, _ in backend.list_dir(backend.join(QUARANTINE_DIR)):
            if is_dir and day_dir.startswith(PARTITION_PREFIX) and day_dir[len(PARTITION_PREFIX):] < cutoff_day:
                backend.remove_tree(backend.join(QUARANTINE_DIR, day_dir))
    logger.info("timeline store: retention removed %d rows before %s", report.rows_deleted, cutoff_ts.isoformat())
    return report


def _drop_partition(store: TimelineStore, day: str, report: RewriteReport) -> None:
    """Remove a whole partition older than the cutoff (rows counted from the parquet footers)."""
    for f in store._backend.files(day):
        try:
            rows = store._health.footer_rows(f)
        except FileNotFoundError:
            continue
        report.rows_deleted += rows or 0
        report.files_deleted += 1
    store._backend.remove_tree(store._backend.partition_dir(day))


def _trim_partition(store: TimelineStore, day: str, cutoff_ts: pd.Timestamp, report: RewriteReport) -> None:
    """The cutoff's own day: keep the rows at or after the cutoff."""
    cutoff_arrow = pa.scalar(cutoff_ts.to_pydatetime(), pa.timestamp("us", tz="UTC"))
    for f in store._backend.files(day):
        try:
            times = store._backend.read_file(f, columns=["time"]).column("time")
            if pc.all(pc.greater_equal(times, cutoff_arrow)).as_py():
                continue
            removed = _rewrite(store, f, lambda t: pc.greater_equal(t.column("time"), cutoff_arrow))
        except FileNotFoundError:
            continue
        except Exception as exc:
            logger.warning("timeline store: cannot read %s for retention: %s", f.path, exc)
            report.unreadable_files.append(f.path)
            continue
        report.rows_deleted += removed
        report.files_rewritten += removed > 0


def enforce_retention(store: TimelineStore, days: int, now: Any = None) -> int:
    """Delete rows older than ``days`` days before ``now`` (default: the current time). Returns rows deleted.

    The app calls this at start-up; ``python -m core timeline retain`` calls it (and writes an audit line).
    """
    if days is None or int(days) < 1:
        raise TimelineArgumentError(f"retention days must be >= 1, got {days!r}")
    now_ts = _required_utc(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    cutoff = now_ts - pd.Timedelta(days=int(days))
    return store.delete_before(cutoff)
