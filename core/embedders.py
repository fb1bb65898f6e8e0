"""Face-embedding (recognition) models behind one interface, registered by name.

``VGG-Face`` and ``Dlib`` are both used through the real ``DeepFace.represent`` path on the aligned crop
(``detector_backend="skip"``). VGG-Face's weights only come from DeepFace's download; Dlib's are provisioned
offline from the ``face-recognition-models`` package (core/weights.py). ``auto`` picks VGG-Face when its weights
are present, else Dlib, and says why (shown on the dashboard's settings page).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.registry import Registry
from core.weights import has_weights, provision_offline_weights, require_weights

log = logging.getLogger(__name__)

#: DeepFace's pre-tuned thresholds (deepface/modules/verification.py), used until a gallery is calibrated.
LIBRARY_THRESHOLDS = {
    "VGG-Face": {"cosine": 0.68, "euclidean": 1.17, "euclidean_l2": 1.17},
    "Dlib": {"cosine": 0.07, "euclidean": 0.6, "euclidean_l2": 0.4},
}


#: Thresholds this project calibrated from data (``python -m core calibrate``, 1:N leave-one-out, FAR <= 1%) on the
#: 104 usable photos of ../shared/data/faces/5-celebrity-faces with the opencv detector: used before DeepFace's table,
#: which is tuned for 1:1 verification and lets strangers through in 1:N search (0.07 accepted 26-44% of them).
#: A site should still run `calibrate` on its own labelled photos; that result (gallery/calibration.json) wins.
CALIBRATED_DEFAULTS = {
    "Dlib": {"cosine": 0.055},
}


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


EMBEDDERS: Registry[Embedder] = Registry("recognition model")

_represent_lock = threading.Lock()


class DeepFaceEmbedder:
    """Embeds aligned BGR face crops with ``DeepFace.represent(..., detector_backend="skip")``."""

    def __init__(self, model_name: str, dim: int, weights_file: str, weights_dir: Path, offline_alternative: str = ""):
        self.name = model_name
        self.dim = dim
        self.weights_file = weights_file
        self.weights_dir = weights_dir
        self.offline_alternative = offline_alternative

    def load(self) -> "DeepFaceEmbedder":
        """Fail early, with an actionable message, if the weights are not on disk; then build the model."""
        require_weights(self.weights_dir, self.weights_file, f"Recognition model {self.name}", self.offline_alternative)
        from deepface.modules import modeling

        with _represent_lock:
            modeling.build_model(task="facial_recognition", model_name=self.name)
        return self

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        from deepface import DeepFace

        if not crops:
            return np.zeros((0, self.dim), np.float32)
        vectors = []
        with _represent_lock:
            for crop in crops:
                result = DeepFace.represent(
                    img_path=np.ascontiguousarray(crop),
                    model_name=self.name,
                    detector_backend="skip",
                    enforce_detection=False,
                    align=False,
                )
                vectors.append(result[0]["embedding"])
        return np.asarray(vectors, dtype=np.float32)


@EMBEDDERS.register("vgg-face", "DeepFace VGG-Face, 4096-d (weights downloaded by DeepFace; needs internet once)")
def _vgg_face(weights_dir: Path) -> Embedder:
    return DeepFaceEmbedder("VGG-Face", 4096, "vgg_face_weights.h5", weights_dir, "RECOGNITION_MODEL=Dlib").load()


@EMBEDDERS.register("dlib", "DeepFace Dlib ResNet, 128-d (weights provisioned offline from face-recognition-models)")
def _dlib(weights_dir: Path) -> Embedder:
    provision_offline_weights(weights_dir)
    return DeepFaceEmbedder("Dlib", 128, "dlib_face_recognition_resnet_model_v1.dat", weights_dir).load()


@dataclass(frozen=True)
class BackendChoice:
    """Which backend a setting resolved to, and why (shown to the user)."""

    requested: str
    name: str
    reason: str


def resolve_recognition_model(requested: str, weights_dir: Path) -> BackendChoice:
    key = requested.strip().lower()
    if key == "auto":
        if has_weights(weights_dir, "vgg_face_weights.h5"):
            choice = BackendChoice(requested, "VGG-Face", "auto: VGG-Face weights found")
        else:
            choice = BackendChoice(
                requested, "Dlib", f"auto: VGG-Face weights (vgg_face_weights.h5) not found in {weights_dir}, using Dlib"
            )
        log.info("recognition model %s", choice.reason)
        return choice
    canonical = {"vgg-face": "VGG-Face", "dlib": "Dlib"}
    if key not in canonical:
        from core.errors import ConfigError

        raise ConfigError(f"unknown recognition model {requested!r}; choose one of: auto, VGG-Face, Dlib")
    return BackendChoice(requested, canonical[key], "set explicitly")


def create_embedder(name: str, weights_dir: Path) -> Embedder:
    return EMBEDDERS.create(name, weights_dir=weights_dir)


def distance(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between each row of ``a`` (n, d) and each row of ``b`` (m, d) -> (n, m), DeepFace's definitions."""
    a = np.atleast_2d(np.asarray(a, np.float64))
    b = np.atleast_2d(np.asarray(b, np.float64))
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return 1.0 - an @ bn.T
    if metric == "euclidean_l2":
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    elif metric != "euclidean":
        raise ValueError(f"unknown distance metric {metric!r}")
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))
