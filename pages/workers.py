"""Workers: enroll from photos with recorded consent; list, rename, erase (with confirmation and audit line)."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import auth, enrollment, resources
from dashboard.components.empty import NO_WORKERS, empty_state
from dashboard.components.enroll import clear_snapshots, photo_inputs, verdict_grid
from dashboard.components.privacy import privacy_notice
from dashboard.components.tables import worker_column_config, workers_table

settings = resources.settings()
actor = auth.page_actor(Permission.WORKERS_WRITE)
st.title("Workers")
resources.flash()
privacy_notice(settings, "enroll")

workers = resources.workers(settings, actor)
st.subheader(f"Enrolled workers ({len(workers)})")
if workers:
    summary = resources.q_team_summary(settings.timeline_uri, resources.data_version(settings), settings)
    st.dataframe(workers_table(workers, summary), hide_index=True, column_config=worker_column_config())
    ids = [w.worker_id for w in workers]
    rename_col, erase_col = st.columns(2)
    with rename_col.expander("Rename a worker", icon=":material/edit:"):
        target = st.selectbox("Worker", ids, key="rename_id")
        new_name = st.text_input("New display name", key="rename_name")
        if st.button("Rename", key="rename_button", disabled=not new_name.strip()):
            resources.run_action(lambda: enrollment.rename_worker(settings, target, new_name, actor))
    with erase_col.expander("Erase a worker", icon=":material/delete_forever:"):
        st.caption("Removes the gallery entry, photos, face templates and every timeline row. Cannot be undone.")
        victim = st.selectbox("Worker", ids, key="erase_id")
        typed = st.text_input(f"Type {victim} to confirm", key="erase_confirm")
        if st.button("Erase worker", type="primary", key="erase_button", disabled=typed.strip() != victim):
            resources.run_action(lambda: enrollment.erase(settings, victim, typed, actor))
else:
    empty_state(NO_WORKERS)

with st.expander("Enroll a worker", expanded=not workers or "enroll_outcome" in st.session_state,
                 icon=":material/person_add:"):
    c1, c2 = st.columns(2)
    worker_id = c1.text_input("Worker id", key="enroll_id", placeholder="e.g. w-0042")
    name = c2.text_input("Display name (optional)", key="enroll_name")
    photos = photo_inputs(settings.max_upload_mb)
    consent = st.text_area("Consent given (required)", key="enroll_consent", placeholder=enrollment.CONSENT_TEMPLATE)
    given_by = st.text_input("Consent given by (required)", key="enroll_given_by", placeholder="worker's full name")
    problems = enrollment.enroll_problems(worker_id, consent, given_by, len(photos))
    if problems:
        st.caption("To enroll: " + "; ".join(problems) + ".")
    if st.button("Enroll", type="primary", disabled=bool(problems), key="enroll_button"):
        with st.spinner("Checking photos and computing face templates..."):
            outcome = enrollment.enroll_worker(resources.engine(settings), settings, worker_id, name, photos,
                                               consent, given_by, actor)
        st.session_state["enroll_outcome"] = outcome
        if outcome.ok:
            clear_snapshots()
            resources.clear_data_caches()
            st.rerun()  # the list above shows the new worker
    if "enroll_outcome" in st.session_state:
        verdict_grid(st.session_state["enroll_outcome"])
