"""Values that flow through the engine: Frame -> DetectedFace -> IdentityMatch + EmotionResult -> Observation.

All are frozen dataclasses so that a value handed from one thread (e.g. the WebRTC callback) to another
can never be mutated under the reader's feet. Numpy arrays inside them are made read-only for the same reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: The 7 FER-2013 classes, in the dataset's label order (0=angry ... 6=neutral). Every score vector uses it.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

Valence = Literal["positive", "negative", "neutral"]

#: Valence of each emotion class. Surprise is ambiguous in the literature; we count it as positive
#: (as most FER valence mappings do) and document this in docs/emotions.md.
EMOTION_VALENCE: dict[str, Valence] = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sad": "negative",
    "happy": "positive",
    "surprise": "positive",
    "neutral": "neutral",
}

Source = Literal["live", "upload", "api", "cli", "video"]


def _readonly(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    array = np.asarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned face box in pixel coordinates of the analysed image."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True, slots=True, eq=False)
class DetectedFace:
    """One face found by a detector.

    ``crop`` is the aligned face (BGR uint8, read-only). ``landmarks`` maps names such as ``left_eye`` to
    (x, y) pixel positions when the detector gives them.
    """

    box: Box
    confidence: float
    crop: np.ndarray
    landmarks: dict[str, tuple[int, int]] = field(default_factory=dict)
    detector: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", _readonly(self.crop))


@dataclass(frozen=True, slots=True)
class IdentityMatch:
    """Result of a 1:N search. ``worker_id`` is None when the nearest distance is above ``threshold``, or when the
    second-nearest worker is too close to call (``ambiguous``: shown as "unknown (ambiguous)")."""

    worker_id: str | None
    distance: float
    threshold: float
    model: str
    metric: str
    nearest_worker_id: str | None = None
    ambiguous: bool = False
    second_worker_id: str | None = None
    second_distance: float = float("inf")

    @property
    def is_known(self) -> bool:
        return self.worker_id is not None

    @property
    def unknown_label(self) -> str:
        """What an unnamed face is shown as: "unknown", or "unknown (ambiguous)" when two workers were too close."""
        return "unknown (ambiguous)" if self.ambiguous else "unknown"


@dataclass(frozen=True, slots=True)
class EmotionResult:
    """Probabilities of the 7 FER-2013 classes in :data:`EMOTIONS` order, summing to 1."""

    scores: tuple[float, ...]
    model: str

    def __post_init__(self) -> None:
        if len(self.scores) != len(EMOTIONS):
            raise ValueError(f"EmotionResult needs {len(EMOTIONS)} scores, got {len(self.scores)}")
        object.__setattr__(self, "scores", tuple(float(s) for s in self.scores))

    @classmethod
    def from_probabilities(cls, probabilities, model: str) -> EmotionResult:
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        total = float(p.sum())
        if total <= 0 or not np.isfinite(total):
            raise ValueError(f"{model}: emotion probabilities are not a distribution: {p!r}")
        return cls(scores=tuple(p / total), model=model)

    @property
    def label(self) -> str:
        return EMOTIONS[int(np.argmax(self.scores))]

    @property
    def confidence(self) -> float:
        return max(self.scores)

    @property
    def valence(self) -> Valence:
        return EMOTION_VALENCE[self.label]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(EMOTIONS, self.scores))


@dataclass(frozen=True, slots=True)
class Observation:
    """One face at one moment: what the timeline store keeps (minus the crop) and what charts read.

    ``emotion`` is None when emotion analysis is disabled (the default; see docs/privacy.md).
    """

    time: dt.datetime
    source: str
    face: DetectedFace
    identity: IdentityMatch
    emotion: EmotionResult | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Observation.time must be timezone-aware (UTC)")
        object.__setattr__(self, "time", self.time.astimezone(dt.UTC))

    def to_record(self) -> dict:
        """A JSON-friendly summary (no pixels): what the CLI and the HTTP API print."""
        record: dict = {
            "time": self.time.isoformat(),
            "source": self.source,
            "box": self.face.box.as_list(),
            "detector_confidence": round(float(self.face.confidence), 4),
            "worker": self.identity.worker_id,
            "distance": None if not np.isfinite(self.identity.distance) else round(float(self.identity.distance), 4),
            "threshold": round(float(self.identity.threshold), 4),
            "ambiguous": bool(self.identity.ambiguous),
            "recognition_model": self.identity.model.split("@")[0],
            "embedding": self.identity.model,  # model@alignment, e.g. Dlib@dlib5-150-p0.25
            "metric": self.identity.metric,
            "emotion": None,
            "valence": None,
        }
        if self.emotion is not None:
            record["emotion"] = {
                "label": self.emotion.label,
                "scores": {k: round(v, 4) for k, v in self.emotion.as_dict().items()},
                "model": self.emotion.model,
            }
            record["valence"] = self.emotion.valence
        return record


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
