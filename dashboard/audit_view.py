"""Audit log page: filters (action, actor, worker, outcome, dates), the matching lines, an audited CSV export."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.config import Settings
from core.errors import FaceDashError
from core.services.actor import Actor
from core.services.audit_log import AuditFilter, export_audit, read_audit


def filters(all_actions: list[str]) -> AuditFilter:
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 1, 2])
        actions = c1.multiselect("Actions", all_actions, key="audit_actions")
        actor = c2.text_input("Actor contains", key="audit_actor")
        subject = c3.text_input("Subject contains", key="audit_subject", help="worker id, user name or key id")
        outcome = c4.selectbox("Outcome", ["any", "done", "failed"], key="audit_outcome")
        today = dt.date.today()
        days = c5.date_input("Dates", (today - dt.timedelta(days=30), today), key="audit_dates")
    first, last = (days[0], days[-1]) if isinstance(days, (tuple, list)) and days else (today, today)
    return AuditFilter(tuple(actions), actor.strip(), subject.strip(), None if outcome == "any" else outcome,
                       dt.datetime.combine(first, dt.time(), dt.UTC),
                       dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC))


def show(settings: Settings, actor: Actor) -> None:
    everything = read_audit(settings, actor)
    where = filters(sorted(everything["action"].dropna().unique()))
    frame = read_audit(settings, actor, where)
    failed = int((frame["outcome"] == "failed").sum())
    cols = st.columns(3)
    cols[0].metric("Lines", f"{len(frame):,}")
    cols[1].metric("Failed or refused", f"{failed:,}")
    cols[2].metric("Actors", f"{frame['actor'].nunique():,}")
    st.dataframe(frame, hide_index=True, column_config={"time": st.column_config.DatetimeColumn(
        "time (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    if st.button("Prepare CSV export", key="audit_export_prepare", icon=":material/download:",
                 help="The export itself is recorded in the audit log."):
        try:
            st.session_state["audit_export"] = export_audit(settings, actor, where)
        except FaceDashError as exc:
            st.error(str(exc), icon=":material/error:")
    if "audit_export" in st.session_state:
        st.download_button("Download CSV", st.session_state["audit_export"], file_name="facedash-audit.csv",
                           mime="text/csv", on_click="ignore", key="audit_export_download")
