"""The privacy notice shown on every page that analyses faces: what is analysed, for what purpose, how long kept."""

from __future__ import annotations

import streamlit as st

from core.config import Settings

_CONTEXT = {
    "upload": "the photo or video you upload",
    "live": "the camera stream, frame by frame, in this server's memory",
    "enroll": "the enrollment photos of the worker, after their consent is recorded",
    "history": "stored observations (no images are stored)",
}


def notice_text(settings: Settings, context: str = "upload") -> str:
    what = _CONTEXT.get(context, context)
    lines = [
        f"**What is analysed:** faces in {what}. Each face is compared with the enrolled workers' face templates "
        "to recognise who it is; faces of people who are not enrolled are labelled *unknown* and never identified.",
    ]
    if settings.emotion_active:
        purpose = settings.emotion_purpose_text.strip() or "(no purpose text recorded)"
        lines.append(
            f"**Emotion analysis is on** for a declared **{settings.emotion_purpose}** purpose: _{purpose}_. "
            "Each face also gets the probabilities of 7 expressions (a model's estimate from the face's appearance, "
            "not a measure of how a person feels)."
        )
    else:
        lines.append("**Emotion analysis is off:** no emotion is inferred, stored or shown.")
    lines.append(
        f"**What is kept:** only observations (time, worker id, scores; no images) in the timeline, deleted after "
        f"{settings.retention_days} days. Enrollment photos are kept in the gallery until the worker is erased "
        "(*Workers* page). Every enrollment, erasure and settings change is written to the audit log."
    )
    return "\n\n".join(lines)


def privacy_notice(settings: Settings, context: str = "upload", expanded: bool = False) -> None:
    """A collapsible notice; pages that analyse faces call it near the top."""
    title = "Privacy notice: emotion analysis ON (" + str(settings.emotion_purpose) + ")" if settings.emotion_active \
        else "Privacy notice: identity only, emotion analysis off"
    with st.expander(title, expanded=expanded, icon=":material/shield_person:"):
        st.markdown(notice_text(settings, context))
