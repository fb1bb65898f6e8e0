"""Analyze upload: a photo -> annotated image + faces table; a video -> annotated video + timeline chart."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import auth, resources, uploads
from dashboard.components.empty import NO_UPLOAD, empty_state
from dashboard.components.privacy import privacy_notice

settings = resources.settings()
actor = auth.page_actor(Permission.ANALYZE)
st.title("Analyze an upload")
privacy_notice(settings, "upload")

left, right = st.columns([3, 2])
with right:
    save = actor.can(Permission.STORE) and st.checkbox(
        "Save results to the timeline", key="upload_save",
        help="Stores one observation per recognised worker (source 'upload'; no image) so it appears on History, "
             f"with your account ({actor.name}) in the audit log. Unknown faces are never stored.")
    every_n = st.slider("Video: analyse every n-th frame", 1, 30, 5, key="upload_every_n",
                        help="Other frames are annotated with the latest result. Lower is slower but finer.")
    st.caption(f"Limits: {settings.max_upload_mb} MB per file, videos up to {settings.max_video_seconds:.0f} s, "
               f"images up to {settings.max_image_pixels / 1e6:.0f} megapixels.")
with left:
    uploaded = st.file_uploader("Photo or video", type=uploads.UPLOAD_TYPES, key="upload_file",
                                max_upload_size=settings.max_upload_mb)

if uploaded is None:
    empty_state(NO_UPLOAD.format(emotion=" and their emotion" if settings.emotion_active else ""))
    st.stop()

engine = resources.engine(settings)
result = uploads.analyze_upload(engine, actor, uploaded, every_n)
if result is None:
    st.stop()

if save:
    stored = uploads.save_upload(settings, resources.store(settings), result, actor)
    if stored is not None:
        resources.clear_data_caches()
        st.toast(f"Saved {stored.stored} observation(s) to the timeline; {stored.unknown} unknown face(s) not stored",
                 icon=":material/save:")

uploads.render_result(result)
