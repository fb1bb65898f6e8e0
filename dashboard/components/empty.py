"""Empty states: say what is missing and what to do about it (never a blank page)."""

from __future__ import annotations

import streamlit as st

NO_OBSERVATIONS = (
    "**No observations yet.** Enroll workers on the *Workers* page, then open *Live camera* or analyse a photo or "
    "video on *Analyze upload* with *Save results to the timeline* ticked. To explore the charts without a camera, "
    "load the synthetic demo history (button below or on *Settings*)."
)
NO_OBSERVATIONS_VIEWER = (
    "**No observations yet.** Charts appear here once managers record workers on the live camera or save analysed "
    "uploads; your role shows the team's charts."
)
NO_WORKERS = (
    "**No workers enrolled yet.** Add one with *Enroll a worker* below: a few clear, frontal photos (one face each) and the "
    "worker's recorded consent. Faces of people who are not enrolled are shown as *unknown* and never named."
)
NO_UPLOAD = (
    "Upload a **photo** (JPEG, PNG, BMP, WebP, TIFF) or a **video** (MP4, AVI, MOV, MKV, WebM) to see who is in it"
    "{emotion}. Nothing is stored unless you tick *Save results to the timeline*."
)
NO_EMOTION = (
    "**Emotion analysis is off**, so no emotion is inferred, stored or shown; only presence (who was seen when) is "
    "charted. It can be enabled on *Settings* for a declared medical or safety purpose only (EU AI Act Art. 5(1)(f))."
)


def empty_state(message: str, icon: str = ":material/info:") -> None:
    st.info(message, icon=icon)
