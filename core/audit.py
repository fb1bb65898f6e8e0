"""The audit log: one JSON line per audited action, in one format, written only by the services.

The log is a JSON-lines file at ``Settings.audit_log_path``. Every line has the same leading fields::

    {"time": "2026-03-14T09:30:00.123456+00:00", "action": "erase_worker", "actor": "hr-admin", "via": "cli",
     "subject": "w-0042", "outcome": "done", "rows_deleted": 120, ..., "host": "...", "pid": 1234}

``subject`` is the worker id the action is about (or null), ``outcome`` is ``done`` or ``failed`` (a failed
action says why in ``error``). Lines never contain biometric data: :func:`audit_record` refuses embeddings,
images, emotion scores and any value that is not a short scalar (see :data:`FORBIDDEN_FIELDS`). Worker ids are
pseudonymous identifiers, not biometrics.

A service builds its record *before* it changes anything (:func:`audit_record` validates every field), so an
action whose audit line would be refused is refused before it writes; :func:`append_audit` then writes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import FaceDashError

if TYPE_CHECKING:
    from core.services.actor import Actor

logger = logging.getLogger(__name__)

#: Field names that would carry biometric or emotion data; audit_record() refuses them.
FORBIDDEN_FIELDS = frozenset(
    {"embedding", "embeddings", "vector", "image", "images", "crop", "face", "photo", "pixels", "scores", "emotion",
     "emotions", "landmarks", "template"}
)
#: Longest string an audit field may hold (services check their free-text inputs against it before writing).
MAX_AUDIT_STRING = 500
RESERVED_FIELDS = ("time", "action", "actor", "via", "subject", "outcome")
OUTCOMES = ("done", "failed")


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
        if len(value) > MAX_AUDIT_STRING:
            raise AuditError(f"audit field {key!r} is longer than {MAX_AUDIT_STRING} characters; log a summary instead")
        return value
    if isinstance(value, (list, tuple)) and len(value) <= 50 and all(isinstance(v, str) for v in value):
        return [_check_value(key, v) for v in value]
    raise AuditError(
        f"audit field {key!r} has a {type(value).__name__} value; only short strings, numbers, booleans and "
        "lists of strings may be logged (no biometric data)"
    )


def audit_record(action: str, actor: Actor, subject: str | None = None, outcome: str = "done",
                 **fields: Any) -> dict[str, Any]:
    """Build and validate one audit record (nothing is written): raises AuditError for a field not allowed."""
    if not action or not isinstance(action, str):
        raise AuditError("audit needs an action name")
    if outcome not in OUTCOMES:
        raise AuditError(f"audit outcome must be one of {OUTCOMES}, got {outcome!r}")
    bad = sorted(k for k in fields if k.lower() in FORBIDDEN_FIELDS)
    if bad:
        raise AuditError(f"audit fields {bad} would log biometric or emotion data; they are not allowed")
    record: dict[str, Any] = {
        "time": None,  # set when written
        "action": action,
        "actor": actor.name,
        "via": actor.via,
        "subject": _check_value("subject", subject),
        "outcome": outcome,
    }
    for key, value in fields.items():
        if key in RESERVED_FIELDS or key in ("host", "pid"):
            raise AuditError(f"audit field {key!r} is reserved")
        record[key] = _check_value(key, value)
    return record


def append_audit(settings, record: dict[str, Any]) -> dict[str, Any]:
    """Append ``record`` (from :func:`audit_record`) as one line; returns it with its time, host and pid.

    Lines are written with one ``write`` under a file lock and fsynced, so concurrent writers never interleave.
    """
    import filelock

    line_record = {**record, "time": dt.datetime.now(dt.UTC).isoformat(), "host": socket.gethostname(),
                   "pid": os.getpid()}
    line = json.dumps(line_record, ensure_ascii=False) + "\n"
    path = Path(settings.audit_log_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # backslashreplace: a lone surrogate (undecodable bytes in an argument) is written as a JSON \\u escape
        with filelock.FileLock(str(path) + ".lock", timeout=30), \
                open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, filelock.Timeout) as exc:
        raise AuditError(f"cannot write the audit log {path.name}: {exc}") from None
    return line_record


def ensure_writable(settings) -> None:
    """Raise AuditError now if the audit log cannot be appended to (before an action that cannot be undone)."""
    path = Path(settings.audit_log_path)
    try:
        if path.exists():
            with open(path, "a", encoding="utf-8"):
                pass
        else:  # nothing is created by the check itself: the nearest existing folder must be writable
            folder = next(p for p in path.parents if p.exists())
            if not os.access(folder, os.W_OK):
                raise PermissionError(13, "Permission denied", str(folder))
    except OSError as exc:
        raise AuditError(f"cannot write the audit log {path.name}: {exc.strerror or exc}; nothing was changed") from None


def audit(settings, action: str, actor: Actor, subject: str | None = None, outcome: str = "done",
          **fields: Any) -> dict[str, Any]:
    """Validate and append one audit line in one step (for actions with nothing to undo)."""
    return append_audit(settings, audit_record(action, actor, subject, outcome, **fields))


def read_audit_log(settings) -> list[dict]:
    """All audit records (oldest first); [] when there is no log yet. Unparseable lines are skipped with a warning."""
    path = Path(settings.audit_log_path)
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:  # one damaged byte must not hide the whole log
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("audit log %s: line %d is not JSON; skipped", path, number)
    return out
