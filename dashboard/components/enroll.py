"""Enrollment widgets: photo inputs (uploads + camera snapshots) and the quality gate's verdicts as thumbnails."""

from __future__ import annotations

import streamlit as st

from core.images import IMAGE_SUFFIXES

_SNAPSHOTS = "enroll_snapshots"


def photo_inputs(max_upload_mb: int) -> list[tuple[str, bytes]]:
    """Uploaded photos plus camera snapshots taken in this session, as (name, bytes) pairs."""
    uploads = st.file_uploader("Photos (several, one face each: frontal, sharp, well lit)", accept_multiple_files=True,
                               type=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES), key="enroll_photos",
                               max_upload_size=max_upload_mb) or []
    snapshots: dict[str, bytes] = st.session_state.setdefault(_SNAPSHOTS, {})
    if st.toggle("Take snapshots with the camera", key="enroll_use_camera"):
        shot = st.camera_input("Snapshot", key="enroll_camera")
        if shot is not None and shot.file_id not in snapshots:
            snapshots[shot.file_id] = shot.getvalue()  # each new snapshot is kept until enrollment or clearing
        if snapshots:
            st.caption(f"{len(snapshots)} snapshot(s) taken")
            if st.button("Clear snapshots", key="enroll_clear_snapshots"):
                snapshots.clear()
                st.rerun()
    photos = [(f.name, f.getvalue()) for f in uploads]
    photos += [(f"camera-{i + 1}.jpg", data) for i, data in enumerate(snapshots.values())]
    return photos


def clear_snapshots() -> None:
    st.session_state.pop(_SNAPSHOTS, None)


def verdict_grid(outcome, columns: int = 5) -> None:
    """The enrollment result: a message and one thumbnail per photo with accepted/rejected and the reason."""
    if outcome.ok:
        st.success(outcome.message, icon=":material/check_circle:")
    else:
        st.error(outcome.message, icon=":material/error:")
    if not outcome.verdicts:
        return
    cells = st.columns(columns)
    for i, verdict in enumerate(outcome.verdicts):
        with cells[i % columns]:
            thumb = outcome.thumbnails.get(verdict.name)
            if thumb is not None:
                st.image(thumb, width="stretch")
            mark = ":green[**accepted**]" if verdict.accepted else ":red[**rejected**]"
            detail = "" if verdict.accepted else f": {verdict.reason}"
            sharp = f" (sharpness {verdict.sharpness:.0f})" if verdict.sharpness is not None and verdict.accepted else ""
            st.caption(f"{mark}{sharp}{detail}  \n`{verdict.name[:40]}`")
