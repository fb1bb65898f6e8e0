"""Tables shown on several pages: faces found in an image, enrolled workers, backends in use."""

from __future__ import annotations

import math

import pandas as pd

from core.types import EMOTIONS, Observation


def faces_table(observations: list[Observation], names: dict[str, str], emotion_enabled: bool) -> pd.DataFrame:
    """One row per face: who, how sure (distance vs threshold), and (only when enabled) emotion and valence."""
    rows = []
    for number, obs in enumerate(observations, start=1):
        ident = obs.identity
        distance = ident.distance if math.isfinite(ident.distance) else None
        row = {
            "face": number,
            "name": names.get(ident.worker_id, ident.worker_id) if ident.worker_id else ident.unknown_label,
            "worker id": ident.worker_id or "",
            "distance": None if distance is None else round(distance, 4),
            "threshold": round(ident.threshold, 4),
            "nearest": "" if ident.worker_id or not ident.nearest_worker_id else
            names.get(ident.nearest_worker_id, ident.nearest_worker_id),
            "detector confidence": round(float(obs.face.confidence), 3),
            "box (x, y, w, h)": ", ".join(str(v) for v in obs.face.box.as_list()),
        }
        if emotion_enabled and obs.emotion is not None:
            row.update({"emotion": obs.emotion.label, "confidence": round(obs.emotion.confidence, 3),
                        "valence": obs.emotion.valence})
        rows.append(row)
    return pd.DataFrame(rows)


def video_rows_frame(rows: list[dict], names: dict[str, str], emotion_enabled: bool) -> pd.DataFrame:
    """``core.video.VideoResult.rows`` flattened: second, person, distance (+ label, valence, 7 scores if enabled)."""
    out = []
    for r in rows:
        worker = r.get("worker")
        item = {"second": r["second"], "frame": r["frame"], "face": r["face"],
                "person": names.get(worker, worker) if worker else "unknown", "worker id": worker or "",
                "distance": r.get("distance")}
        emotion = r.get("emotion")
        if emotion_enabled and emotion:
            item.update({"emotion": emotion["label"], "valence": r.get("valence"), **emotion["scores"]})
        out.append(item)
    columns = ["second", "frame", "face", "person", "worker id", "distance"]
    if emotion_enabled:
        columns += ["emotion", "valence", *EMOTIONS]
    return pd.DataFrame(out, columns=columns)


def workers_table(workers, summary: pd.DataFrame | None) -> pd.DataFrame:
    """Enrolled workers with photo count, enrollment date, consent giver and last time seen (timeline store)."""
    last_seen = {}
    observations = {}
    if summary is not None and len(summary):
        last_seen = dict(zip(summary["worker_id"], summary["last_time"]))
        observations = dict(zip(summary["worker_id"], summary["n"]))
    rows = []
    for w in workers:
        rows.append({
            "worker id": w.worker_id,
            "name": w.name,
            "photos": w.photo_count,
            "enrolled": pd.to_datetime(w.enrolled_at, utc=True, errors="coerce"),
            "consent given by": (w.consent or {}).get("given_by", ""),
            "last seen": last_seen.get(w.worker_id, pd.NaT),
            "observations": int(observations.get(w.worker_id, 0)),
        })
    frame = pd.DataFrame(rows, columns=["worker id", "name", "photos", "enrolled", "consent given by", "last seen",
                                        "observations"])
    frame["last seen"] = pd.to_datetime(frame["last seen"], utc=True)
    return frame


def worker_column_config() -> dict:
    """Streamlit column formats for :func:`workers_table` (dates to the minute, UTC)."""
    import streamlit as st

    return {
        "enrolled": st.column_config.DatetimeColumn("enrolled (UTC)", format="YYYY-MM-DD HH:mm"),
        "last seen": st.column_config.DatetimeColumn("last seen (UTC)", format="YYYY-MM-DD HH:mm",
                                                     help="Latest stored observation (empty: never seen)"),
        "photos": st.column_config.NumberColumn("photos", help="Enrollment photos kept in the gallery"),
    }


def backends_table(report: dict) -> pd.DataFrame:
    """``FaceEngine.backend_report().as_dict()`` as what / in use / why rows."""
    threshold = report.get("identity_threshold")
    return pd.DataFrame([
        {"component": "Face detector", "in use": report.get("detector"), "why": "setting FACEDASH_DETECTOR"},
        {"component": "Recognition model", "in use": report.get("recognition_model"),
         "why": report.get("recognition_reason")},
        {"component": "Identity threshold", "in use": f"{threshold:.4f} ({report.get('metric')})" if threshold else "",
         "why": report.get("threshold_source")},
        {"component": "Emotion model", "in use": report.get("emotion_backend") or "off",
         "why": report.get("emotion_reason")},
    ])
