"""History: emotion (or, with emotion analysis off, presence) timelines per worker and for the team."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import auth, history, resources
from dashboard.components.empty import NO_OBSERVATIONS, NO_OBSERVATIONS_VIEWER, empty_state
from dashboard.components.privacy import privacy_notice

settings = resources.settings()
actor = auth.page_actor(Permission.TEAM_HISTORY)
st.title("History")
resources.flash()
privacy_notice(settings, "history")

version = resources.data_version(settings)
stats = resources.q_stats(settings.timeline_uri, version, settings)
workers = resources.q_workers(settings.timeline_uri, version, settings)
if stats["rows"] == 0 or not workers:
    if stats["rows"]:
        st.info(f"The store holds {stats['rows']} observation(s), all of unknown faces: nothing to chart per worker.")
    empty_state(NO_OBSERVATIONS if actor.can(Permission.LIVE) else NO_OBSERVATIONS_VIEWER)
    history.demo_buttons(settings, "history_demo", actor)
    st.stop()
if (problem := history.team_only_problem(actor, workers)) is not None:
    st.info(problem, icon=":material/group_off:")
    st.stop()

for problem in stats.get("corrupt_files") or []:
    st.warning(f"Skipped an unreadable timeline file: {problem}", icon=":material/warning:")
selection = history.pickers(settings, stats, workers, history.display_names(settings, actor), actor)
history.render(settings, selection, version, actor)
if actor.can(Permission.EXPORT):
    history.export_button(settings, selection, version, actor)
if any(w.startswith("demo-") for w in workers):
    st.caption("Includes synthetic demo data (workers demo-*, source 'demo').")
    history.demo_buttons(settings, "history_demo", actor)
