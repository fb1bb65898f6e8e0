"""Timeline use-cases: retention, export of one worker's rows, the demo history, stats and compaction.

Retention is applied here and only here (the dashboard at start-up, the Settings page, ``timeline retain``); every
run writes one audit line, also when it deleted nothing (the log shows that the rule ran). Exports are audited
(who took a copy of a worker's history out of the system).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.audit import MAX_AUDIT_STRING, audit
from core.auth.roles import Permission
from core.errors import UnknownWorkerError
from core.services.access import require
from core.services.actor import Actor
from core.types import EMOTIONS

log = logging.getLogger(__name__)
#: Columns that carry emotion (left out of exports while emotion analysis is off).
EMOTION_COLUMNS = (*EMOTIONS, "label", "valence", "valence_score", "emotion_model")
MAX_RETENTION_DAYS = 36_500  # a century: longer cutoffs overflow the timestamps, and mean "keep for ever" anyway


@dataclass(frozen=True)
class Export:
    worker_id: str
    frame: pd.DataFrame
    problems: list[str]  # unreadable files skipped while reading


def open_store(settings):
    """The timeline store for reading (charts, queries); writes go through the services in this package."""
    from core.timeline import TimelineStore

    return TimelineStore.from_settings(settings)


def apply_retention(settings, actor: Actor, days: int | None = None, now: Any = None) -> int:
    """Delete timeline rows older than ``days`` (default ``settings.retention_days``); returns rows deleted."""
    from core.timeline import TimelineArgumentError, TimelineStore, enforce_retention

    require(settings, actor, Permission.RETENTION, "run the retention rule")
    days = settings.retention_days if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise TimelineArgumentError(f"retention must be a whole number of days from 1 to {MAX_RETENTION_DAYS} "
                                    f"(got {days!r})")
    try:
        with TimelineStore.from_settings(settings) as store:
            deleted = enforce_retention(store, days, now=now)
    except Exception as exc:
        audit(settings, "retention", actor, outcome="failed", retention_days=days, error=str(exc)[:MAX_AUDIT_STRING])
        raise
    audit(settings, "retention", actor, retention_days=days, rows_deleted=deleted)
    log.info("retention %d days: %d row(s) deleted", days, deleted)
    return deleted


def export_worker(settings, actor: Actor, worker_id: str, since: Any = None, until: Any = None,
                  file_format: str = "csv") -> Export:
    """One worker's rows in ``[since, until)``; the caller writes them. Audited."""
    from core.gallery import WORKER_ID
    from core.timeline import TimelineArgumentError, TimelineStore, to_utc

    require(settings, actor, Permission.EXPORT, "export a worker's history", worker_id)
    if not isinstance(worker_id, str) or not WORKER_ID.fullmatch(worker_id):
        raise UnknownWorkerError(f"{worker_id!r} is not a worker id (1-64 letters, digits, '_', '-' or '.')")
    since, until = to_utc(since, "--since"), to_utc(until, "--until")
    if since is not None and until is not None and since >= until:
        raise TimelineArgumentError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    with TimelineStore.from_settings(settings) as store:
        frame = store.read(worker=worker_id, start=since, end=until)
        if frame.empty and store.count(worker=worker_id) == 0:
            raise UnknownWorkerError(f"worker {worker_id!r} has no rows in the timeline store")
        problems = list(store.last_read_problems)
    audit(settings, "timeline_export", actor, worker_id, rows=len(frame), format=file_format, since=since,
          until=until)
    for problem in problems:
        log.warning("export of %s: skipped unreadable file %s", worker_id, problem)
    return Export(worker_id, frame, problems)


def export_rows(settings, actor: Actor, workers: list[str], since: Any = None, until: Any = None,
                with_emotion: bool = True) -> pd.DataFrame:
    """The rows of ``workers`` in ``[since, until)`` for a download (the dashboard's team or worker export); audited.
    ``with_emotion=False`` leaves the emotion columns out (emotion analysis off)."""
    from core.timeline import TimelineStore

    subject = workers[0] if len(workers) == 1 else None  # one worker's history; a team export names them below
    require(settings, actor, Permission.EXPORT, "export the history", subject)
    with TimelineStore.from_settings(settings) as store:
        frame = store.read(list(workers), since, until)
    if not with_emotion:
        frame = frame.drop(columns=[c for c in EMOTION_COLUMNS if c in frame.columns])
    audit(settings, "timeline_export", actor, subject, rows=len(frame),
          format="csv", workers=sorted(workers)[:50], since=since, until=until)
    return frame


def timeline_stats(settings) -> dict:
    from core.timeline import TimelineStore

    with TimelineStore.from_settings(settings) as store:
        return store.stats()


def compact(settings, actor: Actor) -> dict:
    from core.timeline import TimelineStore

    require(settings, actor, Permission.MAINTENANCE, "compact the timeline store")

    with TimelineStore.from_settings(settings) as store:
        summary = store.compact()
    audit(settings, "timeline_compact", actor, partitions=summary.get("partitions"),
          files_before=summary.get("files_before"), files_after=summary.get("files_after"))
    return summary


def load_demo(settings, actor: Actor) -> tuple[int, int]:
    """Synthetic history for the demo workers (source ``demo``); returns (rows written, days)."""
    from core.demo import DEMO_WORKERS
    from core.demo import load_demo as _load
    from core.timeline import TimelineStore

    require(settings, actor, Permission.DEMO, "load the demo history")
    days = min(14, settings.retention_days)
    with TimelineStore.from_settings(settings) as store:
        written = _load(store, days=days)
    audit(settings, "demo_load", actor, rows=written, workers=list(DEMO_WORKERS))
    return written, days


def remove_demo(settings, actor: Actor) -> int:
    from core.demo import remove_demo as _remove
    from core.timeline import TimelineStore

    require(settings, actor, Permission.DEMO, "remove the demo history")
    with TimelineStore.from_settings(settings) as store:
        deleted = _remove(store)
    audit(settings, "demo_remove", actor, rows_deleted=deleted)
    return deleted
