"""Export the best checkpoint to TFLite, evaluate it on FER-2013 (with and without flip TTA) and write the card.

    python -m core.training.export                  # core/models/checkpoints/best.npz -> core/models/emotion_own.tflite + .json

The shipped file is the trained network as it is (no input blur: every FER-2013 split is sharp). It takes float32
(B, 48, 48, 1) in [0, 1] and returns 7 softmax probabilities in
:data:`core.types.EMOTIONS` order; weights are stored as float16 (``--quantization float16``, the default) or
int8 with dynamic-range quantization (``dynamic``). The card numbers are measured on the exported TFLite file,
i.e. on what :class:`core.emotions.OwnEmotion` actually runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from core.training.data import IMAGE_SIZE, NUM_CLASSES, flip_horizontal, load_split, to_float
from core.training.train import DEFAULT_CHECKPOINT_DIR, LAST, MODELS_DIR, _atomic_write, load_best_model, read_state
from core.types import EMOTIONS

log = logging.getLogger(__name__)

DEFAULT_TFLITE = MODELS_DIR / "emotion_own.tflite"
DEFAULT_CARD = MODELS_DIR / "emotion_own.json"


def tflite_bytes(model, quantization: str = "float16") -> bytes:
    """Convert a float32 Keras model (input (None, 48, 48, 1)) to TFLite bytes."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization != "none":
        raise ValueError(f"unknown quantization {quantization!r}; use float16, dynamic or none")
    return converter.convert()


def export_tflite(model, path: Path, quantization: str = "float16") -> Path:
    path = Path(path)
    _atomic_write(path, tflite_bytes(model, quantization))
    log.info("wrote %s (%d bytes, %s)", path, path.stat().st_size, quantization)
    return path


class TFLiteRunner:
    """Batched inference with a TFLite file (the batch dimension is resized as needed)."""

    def __init__(self, path: Path | str, threads: int | None = None):
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch: int | None = None

    def __call__(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = []
        for i in range(0, len(x), batch_size):
            chunk = np.ascontiguousarray(x[i:i + batch_size], np.float32)
            if self._batch != len(chunk):
                self.interpreter.resize_tensor_input(self.input["index"], list(chunk.shape))
                self.interpreter.allocate_tensors()
                self._batch = len(chunk)
            self.interpreter.set_tensor(self.input["index"], chunk)
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output["index"]).copy())
        return np.concatenate(out).astype(np.float32)


def keras_predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False), np.float32)
                           for i in range(0, len(x), batch_size)])


def predict_with_tta(predict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(plain probabilities, mean of plain and horizontally flipped probabilities)."""
    plain = predict(x)
    return plain, (plain + predict(flip_horizontal(x))) / 2.0


def classification_report(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, per-class precision / recall / F1 / support, macro F1 and the confusion matrix (rows = truth)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_pred = np.argmax(probabilities, axis=1)
    labels = list(range(NUM_CLASSES))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "macro_f1": float(np.mean(f)),
        "per_class": {EMOTIONS[i]: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                                    "f1": round(float(f[i]), 4), "support": int(s[i])} for i in labels},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate(predict, splits=("PublicTest", "PrivateTest"), data_path: Path | None = None) -> dict:
    """Reports per split, plain and with flip TTA: {"PublicTest": {...}, "PublicTest_tta": {...}, ...}."""
    reports = {}
    for name in splits:
        split = load_split(name, data_path)
        plain, tta = predict_with_tta(predict, to_float(split.x))
        reports[name] = classification_report(split.y, plain)
        reports[f"{name}_tta"] = classification_report(split.y, tta)
        log.info("%s: accuracy %.4f, with flip TTA %.4f", name, reports[name]["accuracy"], reports[f"{name}_tta"]["accuracy"])
    return reports


def per_face_seconds(path: Path, repeats: int = 200) -> float:
    """Median latency of one face through the TFLite file, single thread, batch 1 (as OwnEmotion runs it)."""
    runner = TFLiteRunner(path, threads=1)
    x = np.random.default_rng(0).random((1, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32)
    runner(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def build_card(reports: dict, state: dict, tflite_path: Path, params: int, quantization: str,
               keras_tflite_max_diff: float | None = None) -> dict:
    recipe = state["recipe"]
    return {
        "model": "own", "architecture": "VGG-style CNN with BatchNorm (core/training/model.py)",
        "accuracy": {k: round(v["accuracy"], 4) for k, v in reports.items()},
        "macro_f1": {k: round(v["macro_f1"], 4) for k, v in reports.items()},
        "per_class": reports["PrivateTest"]["per_class"],
        "per_class_public": reports["PublicTest"]["per_class"],
        "confusion_private": reports["PrivateTest"]["confusion"],
        "params": int(params),
        "size_bytes": int(Path(tflite_path).stat().st_size),
        "quantization": quantization,
        "input": "gray 48x48 [0,1]",
        "output": "7 softmax probabilities, order " + ",".join(EMOTIONS),
        "trained_epochs": int(state.get("epoch", 0)),
        "best_epoch": state.get("best_epoch"),
        "planned_epochs": int(state.get("planned_epochs", recipe["epochs"])),
        "training_seconds": round(float(state.get("training_seconds", 0.0)), 1),
        "training_device": state.get("device"),
        "per_face_seconds_tflite": round(per_face_seconds(tflite_path), 6),
        "keras_tflite_max_abs_diff": keras_tflite_max_diff,
        "recipe": recipe,
        "data": "FER-2013 (fer2013.npz): train 28,709 for training, PublicTest 3,589 for model selection, "
                "PrivateTest 3,589 held out for the reported accuracy",
    }


def export(checkpoint_dir: Path = DEFAULT_CHECKPOINT_DIR, out: Path = DEFAULT_TFLITE, card: Path | None = DEFAULT_CARD,
           quantization: str = "float16", data_path: Path | None = None) -> dict:
    model, best_state = load_best_model(checkpoint_dir)
    last = Path(checkpoint_dir) / LAST
    state = read_state(last) if last.is_file() else best_state
    state = {**state, "best_epoch": best_state.get("epoch")}
    export_tflite(model, out, quantization)
    runner = TFLiteRunner(out)
    private = load_split("PrivateTest", data_path)
    probe = to_float(private.x[:512])
    diff = float(np.max(np.abs(runner(probe) - keras_predict(model, probe))))
    log.info("TFLite vs Keras on 512 PrivateTest faces: max |diff| %.2e", diff)
    reports = evaluate(runner, data_path=data_path)
    result = build_card(reports, state, out, model.count_params(), quantization, round(diff, 6))
    if card is not None:
        _atomic_write(Path(card), json.dumps(result, indent=1).encode())
        log.info("wrote model card %s", card)
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m core.training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_CHECKPOINT_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_TFLITE)
    p.add_argument("--card", type=Path, default=DEFAULT_CARD)
    p.add_argument("--quantization", default="float16", choices=["float16", "dynamic", "none"])
    args = p.parse_args(argv)
    result = export(args.checkpoint_dir, args.out, args.card, args.quantization)
    print(json.dumps({"accuracy": result["accuracy"], "size_bytes": result["size_bytes"],
                      "per_face_seconds_tflite": result["per_face_seconds_tflite"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
