"""Resumable training of the own FER-2013 emotion model.

CLI::

    python -m core.training.train --epochs 40 --max-minutes 70          # fresh run (refuses to clobber a checkpoint)
    python -m core.training.train --resume --max-minutes 100            # continue from core/models/checkpoints/
    python -m core.training.train --subset 256 --epochs 1 --checkpoint-dir /tmp/ck   # smoke run

Every epoch the full state is written atomically to the checkpoint directory:

- ``last.npz``: model variables (float32, BatchNorm statistics and dropout seed-generator state included),
  optimizer variables (iteration counter float32, momentum as bfloat16 to keep the file small),
  and ``state`` (JSON: recipe, next epoch, history, best PublicTest accuracy, LR-controller and EarlyStopping
  state, RNG seed). Batch order and augmentation are pure functions of (seed, epoch, batch), so a resumed run
  replays the same data stream.
- ``best.npz``: the model variables (float16) of the epoch with the best PublicTest accuracy: what gets exported.
- ``history.json``: the per-epoch history (what notebooks/train_emotion.ipynb plots).

Learning rate: linear warm-up then cosine decay over the planned ``epochs``, times a plateau factor that is
halved when PublicTest accuracy has not improved for ``plateau_patience`` epochs (the semantics of Keras'
ReduceLROnPlateau, kept in one resumable callback because Keras' own would be overwritten by the schedule).
EarlyStopping (Keras' class, made resumable) stops on PublicTest accuracy. ``max_minutes`` stops at an epoch
boundary before the wall-clock budget runs out. The accelerator is used when TensorFlow sees one (mixed float16);
on CPUs with AVX512-BF16 the default precision is mixed bfloat16 (about 1.5x faster here).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.training.data import DEFAULT_NPZ, AugmentConfig, class_weights, load_split, make_sequence
from core.training.model import ModelConfig, build_model

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_CHECKPOINT_DIR = MODELS_DIR / "checkpoints"
LAST = "last.npz"
BEST = "best.npz"
HISTORY = "history.json"


class TrainingError(RuntimeError):
    """Training cannot start or resume (e.g. a checkpoint that does not fit the model)."""


@dataclass
class Recipe:
    epochs: int = 40                 # planned length: the cosine schedule spans it
    batch_size: int = 64
    optimizer: str = "sgd"           # "sgd" (Nesterov, momentum 0.9) or "adamw"
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # 0 = off, 0.5 = sqrt inverse frequency, 1 = balanced
    warmup_epochs: float = 1.0
    schedule: str = "cosine"         # "cosine" or "plateau" (constant LR + ReduceLROnPlateau only)
    plateau_patience: int = 4
    plateau_factor: float = 0.5
    min_lr: float = 1e-5
    early_stopping_patience: int = 10
    seed: int = 0
    subset: float | None = None      # training subset (count, or fraction < 1); None = all 28,709
    val_subset: float | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.as_dict()
        d["augment"] = self.augment.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        d = dict(d)
        model = ModelConfig.from_dict(d.pop("model", {}))
        aug = dict(d.pop("augment", {}))
        if "erase_area" in aug:
            aug["erase_area"] = tuple(aug["erase_area"])
        augment = AugmentConfig(**{k: v for k, v in aug.items() if k in AugmentConfig.__dataclass_fields__})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(model=model, augment=augment, **{k: v for k, v in d.items() if k in known})


# ----------------------------------------------------------------------------------------------- device setup

def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def configure_device(threads: int | None = None, precision: str = "auto") -> dict:
    """Pick the accelerator and precision. Must run before TensorFlow executes anything.

    ``threads``: intra/inter-op threads on CPU (None = TensorFlow's default). ``precision``: "auto", "float32",
    "mixed_float16" or "mixed_bfloat16". Returns a description for the logs and the model card.
    """
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if threads and not gpus:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError as exc:  # already initialised (e.g. second call in one process)
            log.warning("could not set thread counts (%s); keeping TensorFlow's", exc)
    if precision == "auto":
        precision = "mixed_float16" if gpus else ("mixed_bfloat16" if _cpu_has_bf16() else "float32")
    keras.mixed_precision.set_global_policy(precision)
    info = {"device": "GPU" if gpus else "CPU", "gpus": [g.name for g in gpus], "precision": precision,
            "threads": threads, "cpu_count": os.cpu_count()}
    log.info("device: %s", info)
    return info


# ------------------------------------------------------------------------------------------------ checkpoints

def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)  # numeric arrays only, as np.load reads them
    return buf.getvalue()


def _to_bf16_bits(a: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)


def _from_bf16_bits(a: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.asarray(a, np.uint16).view(ml_dtypes.bfloat16).astype(np.float32)


def model_arrays(model, dtype=np.float32) -> dict[str, np.ndarray]:
    return {f"model_{i:04d}": np.asarray(v.numpy()).astype(dtype) if np.issubdtype(np.asarray(v.numpy()).dtype, np.floating)
            else np.asarray(v.numpy()) for i, v in enumerate(model.variables)}


def assign_model_arrays(model, arrays) -> None:
    keys = sorted(k for k in arrays.keys() if k.startswith("model_"))
    if len(keys) != len(model.variables):
        raise TrainingError(f"checkpoint has {len(keys)} model variables, the model has {len(model.variables)}: "
                            "the recipe's model config differs from the checkpoint's")
    for key, var in zip(keys, model.variables):
        value = arrays[key]
        if tuple(value.shape) != tuple(var.shape):
            raise TrainingError(f"checkpoint variable {var.path} has shape {value.shape}, model wants {var.shape}")
        var.assign(value.astype(var.dtype))


def save_checkpoint(directory: Path, model, optimizer, state: dict, best: bool = False) -> None:
    """Write last.npz (full state) and, when ``best``, best.npz (float16 weights); both atomically."""
    directory = Path(directory)
    arrays = model_arrays(model)
    for i, v in enumerate(optimizer.variables):
        value = np.asarray(v.numpy())
        if value.ndim == 0 or not np.issubdtype(value.dtype, np.floating):
            arrays[f"opt_{i:04d}"] = value
        else:
            arrays[f"optbf16_{i:04d}"] = _to_bf16_bits(value)
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    _atomic_write(directory / LAST, _npz_bytes(arrays))
    if best:
        best_arrays = model_arrays(model, np.float16)
        best_arrays["state"] = np.frombuffer(json.dumps({"epoch": state["epoch"], "best": state["best"],
                                                         "recipe": state["recipe"]}).encode(), np.uint8)
        _atomic_write(directory / BEST, _npz_bytes(best_arrays))
    _atomic_write(directory / HISTORY, json.dumps({"recipe": state["recipe"], "history": state["history"],
                                                   "best": state["best"], "device": state.get("device")},
                                                  indent=1).encode())


def read_state(path: Path) -> dict:
    with np.load(path) as data:
        return json.loads(bytes(data["state"]).decode())


def load_checkpoint(directory: Path, model, optimizer) -> dict:
    path = Path(directory) / LAST
    if not path.is_file():
        raise TrainingError(f"nothing to resume: {path} does not exist (start a fresh run without --resume)")
    with np.load(path) as data:
        assign_model_arrays(model, data)
        opt_keys = sorted((k for k in data.files if k.startswith("opt")), key=lambda k: int(k.split("_")[1]))
        if len(opt_keys) != len(optimizer.variables):
            raise TrainingError(f"checkpoint has {len(opt_keys)} optimizer variables, optimizer has "
                                f"{len(optimizer.variables)}: the recipe's optimizer differs from the checkpoint's")
        for key, var in zip(opt_keys, optimizer.variables):
            value = _from_bf16_bits(data[key]) if key.startswith("optbf16_") else data[key]
            var.assign(np.asarray(value).astype(var.dtype).reshape(var.shape))
        state = json.loads(bytes(data["state"]).decode())
    log.info("resumed from %s: %d epochs done, best PublicTest accuracy %.4f", path, state["epoch"], state["best"])
    return state


def load_best_model(directory: Path = DEFAULT_CHECKPOINT_DIR):
    """A float32 Keras model holding the best-PublicTest weights (for export and evaluation)."""
    import keras

    path = Path(directory) / BEST
    if not path.is_file():
        raise TrainingError(f"no best checkpoint at {path}; train first (python -m core.training.train)")
    with np.load(path) as data:
        state = json.loads(bytes(data["state"]).decode())
        previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy("float32")
        try:
            model = build_model(Recipe.from_dict(state["recipe"]).model)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        assign_model_arrays(model, data)
    return model, state


# -------------------------------------------------------------------------------------------------- callbacks

def make_optimizer(recipe: Recipe):
    import keras

    if recipe.optimizer == "sgd":
        opt = keras.optimizers.SGD(recipe.lr, momentum=recipe.momentum, nesterov=True,
                                   weight_decay=recipe.weight_decay or None)
    elif recipe.optimizer == "adamw":
        opt = keras.optimizers.AdamW(recipe.lr, weight_decay=recipe.weight_decay)
    else:
        raise TrainingError(f"unknown optimizer {recipe.optimizer!r}; use sgd or adamw")
    if recipe.weight_decay:
        opt.exclude_from_weight_decay(var_names=["bn", "bias", "gamma", "beta"])
    return opt


def _callbacks(recipe: Recipe, steps_per_epoch: int, directory: Path | None, state: dict, max_minutes: float | None,
               fit_budget: bool = False):
    import keras

    class LRController(keras.callbacks.Callback):
        """lr = base * warm-up * cosine * plateau factor, set before every batch; resumable via ``state``."""

        def __init__(self):
            super().__init__()
            self.s = state.setdefault("lr_controller", {"factor": 1.0, "best": -1.0, "wait": 0})

        def lr_at(self, step: int) -> float:
            warm = recipe.warmup_epochs * steps_per_epoch
            total = max(1, state.get("planned_epochs", recipe.epochs) * steps_per_epoch)
            w = min(1.0, (step + 1) / warm) if warm > 0 else 1.0
            c = 0.5 * (1 + math.cos(math.pi * min(1.0, step / total))) if recipe.schedule == "cosine" else 1.0
            return max(recipe.min_lr if recipe.schedule == "plateau" else 0.0, recipe.lr * w * c * self.s["factor"])

        def on_train_batch_begin(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            self.model.optimizer.learning_rate.assign(self.lr_at(step))

        def on_epoch_end(self, epoch, logs=None):
            acc = float((logs or {}).get("val_accuracy", -1))
            if acc > self.s["best"]:
                self.s["best"], self.s["wait"] = acc, 0
            else:
                self.s["wait"] += 1
                if self.s["wait"] >= recipe.plateau_patience:
                    self.s["factor"] *= recipe.plateau_factor
                    self.s["wait"] = 0
                    log.info("PublicTest accuracy plateaued: LR factor now %.3g", self.s["factor"])

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            saved = state.get("early_stopping")
            if saved:
                self.wait, self.best = saved["wait"], saved["best"]

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            state["early_stopping"] = {"wait": int(self.wait), "best": float(self.best) if self.best is not None else None}

    class Checkpointer(keras.callbacks.Callback):
        """Records history, keeps the best-PublicTest weights, writes the full state; stops before the budget."""

        def __init__(self):
            super().__init__()
            self.started = time.monotonic()
            self.epoch_started = self.started

            self.first_epoch = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.monotonic()
            if self.first_epoch is None:
                self.first_epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            seconds = time.monotonic() - self.epoch_started
            row = {"epoch": epoch + 1, "lr": float(self.model.optimizer.learning_rate.numpy()),
                   "seconds": round(seconds, 2), **{k: float(v) for k, v in logs.items()}}
            state["history"].append(row)
            state["epoch"] = epoch + 1
            state["training_seconds"] = round(state.get("training_seconds", 0.0) + seconds, 2)
            improved = row.get("val_accuracy", -1) > state["best"]
            if improved:
                state["best"], state["best_epoch"] = row["val_accuracy"], epoch + 1
            log.info("epoch %d/%d: loss %.4f acc %.4f | PublicTest loss %.4f acc %.4f%s | lr %.2e | %.0f s",
                     epoch + 1, state["planned_epochs"], row.get("loss", float("nan")),
                     row.get("accuracy", float("nan")), row.get("val_loss", float("nan")),
                     row.get("val_accuracy", float("nan")), " (best)" if improved else "", row["lr"], seconds)
            if max_minutes is not None:
                elapsed = time.monotonic() - self.started
                this_run = [r["seconds"] for r in state["history"][-(epoch + 1 - self.first_epoch):]]
                per_epoch = 1.05 * float(np.mean(this_run[1:] if len(this_run) > 1 else this_run))
                if fit_budget:
                    fits = epoch + 1 + int((max_minutes * 60 - elapsed) // per_epoch)
                    planned = max(epoch + 1, min(recipe.epochs, fits))
                    if planned != state["planned_epochs"]:
                        log.info("time budget: the cosine schedule now spans %d epochs (%.0f s per epoch)",
                                 planned, per_epoch)
                        state["planned_epochs"] = planned
                if epoch + 1 < state["planned_epochs"] and elapsed + per_epoch > max_minutes * 60:
                    log.info("wall-clock budget of %.0f min reached after epoch %d; continue with --resume",
                             max_minutes, epoch + 1)
                    state["stopped_by"] = "budget"
                    self.model.stop_training = True
            if epoch + 1 >= state["planned_epochs"]:
                self.model.stop_training = True
            if directory is not None:
                save_checkpoint(directory, self.model, self.model.optimizer, state, best=improved)

    early = ResumableEarlyStopping(monitor="val_accuracy", mode="max", patience=recipe.early_stopping_patience)
    return [LRController(), early, Checkpointer()]


# ---------------------------------------------------------------------------------------------------- training

def train(recipe: Recipe | None = None, *, checkpoint_dir: Path | str | None = DEFAULT_CHECKPOINT_DIR,
          resume: bool = False, max_minutes: float | None = None, data_path: Path | str | None = None,
          threads: int | None = None, precision: str = "auto", verbose: int = 0, max_epochs: int | None = None,
          fit_budget: bool = False, extend_epochs: int | None = None) -> dict:
    """Train (or resume) and return the final state dict (history, best PublicTest accuracy, ...).

    ``fit_budget`` (with ``max_minutes``): after each epoch, shorten the planned length (at most
    ``recipe.epochs``) to what fits in the remaining time, so the cosine schedule anneals before the budget ends.
    ``extend_epochs`` (with ``resume``): raise the planned length, e.g. to continue a budget-shortened run
    (the cosine schedule then continues from a higher LR: a warm restart).

    ``max_epochs``: stop after this many epochs *in this call* (the schedule still spans ``recipe.epochs``).
    ``checkpoint_dir=None`` trains without writing anything (used by the search).
    """
    import keras

    device = configure_device(threads, precision)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume:
        if directory is None:
            raise TrainingError("--resume needs a checkpoint directory")
        saved = read_state(directory / LAST) if (directory / LAST).is_file() else None
        if saved is None:
            raise TrainingError(f"nothing to resume: {directory / LAST} does not exist")
        recipe = Recipe.from_dict(saved["recipe"])
        if extend_epochs and extend_epochs > recipe.epochs:
            log.info("extending the planned run from %d to %d epochs", recipe.epochs, extend_epochs)
            recipe.epochs = int(extend_epochs)
    else:
        recipe = recipe or Recipe()
        if directory is not None and (directory / LAST).is_file():
            raise TrainingError(f"{directory / LAST} exists: pass --resume to continue it, or another "
                                "--checkpoint-dir / delete it to start afresh")

    keras.utils.set_random_seed(recipe.seed)
    train_split = load_split("train", data_path, subset=recipe.subset, seed=recipe.seed)
    val_split = load_split("PublicTest", data_path, subset=recipe.val_subset, seed=recipe.seed)
    weights = class_weights(train_split.y, recipe.class_weight_power) if recipe.class_weight_power else None
    log.info("train %d images %s, PublicTest %d; class weights %s", len(train_split), train_split.counts().tolist(),
             len(val_split), None if weights is None else np.round(weights, 3).tolist())

    model = build_model(recipe.model)
    optimizer = make_optimizer(recipe)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])
    optimizer.build(model.trainable_variables)

    state: dict[str, Any] = {
        "recipe": recipe.as_dict(), "epoch": 0, "history": [], "best": -1.0, "best_epoch": None,
        "training_seconds": 0.0, "rng": {"seed": recipe.seed, "scheme": "numpy default_rng([seed, epoch, batch])"},
        "class_weights": None if weights is None else [float(w) for w in weights], "device": device,
    }
    if resume:
        if directory is None:  # refused above already; this narrows the type
            raise TrainingError("--resume needs a checkpoint directory")
        state = load_checkpoint(directory, model, optimizer)
        state["device"] = device
        state["recipe"] = recipe.as_dict()
        state.pop("stopped_by", None)
        if extend_epochs:
            state["planned_epochs"] = recipe.epochs
            state.get("early_stopping", {})["wait"] = 0
    state.setdefault("planned_epochs", recipe.epochs)
    start = int(state["epoch"])
    if start >= state["planned_epochs"]:
        log.info("nothing to do: %d of %d planned epochs already trained (extend with --epochs N --resume)",
                 start, state["planned_epochs"])
        return state
    end = recipe.epochs if (fit_budget and max_minutes) else state["planned_epochs"]
    end = end if max_epochs is None else min(end, start + max_epochs)
    if start >= end:
        log.info("nothing to do: %d of %d planned epochs already trained", start, recipe.epochs)
        return state
    if state.get("early_stopping", {}).get("wait", 0) >= recipe.early_stopping_patience:
        log.info("early stopping had already triggered (patience %d); nothing to do", recipe.early_stopping_patience)
        return state

    train_seq = make_sequence(train_split, recipe.batch_size, training=True, seed=recipe.seed, epoch=start,
                              weights=weights, augment_config=recipe.augment)
    val_seq = make_sequence(val_split, 256, training=False)
    callbacks = _callbacks(recipe, len(train_seq), directory, state, max_minutes, fit_budget)
    log.info("training epochs %d..%d of %d (%d steps each)%s", start + 1, end, recipe.epochs, len(train_seq),
             f", budget {max_minutes:.0f} min" if max_minutes else "")
    model.fit(train_seq, validation_data=val_seq, initial_epoch=start, epochs=end, callbacks=callbacks,
              verbose=verbose)
    state["model"] = model
    return state


def _parse(argv: list[str] | None) -> argparse.Namespace:
    r = Recipe()
    p = argparse.ArgumentParser(prog="python -m core.training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/last.npz (its recipe wins)")
    p.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_CHECKPOINT_DIR)
    p.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="fer2013.npz")
    p.add_argument("--max-minutes", type=float, default=None, help="stop at an epoch boundary before this budget")
    p.add_argument("--fit-budget", action="store_true",
                   help="shorten the planned epochs so the cosine schedule ends within --max-minutes")
    p.add_argument("--max-epochs", type=int, default=None, help="at most this many epochs in this run")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (intra = inter); default TensorFlow's")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--epochs", type=int, default=r.epochs, help="planned epochs (the cosine schedule spans them)")
    p.add_argument("--batch-size", type=int, default=r.batch_size)
    p.add_argument("--optimizer", default=r.optimizer, choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, default=r.lr)
    p.add_argument("--weight-decay", type=float, default=r.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=r.label_smoothing)
    p.add_argument("--class-weight-power", type=float, default=r.class_weight_power)
    p.add_argument("--schedule", default=r.schedule, choices=["cosine", "plateau"])
    p.add_argument("--filters", default=",".join(map(str, r.model.filters)), help="conv widths per block")
    p.add_argument("--dense", type=int, default=r.model.dense)
    p.add_argument("--head", default=r.model.head, choices=["gap", "flatten"])
    p.add_argument("--subset", type=float, default=None, help="training subset: count, or fraction < 1")
    p.add_argument("--val-subset", type=float, default=None)
    p.add_argument("--seed", type=int, default=r.seed)
    p.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (1 = progress bar)")
    return p.parse_args(argv)


def _given(option: str, argv: list[str] | None) -> bool:
    return any(a == option or a.startswith(option + "=") for a in (sys.argv[1:] if argv is None else argv))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse(argv)
    recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                    weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                    class_weight_power=args.class_weight_power, schedule=args.schedule, seed=args.seed,
                    subset=args.subset, val_subset=args.val_subset,
                    model=ModelConfig(filters=tuple(int(f) for f in args.filters.split(",")), dense=args.dense,
                                      head=args.head))
    try:
        state = train(recipe, checkpoint_dir=args.checkpoint_dir, resume=args.resume, max_minutes=args.max_minutes,
                      data_path=args.data, threads=args.threads, precision=args.precision, verbose=args.verbose,
                      max_epochs=args.max_epochs, fit_budget=args.fit_budget,
                      extend_epochs=args.epochs if args.resume and _given("--epochs", argv) else None)
    except (TrainingError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("done: %d/%d epochs, best PublicTest accuracy %.4f (epoch %s), %.0f s of training%s",
             state["epoch"], state.get("planned_epochs", 0), state["best"], state.get("best_epoch"),
             state.get("training_seconds", 0.0), "; stopped by the time budget" if state.get("stopped_by") else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
