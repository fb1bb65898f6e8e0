"""Privacy operations: the audit log, erasure of a worker (timeline rows + gallery entry) and retention.

The audit log is a JSON-lines file at ``Settings.audit_log_path``. One line per event::

    {"time": "2025-03-14T09:30:00.123456+00:00", "action": "erase_worker", "actor": "hr-admin",
     "subject": "w-0042", "rows_deleted": 120, ...}

Lines never contain biometric data: :func:`audit` refuses embeddings, images, emotion scores and any value that
is not a short scalar (see :data:`FORBIDDEN_FIELDS`). Worker ids are pseudonymous identifiers, not biometrics.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from core.errors import FaceDashError, GalleryError, UnknownWorkerError

logger = logging.getLogger(__name__)

#: Field names that would carry biometric or emotion data; audit() refuses them.
FORBIDDEN_FIELDS = frozenset(
    {"embedding", "embeddings", "vector", "image", "images", "crop", "face", "photo", "pixels", "scores", "emotion",
     "emotions", "landmarks", "template"}
)
_MAX_STRING = 500


class AuditError(FaceDashError):
    """An audit line could not be written or would contain data that must not be logged."""

    exit_code = 4
    http_status = 500


def _check_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        if len(value) > _MAX_STRING:
            raise AuditError(f"audit field {key!r} is longer than {_MAX_STRING} characters; log a summary instead")
        return value
    if isinstance(value, (list, tuple)) and len(value) <= 50 and all(isinstance(v, str) for v in value):
        return [_check_value(key, v) for v in value]
    raise AuditError(
        f"audit field {key!r} has a {type(value).__name__} value; only short strings, numbers, booleans and "
        "lists of strings may be logged (no biometric data)"
    )


def audit(settings, action: str, actor: str, **fields: Any) -> dict:
    """Append one JSON line to ``settings.audit_log_path`` and return the record.

    ``action`` e.g. ``consent_recorded``, ``enroll``, ``erase_worker``, ``retention``; ``actor`` who did it
    (a person's name/login or ``system``). Extra ``fields`` must be short scalars (no biometric data).
    Lines are written with one ``write`` under a file lock, so concurrent writers never interleave.
    """
    if not action or not isinstance(action, str):
        raise AuditError("audit needs an action name")
    if not actor or not isinstance(actor, str):
        raise AuditError("audit needs an actor (who did it)")
    bad = sorted(k for k in fields if k.lower() in FORBIDDEN_FIELDS)
    if bad:
        raise AuditError(f"audit fields {bad} would log biometric or emotion data; they are not allowed")
    record: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "action": action,
        "actor": actor,
    }
    for key, value in fields.items():
        if key in record:
            raise AuditError(f"audit field {key!r} is reserved")
        record[key] = _check_value(key, value)
    record.setdefault("host", socket.gethostname())
    record.setdefault("pid", os.getpid())
    line = json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n"
    path = Path(settings.audit_log_path)
    try:
        import filelock

        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(path) + ".lock", timeout=30):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
    except (OSError, filelock.Timeout) as exc:
        raise AuditError(f"cannot write the audit log {path}: {exc}") from None
    return record


def read_audit_log(settings) -> list[dict]:
    """All audit records (oldest first); [] when there is no log yet. Unparseable lines are skipped with a warning."""
    path = Path(settings.audit_log_path)
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("audit log %s: line %d is not JSON; skipped", path, number)
    return out


def erase_worker(settings, worker_id: str, actor: str) -> dict:
    """Erase everything stored about ``worker_id``: the gallery entry and every timeline row, in every partition
    (files are rewritten, not hidden). Writes one audit line (also when the erasure fails).

    Order: the gallery entry goes first (so no new rows can be attributed to the worker), then the rows. If the
    worker is not enrolled but has rows, the rows are still deleted; if neither exists,
    :class:`~core.errors.UnknownWorkerError` is raised and nothing is logged as erased.

    Returns ``{"worker_id", "rows_deleted", "files_rewritten", "gallery_removed", "unreadable_files"}``.
    ``unreadable_files`` lists corrupt/quarantined timeline files that could not be checked (an administrator
    must inspect or delete them).
    """
    from core.timeline.store import TimelineStore

    worker_id = (worker_id or "").strip()
    if not worker_id:
        raise UnknownWorkerError("erase_worker needs a worker id")
    if not actor or not str(actor).strip():
        raise AuditError("erase_worker needs an actor (who requested the erasure)")
    try:
        from core.gallery import Gallery  # lazy: the gallery pulls in heavier modules
    except ImportError as exc:
        raise GalleryError(f"cannot erase worker {worker_id!r}: the gallery module is unavailable ({exc})") from None

    gallery = Gallery(Path(settings.gallery_path))
    store = TimelineStore.from_settings(settings)
    try:
        enrolled = bool(gallery.has_worker(worker_id))
        has_rows = store.count(worker=worker_id) > 0
        if not enrolled and not has_rows:
            raise UnknownWorkerError(
                f"worker {worker_id!r} is neither enrolled in the gallery nor present in the timeline store"
            )
        gallery_removed = False
        if enrolled:
            try:
                gallery.erase(worker_id)
                gallery_removed = True
            except UnknownWorkerError:  # removed concurrently
                gallery_removed = False
        report = store.erase_worker_report(worker_id)
    except UnknownWorkerError:
        raise
    except Exception as exc:
        audit(settings, "erase_worker", actor, subject=worker_id, outcome="failed", error=str(exc)[:_MAX_STRING])
        raise
    finally:
        store.close()
    summary = {
        "worker_id": worker_id,
        "rows_deleted": report.rows_deleted,
        "files_rewritten": report.files_rewritten,
        "gallery_removed": gallery_removed,
        "unreadable_files": report.unreadable_files,
    }
    audit(
        settings, "erase_worker", actor, subject=worker_id, outcome="done", rows_deleted=report.rows_deleted,
        files_rewritten=report.files_rewritten, gallery_removed=gallery_removed,
        unreadable_files=len(report.unreadable_files),
    )
    if report.unreadable_files:
        logger.warning("erasure of %s: %d timeline files could not be checked: %s", worker_id,
                       len(report.unreadable_files), ", ".join(report.unreadable_files))
    return summary


def run_retention(settings, actor: str = "system", now: Any = None) -> int:
    """Apply ``settings.retention_days`` to the timeline store and write an audit line. Returns rows deleted."""
    from core.timeline.store import TimelineStore, enforce_retention

    store = TimelineStore.from_settings(settings)
    try:
        deleted = enforce_retention(store, settings.retention_days, now=now)
    finally:
        store.close()
    audit(settings, "retention", actor, retention_days=settings.retention_days, rows_deleted=deleted)
    return deleted


def enforce_retention(store, days: int, now: Any = None) -> int:
    """Delete timeline rows older than ``days`` days (see :func:`core.timeline.store.enforce_retention`)."""
    from core.timeline.store import enforce_retention as _enforce

    return _enforce(store, days, now=now)
