"""The face engine: Frame -> faces (detector) -> identity (gallery) + emotion -> Observation.

One :class:`FaceEngine` holds the loaded models (built once per process: the dashboard caches it with
``st.cache_resource``, the API keeps one per worker process). It is thread-safe for ``analyze`` calls.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import Settings, get_settings
from core.detectors import create_detector
from core.embedders import create_embedder, resolve_recognition_model
from core.emotions import create_emotion_model, resolve_emotion_backend
from core.gallery import Consent, EnrollmentReport, Gallery
from core.registry import BackendChoice
from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation, utcnow
from core.weights import configure_deepface_home, provision_offline_weights

log = logging.getLogger(__name__)


@dataclass
class BackendReport:
    detector: str
    recognition: BackendChoice
    emotion: BackendChoice | None
    emotion_enabled: bool
    emotion_purpose: str | None
    threshold: float
    threshold_source: str
    metric: str
    margin: float = 0.0
    template: str = "mean"
    embedding: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "detector": self.detector,
            "recognition_model": self.recognition.name,
            "recognition_reason": self.recognition.reason,
            "emotion_backend": self.emotion.name if self.emotion else None,
            "emotion_reason": self.emotion.reason if self.emotion else "emotion analysis disabled",
            "emotion_enabled": self.emotion_enabled,
            "emotion_purpose": self.emotion_purpose,
            "identity_threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "metric": self.metric,
            "identity_margin": self.margin,
            "identity_template": self.template,
            "embedding": self.embedding,
        }


@dataclass(frozen=True)
class FaceDescriptions:
    """What :meth:`FaceEngine.describe` found for one frame's faces (None where it was not asked)."""

    identities: tuple[IdentityMatch | None, ...]
    emotions: tuple[EmotionResult | None, ...]
    identify_ms: float = 0.0
    emotion_ms: float = 0.0
    #: aligned chips of the faces asked for with ``chip`` (identified elsewhere: core/live/identity.py)
    chips: tuple[np.ndarray | None, ...] = ()


def prepare_weights(settings: Settings) -> Path:
    """Point DeepFace at the configured weights folder and copy the offline weights there (idempotent)."""
    weights_dir = settings.deepface_weights_dir
    configure_deepface_home(weights_dir)
    provision_offline_weights(weights_dir)
    return weights_dir


class FaceEngine:
    def __init__(self, settings: Settings | None = None, *, load_emotion: bool | None = None):
        self.settings = settings or get_settings()
        s = self.settings
        self.weights_dir = prepare_weights(s)
        self.detector = create_detector(s.detector, min_confidence=s.detector_min_confidence, min_face_size=s.min_face_size,
                                        max_pixels=s.max_analysis_pixels)
        self.recognition = resolve_recognition_model(s.recognition_model, self.weights_dir)
        self.embedder = create_embedder(self.recognition.name, self.weights_dir)
        self.gallery = Gallery(s.gallery_path)
        want_emotion = s.emotion_active if load_emotion is None else load_emotion
        self.emotion_choice: BackendChoice | None = resolve_emotion_backend(s.emotion_backend) if want_emotion else None
        self.emotion_model = (create_emotion_model(self.emotion_choice.name, self.weights_dir)
                              if self.emotion_choice is not None else None)
        self._reembed_done = False
        self._live_detector = None  # built on first use (the live page only): settings.live_detector, downscaled

    # ------------------------------------------------------------------ info
    @property
    def emotion_enabled(self) -> bool:
        return self.emotion_model is not None

    def threshold(self) -> tuple[float, str]:
        return self.gallery.threshold(self.embedder.key, self.settings.distance_metric, self.settings.identity_threshold,
                                      self.settings.identity_template)

    def margin(self) -> float:
        return self.gallery.margin(self.embedder.key, self.settings.distance_metric, self.settings.identity_margin,
                                   self.settings.identity_template)

    def backend_report(self) -> BackendReport:
        threshold, source = self.threshold()
        return BackendReport(
            detector=self.detector.name,
            recognition=self.recognition,
            emotion=self.emotion_choice,
            emotion_enabled=self.emotion_enabled,
            emotion_purpose=self.settings.emotion_purpose,
            threshold=threshold,
            threshold_source=source,
            metric=self.settings.distance_metric,
            margin=self.margin(),
            template=self.settings.identity_template,
            embedding=self.embedder.key,
        )

    # ------------------------------------------------------------------ pipeline
    def ensure_gallery_embeddings(self, progress=None) -> int:
        """Re-embed kept enrollment photos for the current recognition model and alignment if needed (after an
        upgrade or a model change). Without a ``progress`` callback, progress is logged every 10%."""
        if progress is None:
            def progress(done: int, total: int) -> None:
                if done == total or done % max(1, total // 10) == 0:
                    log.info("re-embedding kept photos with %s: %d/%d", self.embedder.key, done, total)
        added = self.gallery.ensure_embeddings(self.detector, self.embedder, progress)
        self._reembed_done = True
        return added

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        return self.detector.detect(image_bgr)

    def identify(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> list[IdentityMatch]:
        """Who each face of ``image_bgr`` is: chipped the way the recognition model expects, then 1:N search."""
        if not faces:
            return []
        return self.identify_chips(self.embedder.chips(image_bgr, faces))

    def identify_chips(self, chips: list[np.ndarray]) -> list[IdentityMatch]:
        """Who each chip (made by ``self.embedder.chips``) is: embedding, then 1:N search in the gallery."""
        if not chips:
            return []
        if not self._reembed_done:
            self.ensure_gallery_embeddings()
        vectors = self.embedder.embed(chips)
        s = self.settings
        threshold, _, margin = self.gallery.decision_rule(self.embedder.key, s.distance_metric, s.identity_template,
                                                          s.identity_threshold, s.identity_margin)
        return self.gallery.identify(vectors, self.embedder.key, s.distance_metric, threshold, margin=margin,
                                     template=s.identity_template)

    # ------------------------------------------------------------------ live camera (core/live)
    @property
    def live_detector(self):
        """The live page's detector (``settings.live_detector`` on a frame downscaled to ``live_detect_side``)."""
        if self._live_detector is None:
            s = self.settings
            self._live_detector = create_detector(
                s.live_detector, min_confidence=s.detector_min_confidence, min_face_size=s.min_face_size,
                max_pixels=s.max_analysis_pixels, max_side=s.live_detect_side)
        return self._live_detector

    def warm_up_live(self) -> None:
        """Build every model the live page uses now (live detector, embedder, emotion), so the first face seen is
        not held up by lazy model loading (the first embedding alone took about 0.2 s here). Raises if one cannot
        load (a missing detector package names itself here, not on the first frame)."""
        image = np.full((160, 160, 3), 127, np.uint8)
        face = DetectedFace(box=Box(20, 20, 120, 120), confidence=1.0, crop=image[20:140, 20:140])
        self.detect_live(image)
        self.embedder.embed_faces(image, [face])
        if self.emotion_model is not None:
            self.emotion_model.predict([face.crop])

    def detect_live(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        return self.live_detector.detect(image_bgr)

    def describe(self, image_bgr: np.ndarray, faces: list[DetectedFace], identify: list[bool], emotion: list[bool],
                 chip: list[bool] | None = None) -> FaceDescriptions:
        """Identity, emotion and/or the aligned chip for the chosen faces of one frame (the live tracker asks only
        for what is due; it has chips identified in a process of its own, so detection does not wait for them).

        Identities are computed in one batch and emotions in another; the times of both are reported (chip making
        counts as identity time)."""
        t0 = time.perf_counter()
        who = [f for f, want in zip(faces, identify) if want]
        matches = iter(self.identify(image_bgr, who))
        wanted = chip or [False] * len(faces)
        made = iter(self.embedder.chips(image_bgr, [f for f, want in zip(faces, wanted) if want]) if any(wanted)
                    else [])
        chips = tuple(next(made) if want else None for want in wanted)
        t1 = time.perf_counter()
        feel = [f for f, want in zip(faces, emotion) if want] if self.emotion_model is not None else []
        scores = iter(self.emotion_model.predict([f.crop for f in feel]) if (self.emotion_model and feel) else [])
        t2 = time.perf_counter()
        return FaceDescriptions(
            identities=tuple(next(matches) if want else None for want in identify),
            emotions=tuple(next(scores) if (want and self.emotion_model is not None) else None for want in emotion),
            identify_ms=(t1 - t0) * 1000.0, emotion_ms=(t2 - t1) * 1000.0, chips=chips,
        )

    def analyze(self, image_bgr: np.ndarray, source: str = "cli", when=None) -> list[Observation]:
        """All faces in one frame: who (or unknown) and, if enabled, which emotion."""
        when = when or utcnow()
        faces = self.detect(image_bgr)
        identities = self.identify(image_bgr, faces)
        emotions: list[EmotionResult | None] = (
            list(self.emotion_model.predict([f.crop for f in faces])) if (self.emotion_model and faces) else [None] * len(faces)
        )
        return [Observation(when, source, f, i, e) for f, i, e in zip(faces, identities, emotions)]

    def enroll(self, worker_id: str, photos, consent: Consent, name: str | None = None,
               on_commit=None) -> EnrollmentReport:
        if not self._reembed_done:
            self.ensure_gallery_embeddings()
        return self.gallery.enroll(
            worker_id, photos, consent, self.detector, self.embedder, name=name,
            min_face_size=self.settings.enroll_min_face_size, min_sharpness=self.settings.enroll_min_sharpness,
            max_pixels=self.settings.max_image_pixels, max_yaw_degrees=self.settings.enroll_max_yaw_degrees,
            on_commit=on_commit,
        )
