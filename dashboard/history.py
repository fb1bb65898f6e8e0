"""History page: pickers (who, when, resolution, smoothing) and the charts over the timeline store.

Queries come from core.timeline.queries through the cached wrappers in dashboard.resources. With emotion analysis
off only presence (who was seen when) is charted; emotion columns are left out of the CSV export too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.auth.roles import MIN_TEAM_SIZE, Permission
from core.config import Settings
from core.demo import DEMO_WORKERS
from core.services.actor import Actor
from dashboard import resources
from dashboard.components import charts

TEAM = "__team__"
RESOLUTION_HELP = "raw = every observation; otherwise means per minute / hour / day (cut in your browser's time zone)"
SMOOTHING = {"15 minutes": "15min", "1 hour": "1h", "4 hours": "4h", "1 day": "1D", "7 days": "7D"}


@dataclass(frozen=True)
class Selection:
    workers: tuple[str, ...]
    is_team: bool
    scope_label: str
    first_day: dt.date
    last_day: dt.date
    resolution: str
    window: str
    tz: str

    @property
    def start(self) -> pd.Timestamp:
        """Midnight starting ``first_day`` in the browser's time zone (inclusive)."""
        return pd.Timestamp(self.first_day).tz_localize(self.tz)

    @property
    def end(self) -> pd.Timestamp:
        """Midnight after ``last_day`` in the browser's time zone (exclusive)."""
        return pd.Timestamp(self.last_day + dt.timedelta(days=1)).tz_localize(self.tz)


def display_names(settings: Settings, actor: Actor) -> dict[str, str]:
    """Workers' display names for those who may see individuals (no names otherwise)."""
    if not actor.can(Permission.WORKERS_READ):
        return {}
    names = dict(DEMO_WORKERS)
    names.update(resources.display_names(settings, actor))
    return names


def team_only_problem(actor: Actor, workers: list[str]) -> str | None:
    """Why a role that sees only team charts cannot see these (too few workers to hide individuals), or None."""
    if actor.can(Permission.WORKER_HISTORY) or len(workers) >= MIN_TEAM_SIZE:
        return None
    return (f"Team charts need at least {MIN_TEAM_SIZE} workers with observations for your role "
            f"({actor.role}): with {len(workers)} they would show individuals.")


def browser_tz() -> str:
    tz = getattr(st.context, "timezone", None)
    if not isinstance(tz, str):  # no browser time zone reported
        return "UTC"
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
        return tz
    except Exception:
        return "UTC"


def pickers(settings: Settings, stats: dict, workers: list[str], names: dict[str, str], actor: Actor) -> Selection:
    """Scope (one worker only for roles with ``history.worker``), date range, resolution and smoothing."""
    last = pd.Timestamp(stats["last_time"]).date() if stats.get("last_time") else dt.date.today()
    first = pd.Timestamp(stats["first_time"]).date() if stats.get("first_time") else last
    default_start = max(first, last - dt.timedelta(days=13))
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
        choices = [TEAM, *workers] if actor.can(Permission.WORKER_HISTORY) else [TEAM]
        scope = c1.selectbox("Who", choices, key="hist_scope",
                             format_func=lambda w: "Team (all workers)" if w == TEAM else f"{names.get(w, w)} ({w})")
        picked = c2.date_input("Dates", (default_start, last), min_value=first, max_value=max(last, dt.date.today()),
                               key="hist_dates")
        resolution = c3.selectbox("Resolution", ["raw", "minute", "hour", "day"], index=2, key="hist_resolution",
                                  help=RESOLUTION_HELP)
        smoothing = c4.selectbox("Smoothing", list(SMOOTHING), index=2, key="hist_smoothing",
                                 help="trailing window of the valence line", disabled=not settings.emotion_active)
    if isinstance(picked, (tuple, list)):
        # a range being picked has only its first day yet; a cleared one has none: the default range
        start, end = (picked[0], picked[-1]) if picked else (default_start, last)
    else:
        start = end = picked
    chosen = tuple(workers) if scope == TEAM else (scope,)
    label = "Team" if scope == TEAM else names.get(scope, scope)
    return Selection(chosen, scope == TEAM, label, start, end, resolution, SMOOTHING[smoothing], browser_tz())


def render(settings: Settings, sel: Selection, version: str, actor: Actor) -> None:
    uri = settings.timeline_uri
    args = (uri, version, settings)
    timeline = resources.q_timeline(*args, sel.workers, sel.start, sel.end, sel.resolution, sel.tz)
    if timeline.empty:
        st.info(f"No observations of {sel.scope_label} from {sel.first_day} to {sel.last_day}; "
                "widen the date range or pick someone else.", icon=":material/info:")
        return
    cols = st.columns(4)
    cols[0].metric("Observations", f"{int(timeline['n'].sum()):,}")
    cols[1].metric("Time zone", sel.tz)
    has_emotion = False
    if settings.emotion_active:
        valence = resources.q_valence(*args, sel.workers, sel.start, sel.end, sel.resolution, sel.window, sel.tz)
        has_emotion = valence["n"].sum() > 0
        cols[2].metric("Mean valence", f"{valence['valence_score'].mean():+.2f}" if has_emotion else "n/a")
        dist = resources.q_distribution(*args, sel.workers, sel.start, sel.end)
        cols[3].metric("Most frequent", dist.loc[dist["n"].idxmax(), "label"] if has_emotion else "n/a")
    heat = resources.q_heatmap(*args, sel.workers, sel.start, sel.end, sel.tz)
    who = sel.scope_label
    if settings.emotion_active and has_emotion:
        charts.show(charts.emotion_timeline(timeline, sel.resolution, f"Emotion timeline: {who}"), key="hist_area")
        left, right = st.columns(2)
        with left:
            charts.show(charts.valence_chart(valence, sel.window, f"Valence over time: {who}"), key="hist_valence")
        with right:
            charts.show(charts.label_distribution(dist, f"Label distribution: {who}"), key="hist_dist")
        heat_value = st.radio("Heat map shows", ["mean valence", "observations"], horizontal=True, key="hist_heat")
        charts.show(charts.weekday_hour_heatmap(heat, "valence_score" if heat_value == "mean valence" else "n"),
                    key="hist_heat_chart")
        if sel.is_team and actor.can(Permission.WORKER_HISTORY):  # one line per worker: individuals
            summary = resources.q_team_summary(*args, sel.start, sel.end)
            summary = summary[summary["worker_id"].isin(sel.workers)]
            charts.show(charts.team_valence(summary, display_names(settings, actor)), key="hist_team")
    else:
        if settings.emotion_active:
            st.info("These observations carry no emotion scores (they were recorded while emotion analysis was "
                    "off); presence is shown.", icon=":material/info:")
        else:
            from dashboard.components.empty import NO_EMOTION

            st.info(NO_EMOTION, icon=":material/visibility_off:")
        charts.show(charts.presence_timeline(timeline, sel.resolution, f"Presence: {who}"), key="hist_presence")
        charts.show(charts.weekday_hour_heatmap(heat, "n"), key="hist_heat_chart")


def export_csv(settings: Settings, sel: Selection, actor: Actor) -> bytes:
    """The selection's rows as CSV, through the export service (permission checked, audited)."""
    from core.services.timeline import export_rows

    rows = export_rows(settings, actor, list(sel.workers), sel.start, sel.end, with_emotion=settings.emotion_active)
    return rows.to_csv(index=False).encode()


def export_button(settings: Settings, sel: Selection, version: str, actor: Actor) -> None:
    """'Prepare CSV export' (audited: who took which rows out), then the download of what was prepared."""
    from core.errors import FaceDashError

    key = f"{sel.scope_label}|{sel.first_day}|{sel.last_day}|{version}"
    prepared = st.session_state.get("hist_export_data")
    if prepared is None or prepared[0] != key:
        if st.button("Prepare CSV export", icon=":material/download:", key="hist_export_prepare",
                     help="Exports are recorded in the audit log."):
            try:
                st.session_state["hist_export_data"] = (key, export_csv(settings, sel, actor))
            except FaceDashError as exc:
                st.error(str(exc), icon=":material/error:")
                return
            st.rerun()
        return
    st.download_button("Download CSV", prepared[1], icon=":material/download:", mime="text/csv", on_click="ignore",
                       file_name=f"facedash-{sel.scope_label.lower().replace(' ', '_')}-{sel.first_day}-"
                                 f"{sel.last_day}.csv", key="hist_export")


def demo_buttons(settings: Settings, key: str, actor: Actor) -> None:
    """'Load demo history' / 'Remove demo data' (shown on History's empty state and on Settings, to admins)."""
    from dashboard import admin

    if not actor.can(Permission.DEMO):
        return
    c1, c2, _ = st.columns([1, 1, 2])
    if c1.button("Load demo history", key=f"{key}_load", icon=":material/science:",
                 help="Synthetic observations for 4 demo workers (ids demo-*, source 'demo'), last 14 days"):
        resources.run_action(lambda: admin.load_demo(settings, actor))
    if c2.button("Remove demo data", key=f"{key}_remove", icon=":material/delete:"):
        resources.run_action(lambda: admin.remove_demo(settings, actor))
