"""Live camera: the browser's camera analysed on the server; boxes with name (and emotion) come back in the video."""

import streamlit as st

from core.auth.roles import Permission
from core.errors import FaceDashError
from core.services.observations import recording_sink
from dashboard import auth, resources, webrtc
from dashboard.components.privacy import privacy_notice

settings = resources.settings()
actor = auth.page_actor(Permission.LIVE)
st.title("Live camera")
st.info(webrtc.live_notice(settings), icon=":material/videocam:")
privacy_notice(settings, "live")

try:
    processor = webrtc.session_processor(settings, recording_sink(actor, resources.store(settings)))
except FaceDashError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

left, right = st.columns([3, 2])
with left:
    camera = webrtc.camera(processor, settings)
    st.caption("Press START and allow the camera. Boxes: green = enrolled worker, red = unknown.")
with right:
    if actor.can(Permission.STORE):
        webrtc.recording_toggle(processor, settings)
    webrtc.stats_panel(processor, live=camera.state.playing or processor.running)
