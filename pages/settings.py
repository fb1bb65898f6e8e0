"""Settings and privacy: backends in use and why, thresholds, retention, emotion purpose, demo data."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import admin, auth, resources
from dashboard.components.tables import backends_table
from dashboard.history import demo_buttons
from dashboard.settings import env_overridden, live_detector_note

settings = resources.settings()
actor = auth.page_actor(Permission.SETTINGS)
st.title("Settings and privacy")
resources.flash()

st.subheader("Backends in use")
report = resources.engine(settings).backend_report().as_dict()
st.dataframe(backends_table(report), hide_index=True)
st.caption(live_detector_note(settings))

with st.form("privacy_form", border=True):
    st.subheader("Privacy")
    retention = st.number_input("Keep observations for (days)", 1, 3650, settings.retention_days, key="set_retention")
    enabled = st.toggle("Enable emotion analysis", settings.emotion_enabled, key="set_emotion")
    purposes = [None, *admin.PURPOSES]
    purpose = st.radio("Declared purpose", purposes, horizontal=True, key="set_purpose",
                       index=purposes.index(settings.emotion_purpose), format_func=lambda p: p or "none")
    text = st.text_area("Purpose description", settings.emotion_purpose_text, key="set_purpose_text",
                        placeholder="e.g. detect signs of fatigue of crane operators so a supervisor can offer a break")
    st.markdown(admin.AI_ACT_NOTE)
    if st.form_submit_button("Save privacy settings", type="primary"):
        resources.run_action(lambda: admin.save_privacy(settings, actor, retention, enabled, purpose, text),
                             reload=True)
for field in ("retention_days", "emotion_enabled", "emotion_purpose", "emotion_purpose_text", "identity_threshold"):
    if env_overridden(field):
        st.warning(f"{env_overridden(field)} is set in the environment (or secrets): it wins over saved values.")

with st.form("recognition_form", border=True):
    st.subheader("Recognition threshold")
    st.caption(f"In use: {report['identity_threshold']:.4f} ({report['metric']} distance), from "
               f"{report['threshold_source']}. Lower is stricter: fewer strangers accepted, more workers missed. "
               f"Faces are aligned for the model ({report['embedding']}) and compared with each worker's "
               f"{report['identity_template']} enrollment vector; two workers within {report['identity_margin']:.4f} "
               "of each other leave the face 'unknown (ambiguous)'.")
    st.caption(f"Video and live camera: a face is named once {settings.identity_vote_min} of its last "
               f"{settings.identity_vote_window} identifications agree (FACEDASH_IDENTITY_VOTE_MIN / _WINDOW); "
               f"its emotion is the mean of its last {settings.emotion_smoothing_frames} estimates "
               f"(FACEDASH_EMOTION_SMOOTHING_FRAMES). Live camera: a named face is identified again every "
               f"{settings.live_identity_recheck_s:g} s, its emotion estimated every {settings.live_emotion_interval_s:g} s.")
    override = st.checkbox("Override the threshold", settings.identity_threshold is not None, key="set_override")
    value = st.number_input("Threshold", 0.0001, 10.0, float(report["identity_threshold"]), 0.005, format="%.4f",
                            key="set_threshold")
    if st.form_submit_button("Save threshold"):
        resources.run_action(lambda: admin.save_recognition(settings, actor, value if override else None), reload=True)

st.subheader("Data")
c1, c2 = st.columns([1, 3])
if c1.button("Run retention now", key="run_retention"):
    resources.run_action(lambda: admin.run_retention_now(settings, actor))
c2.caption(f"Deletes observations older than {settings.retention_days} days (also done once at start-up).")
demo_buttons(settings, "settings_demo", actor)
