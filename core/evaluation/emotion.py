"""Emotion evaluation: each backend in :data:`core.emotions.EMOTION_BACKENDS` that loads, run on the FER-2013
PrivateTest faces (48x48 gray, given to the backend as BGR uint8; each backend resizes as it needs).

Per backend ``emotion_<backend>.json``: accuracy, the 7x7 confusion matrix, per-class metrics, one-vs-rest ROC and
the valence view (:func:`core.evaluation.metrics.emotion_metrics`), plus seconds per face; ``emotion_summary.json``
compares them. Backends that cannot load here (missing weights) are recorded as ``"not available: <why>"`` instead
of failing the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import Settings, load_settings
from core.errors import FaceDashError
from core.evaluation.common import progress_bar, utc_now_iso, write_json
from core.evaluation.data import fer2013_path, gray_to_bgr, load_fer2013
from core.evaluation.metrics import emotion_metrics
from core.types import EMOTIONS

log = logging.getLogger(__name__)


def predict_probabilities(model, crops: list[np.ndarray], batch_size: int = 256, progress: bool = True
                          ) -> tuple[np.ndarray, float]:
    """Run ``model.predict`` in batches -> ((N, 7) probabilities, seconds per face)."""
    out = np.zeros((len(crops), len(EMOTIONS)), np.float64)
    elapsed = 0.0
    with progress_bar(len(crops), f"emotion {getattr(model, 'name', '?')}", progress) as bar:
        for start in range(0, len(crops), batch_size):
            batch = crops[start:start + batch_size]
            t0 = time.perf_counter()
            results = model.predict(batch)
            elapsed += time.perf_counter() - t0
            if len(results) != len(batch):
                raise RuntimeError(f"{model.name}: predict returned {len(results)} results for {len(batch)} faces")
            out[start:start + len(batch)] = [r.scores for r in results]
            bar.update(len(batch))
    return out, elapsed / max(len(crops), 1)


def load_emotion_backend(name: str, settings: Settings):
    """Build one emotion backend, or raise FaceDashError (e.g. WeightsMissingError) saying why it cannot load."""
    from core.emotions import create_emotion_model
    from core.weights import configure_deepface_home

    weights_dir = settings.deepface_weights_dir
    configure_deepface_home(weights_dir)  # DeepFace's backend looks there
    return create_emotion_model(name, weights_dir)


def evaluate_emotion_backend(model, pixels: np.ndarray, labels: np.ndarray, split: str = "PrivateTest",
                             progress: bool = True, batch_size: int = 256) -> dict:
    """One loaded backend on FER-2013 faces -> the ``emotion_<backend>.json`` payload."""
    probabilities, seconds = predict_probabilities(model, gray_to_bgr(pixels), batch_size, progress)
    metrics = emotion_metrics(labels, probabilities)
    return {"backend": model.name, "dataset": "FER-2013", "split": split, "computed_at": utc_now_iso(),
            **metrics, "seconds_per_face": seconds}


@dataclass
class EmotionEvaluation:
    results: dict[str, dict] = field(default_factory=dict)      # backend -> payload
    unavailable: dict[str, str] = field(default_factory=dict)   # backend -> "not available: ..."
    summary: dict = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def emotion_summary(results: dict[str, dict], unavailable: dict[str, str], split: str, n: int, subset: int) -> dict:
    """The ``emotion_summary.json`` payload: one entry per backend (its headline numbers, or why it is missing)."""
    backends: dict[str, dict] = {}
    for name, r in results.items():
        backends[name] = {"available": True, "accuracy": r["accuracy"], "valence_accuracy": r["valence"]["accuracy"],
                          "macro_f1": float(np.mean([c["f1"] for c in r["per_class"].values()])),
                          "seconds_per_face": r["seconds_per_face"], "file": f"emotion_{name}.json"}
    for name, reason in unavailable.items():
        backends[name] = {"available": False, "reason": reason}
    best = max(results, key=lambda b: results[b]["accuracy"]) if results else None
    return {"dataset": "FER-2013", "split": split, "n": n, "subset": subset, "computed_at": utc_now_iso(),
            "best": best, "backends": dict(sorted(backends.items()))}


def _backend_names(backends: list[str] | None) -> list[str]:
    """The requested backends, lower-cased (default: every registered one); ConfigError names unknown ones."""
    from core.emotions import EMOTION_BACKENDS
    from core.errors import ConfigError

    names = [b.strip().lower() for b in (backends or EMOTION_BACKENDS.names()) if b.strip()]
    unknown = [b for b in names if b not in EMOTION_BACKENDS]
    if unknown:
        raise ConfigError(f"unknown emotion backend(s) {', '.join(unknown)}; choose from {', '.join(EMOTION_BACKENDS.names())}")
    return names


def _try_load(name: str, settings: Settings, evaluation: EmotionEvaluation):
    """The loaded backend, or None with the reason recorded in ``evaluation.unavailable``."""
    try:
        return load_emotion_backend(name, settings)
    except FaceDashError as exc:
        evaluation.unavailable[name] = f"not available: {exc}"
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a model file still being written
        evaluation.unavailable[name] = f"not available: failed to load ({type(exc).__name__}: {exc})"
    log.warning("emotion backend %s %s", name, evaluation.unavailable[name])
    return None


def evaluate_emotion(backends: list[str] | None = None, subset: int = 0, out_dir: Path | None = None,
                     settings: Settings | None = None, split: str = "PrivateTest", data_path: Path | None = None,
                     progress: bool = True) -> EmotionEvaluation:
    """Every requested (default: every registered) emotion backend on FER-2013 ``split``; writes JSON to ``out_dir``."""
    settings = settings or load_settings()
    names = _backend_names(backends)
    pixels, labels = load_fer2013(data_path or fer2013_path(settings), split, subset)
    log.info("FER-2013 %s: %d faces%s", split, len(labels), f" (subset {subset})" if subset else "")
    evaluation = EmotionEvaluation()
    for name in names:
        model = _try_load(name, settings, evaluation)
        if model is None:
            continue
        result = evaluate_emotion_backend(model, pixels, labels, split, progress)
        evaluation.results[name] = result
        log.info("emotion %s: accuracy %.4f, valence %.4f, %.2f ms/face", name, result["accuracy"],
                 result["valence"]["accuracy"], 1000 * result["seconds_per_face"])
    evaluation.summary = emotion_summary(evaluation.results, evaluation.unavailable, split, len(labels), subset)
    if out_dir is not None:
        out_dir = Path(out_dir)
        for name, result in evaluation.results.items():
            evaluation.written.append(write_json(out_dir / f"emotion_{name}.json", result))
        evaluation.written.append(write_json(out_dir / "emotion_summary.json", evaluation.summary))
    return evaluation
