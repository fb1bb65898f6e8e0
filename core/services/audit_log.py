"""Reading the audit log: filter by action, actor, subject, outcome and time; export as CSV (itself audited)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from core.audit import audit, read_audit_log
from core.auth.roles import Permission
from core.services.access import require
from core.services.actor import Actor

COLUMNS = ["time", "action", "actor", "via", "subject", "outcome", "details"]


@dataclass(frozen=True)
class AuditFilter:
    actions: tuple[str, ...] = ()
    actor: str = ""  # substring, case-insensitive
    subject: str = ""  # substring, case-insensitive
    outcome: str | None = None  # "done" | "failed" | None (both)
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        details = {k: v for k, v in r.items() if k not in COLUMNS and k not in ("host", "pid")}
        rows.append({"time": r.get("time"), "action": r.get("action"), "actor": r.get("actor"), "via": r.get("via"),
                     "subject": r.get("subject"), "outcome": r.get("outcome"),
                     "details": ", ".join(f"{k}={v}" for k, v in details.items())})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    return frame


def read_audit(settings, actor: Actor, where: AuditFilter = AuditFilter()) -> pd.DataFrame:
    """The matching lines, newest first, as a table (time, action, actor, via, subject, outcome, details)."""
    require(settings, actor, Permission.AUDIT, "read the audit log")
    frame = _frame(read_audit_log(settings))
    keep = pd.Series(True, index=frame.index)
    if where.actions:
        keep &= frame["action"].isin(where.actions)
    if where.actor:
        keep &= frame["actor"].fillna("").str.contains(where.actor, case=False, regex=False)
    if where.subject:
        keep &= frame["subject"].fillna("").str.contains(where.subject, case=False, regex=False)
    if where.outcome:
        keep &= frame["outcome"] == where.outcome
    if where.since is not None:
        keep &= frame["time"] >= pd.Timestamp(where.since)
    if where.until is not None:
        keep &= frame["time"] < pd.Timestamp(where.until)
    return frame[keep].sort_values("time", ascending=False, kind="stable").reset_index(drop=True)


def export_audit(settings, actor: Actor, where: AuditFilter = AuditFilter()) -> bytes:
    """The matching lines as CSV; the export itself is audited."""
    frame = read_audit(settings, actor, where)
    audit(settings, "audit_export", actor, None, rows=len(frame))
    return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z").encode("utf-8")
