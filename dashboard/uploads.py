"""Analyse an uploaded photo or video: checks, analysis, results kept in the session, saving to the timeline.

The page (pages/analyze.py) only lays things out; everything it shows is computed here.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.config import Settings
from core.errors import FaceDashError
from core.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from core.services import analysis
from core.services.actor import Actor
from core.services.limits import check_upload_size, upload_kind
from core.services.observations import StoredRows
from core.types import Observation
from dashboard.components import charts
from dashboard.components.tables import faces_table, video_rows_frame

log = logging.getLogger(__name__)

UPLOAD_TYPES = sorted(s.lstrip(".") for s in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
_RESULTS_KEY = "upload_results"
_SAVED_KEY = "upload_saved"


@dataclass
class UploadResult:
    """What the page shows for one analysed upload."""

    name: str
    digest: str
    kind: str  # "photo" | "video"
    observations: list[Observation]
    table: pd.DataFrame
    emotion_enabled: bool
    annotated_rgb: np.ndarray | None = None  # photo: annotated image (RGB uint8)
    video_bytes: bytes | None = None  # video: annotated video for the browser / download
    video_format: str = "video/mp4"
    video_name: str = ""
    playable: bool = True  # False when no browser-playable encoding was available
    frames: int = 0
    analysed_frames: int = 0
    fps: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def known(self) -> int:
        return sum(o.identity.is_known for o in self.observations)


def check_upload(name: str, data: bytes, settings: Settings) -> str:
    """Return "photo" or "video", or raise ImageError naming the file and the problem (the services' one check)."""
    check_upload_size(name, len(data), settings)
    return upload_kind(name)


def analyze_photo(engine, actor: Actor, name: str, data: bytes) -> UploadResult:
    import cv2

    from core.annotate import annotate

    found = analysis.analyze_image(engine, actor, name, analysis.decode_upload(engine.settings, name, data), "upload")
    observations = found.observations
    names = engine.gallery.display_names()
    annotated = cv2.cvtColor(annotate(found.image, observations, names), cv2.COLOR_BGR2RGB)
    notes = [] if observations else [f"{name}: no face found (faces smaller than {engine.settings.min_face_size} px "
                                     "or turned away are not detected)"]
    return UploadResult(name, hashlib.sha256(data).hexdigest(), "photo", observations,
                        faces_table(observations, names, engine.emotion_enabled), engine.emotion_enabled,
                        annotated_rgb=annotated, notes=notes)


def analyze_video_upload(engine, actor: Actor, name: str, data: bytes, every_n: int = 5,
                         progress=None) -> UploadResult:
    """Write the upload to a temporary file, analyse every n-th frame, produce a browser-playable annotated copy."""
    from core.video import web_playable

    check_upload_size(name, len(data), engine.settings)
    workdir = Path(tempfile.mkdtemp(prefix="facedash-upload-"))
    try:
        source = workdir / f"input{Path(name).suffix.lower()}"
        source.write_bytes(data)
        out = workdir / "annotated.mp4"
        result = analysis.analyze_video_file(engine, actor, name, source, "upload", every_n=every_n, out=out,
                                             progress=progress).video
        notes = []
        playable_path, mime, playable = (out, "video/mp4", False)
        if result.output is not None and Path(result.output).exists():
            playable_path, mime, playable = web_playable(Path(result.output))
        if not playable:
            notes.append("no browser-playable encoder (ffmpeg) is available here: download the annotated video to "
                         "watch it")
        if not result.rows:
            notes.append(f"{name}: no face found in {result.analysed_frames} analysed frames")
        names = engine.gallery.display_names()
        stem = Path(name).stem
        return UploadResult(
            name, hashlib.sha256(data).hexdigest(), "video", result.observations,
            video_rows_frame(result.rows, names, engine.emotion_enabled), engine.emotion_enabled,
            video_bytes=playable_path.read_bytes() if playable_path.exists() else None, video_format=mime,
            video_name=f"{stem}-annotated{playable_path.suffix}", playable=playable, frames=result.frames,
            analysed_frames=result.analysed_frames, fps=result.fps, notes=notes,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ session wiring
def analyze_upload(engine, actor: Actor, uploaded, every_n: int = 5) -> UploadResult | None:
    """Analyse ``uploaded`` (a Streamlit UploadedFile) once per session; errors are shown with st.error."""
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest}:{every_n}:{int(engine.emotion_enabled)}"
    results = st.session_state.setdefault(_RESULTS_KEY, {})
    if key in results:
        return results[key]
    try:
        kind = check_upload(uploaded.name, data, engine.settings)
        if kind == "photo":
            with st.spinner(f"Analysing {uploaded.name}..."):
                result = analyze_photo(engine, actor, uploaded.name, data)
        else:
            bar = st.progress(0.0, text=f"Analysing {uploaded.name}...")

            def progress(done: int, total: int) -> None:
                if total:
                    bar.progress(min(done / total, 1.0), text=f"Analysing {uploaded.name}: frame {done} of {total}")

            result = analyze_video_upload(engine, actor, uploaded.name, data, every_n, progress)
            bar.empty()
    except FaceDashError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    results.clear()  # keep one result per session (videos can be large)
    results[key] = result
    return result


def save_result(settings: Settings, store, result: UploadResult, actor: Actor) -> StoredRows | None:
    """Store the result once per session, by the one storage policy (enrolled workers only; audited).

    Returns what was stored, or None when this upload was already saved in this session.
    """
    saved = st.session_state.setdefault(_SAVED_KEY, set())
    if result.digest in saved:
        return None
    stored = analysis.store_analysis(settings, store, actor, result.name, result.observations, "upload")
    saved.add(result.digest)
    return stored


def save_upload(settings: Settings, store, result: UploadResult, actor: Actor) -> StoredRows | None:
    """The page's save step: shows errors with st.error, says when rows were saved."""
    try:
        stored = save_result(settings, store, result, actor)
    except FaceDashError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    st.caption("These results are saved to the timeline (source 'upload'; recognised workers only).")
    return stored


def render_result(result: UploadResult) -> None:
    """Annotated image or video, the faces table and (video) the timeline chart."""
    for note in result.notes:
        st.warning(note, icon=":material/warning:")
    if result.kind == "photo":
        image = result.annotated_rgb
        if image is None:
            raise ValueError(f"{result.name}: photo result without its annotated image")
        left, right = st.columns([3, 2])
        height, width = image.shape[:2]
        # a big photo fills the column; a small one is shown at 480 px (readable labels, little blur)
        left.image(image, caption=f"{result.name}: {len(result.observations)} face(s), "
                                                 f"{result.known} recognised", width="stretch" if width > 480 else 480)
        right.metric("Faces found", len(result.observations))
        right.metric("Recognised workers", result.known)
        right.metric("Unknown faces", len(result.observations) - result.known)
        if len(result.table):
            st.dataframe(result.table, hide_index=True)
        return
    cols = st.columns(3)
    cols[0].metric("Frames", result.frames)
    cols[1].metric("Analysed frames", result.analysed_frames)
    cols[2].metric("Face observations", len(result.table))
    if result.video_bytes is not None:
        if result.playable:
            st.video(result.video_bytes, format=result.video_format)
        st.download_button("Download annotated video", result.video_bytes, file_name=result.video_name,
                           mime=result.video_format, on_click="ignore", icon=":material/download:")
    if len(result.table):
        if result.emotion_enabled and "happy" in result.table.columns and result.table["happy"].notna().any():
            charts.show(charts.video_emotion_timeline(result.table.dropna(subset=["happy"])), key="video_emotion")
        else:
            charts.show(charts.video_presence(result.table), key="video_presence")
        with st.expander("Per-frame rows"):
            st.dataframe(result.table, hide_index=True)
            st.download_button("Download rows (CSV)", result.table.to_csv(index=False).encode(),
                               file_name=f"{Path(result.name).stem}-faces.csv", mime="text/csv", on_click="ignore")
