"""Analysis use-cases: identify, analyse (identity + emotion) and store, for photos, videos and aligned crops.

Policies decided here: inputs pass the one upload limit (core/services/limits.py) and the pixel limit; emotion is
inferred only when it is enabled for a declared purpose (also for aligned crops); what is stored follows the one
storage policy (core/services/observations.py: enrolled workers only), and every store writes one audit line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audit import audit
from core.auth.roles import Permission
from core.errors import EmotionDisabledError, ImageError
from core.services.access import require
from core.services.actor import Actor
from core.services.limits import check_upload_size
from core.services.observations import StoredRows, store_observations
from core.types import EmotionResult, Observation, utcnow
from core.video import VideoResult

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageAnalysis:
    name: str
    image: np.ndarray  # BGR, for annotation; never stored
    observations: list[Observation]
    emotion_enabled: bool

    def records(self) -> list[dict]:
        return [o.to_record() for o in self.observations]


@dataclass(frozen=True)
class VideoAnalysis:
    name: str
    video: VideoResult  # frames, analysed frames, fps, per-face rows, observations, annotated output
    emotion_enabled: bool


def decode_upload(settings, name: str, data: bytes) -> np.ndarray:
    """An uploaded photo as BGR pixels, after the size and pixel limits."""
    from core.images import decode_image

    check_upload_size(name, len(data), settings)
    return decode_image(data, name, settings.max_image_pixels)


def identify_image(engine, actor: Actor, name: str, image: np.ndarray, source: str) -> ImageAnalysis:
    """Who is in the image (no emotion is inferred): each face's identity, or unknown."""
    require(engine.settings, actor, Permission.IDENTIFY, "identify faces")
    faces = engine.detect(image)
    matches = engine.identify(image, faces)
    when = utcnow()
    observations = [Observation(when, source, f, m, None) for f, m in zip(faces, matches)]
    return ImageAnalysis(name, image, observations, False)


def analyze_image(engine, actor: Actor, name: str, image: np.ndarray, source: str) -> ImageAnalysis:
    """Identity and (when enabled for a purpose) emotion of every face in one image."""
    require(engine.settings, actor, Permission.ANALYZE, "analyse photos")
    observations = engine.analyze(image, source=source, when=utcnow())
    return ImageAnalysis(name, image, observations, engine.emotion_enabled)


def analyze_video_file(engine, actor: Actor, name: str, path: Path, source: str, every_n: int = 5,
                       out: Path | None = None, progress: Progress | None = None) -> VideoAnalysis:
    """Every ``every_n``-th frame of a video file; identities voted over each face's recent frames."""
    from core.video import analyze_video

    require(engine.settings, actor, Permission.ANALYZE, "analyse videos")

    if isinstance(every_n, bool) or not isinstance(every_n, int) or not 1 <= every_n <= 300:
        raise ImageError(f"every n-th frame: n must be a whole number from 1 to 300 (got {every_n!r})")
    try:
        result = analyze_video(engine, path, out, every_n=every_n, source=source, start_time=utcnow(),
                               max_seconds=engine.settings.max_video_seconds, progress=progress,
                               max_analysis_seconds=engine.settings.max_request_seconds,
                               max_frame_pixels=engine.settings.max_video_frame_pixels)
    except ImageError as exc:  # core names the (temporary) path; the user knows the file by its name
        raise ImageError(str(exc).replace(str(path), name)) from None
    return VideoAnalysis(name, result, engine.emotion_enabled)


def store_analysis(settings, store, actor: Actor, name: str, observations: list[Observation],
                   source: str) -> StoredRows:
    """Store the observations the policy allows (enrolled workers only) and audit what was stored."""
    require(settings, actor, Permission.STORE, "store observations in the timeline")
    stored = store_observations(store, observations)
    workers = sorted({o.identity.worker_id for o in observations if o.identity.worker_id is not None})  # is_known
    audit(settings, "observations_stored", actor, None, source=source, input=Path(name).name[:200],
          rows=stored.stored, not_stored_unknown=stored.unknown, workers=workers[:50])
    log.info("stored %d observation(s) from %s (%d unknown face(s) not stored)", stored.stored, name, stored.unknown)
    return stored


def emotions_of_crops(settings, actor: Actor, model, crops: list[np.ndarray]) -> list[EmotionResult]:
    """Emotions of already-aligned face crops (model evaluation); refused unless enabled for a purpose."""
    require(settings, actor, Permission.ANALYZE, "infer emotions of face crops")
    if not settings.emotion_active:
        raise EmotionDisabledError(
            "emotion analysis is disabled: enable it only for a medical or safety purpose "
            "(--emotion-purpose medical|safety, or FACEDASH_EMOTION_ENABLED=true and FACEDASH_EMOTION_PURPOSE)")
    return list(model.predict(list(crops)))
