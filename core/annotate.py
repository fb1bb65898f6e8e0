"""Drawing results onto frames: one box per face with the worker's name (or "unknown") and the emotion."""

from __future__ import annotations

import numpy as np

from core.types import Observation

KNOWN = (80, 200, 60)  # BGR green
UNKNOWN = (40, 40, 230)  # BGR red


def label_for(observation: Observation, names: dict[str, str] | None = None) -> str:
    worker = observation.identity.worker_id
    who = (names or {}).get(worker, worker) if worker else observation.identity.unknown_label
    if observation.emotion is not None:
        return f"{who} | {observation.emotion.label} {observation.emotion.confidence:.0%}"
    return who


def annotate(image_bgr: np.ndarray, observations: list[Observation], names: dict[str, str] | None = None) -> np.ndarray:
    """Return a copy of ``image_bgr`` with boxes and labels (never modifies the input frame)."""
    import cv2

    out = image_bgr.copy()
    scale = max(0.4, min(1.2, out.shape[1] / 900))
    thickness = max(1, int(round(2 * scale)))
    for obs in observations:
        b = obs.face.box
        colour = KNOWN if obs.identity.is_known else UNKNOWN
        cv2.rectangle(out, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, thickness)
        text = label_for(obs, names)
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        top = max(0, b.y - th - baseline - 4)
        cv2.rectangle(out, (b.x, top), (b.x + tw + 4, top + th + baseline + 4), colour, -1)
        cv2.putText(out, text, (b.x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
