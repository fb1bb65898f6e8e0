"""FER-2013 for training: the packed ``fer2013.npz`` splits, class weights and on-the-fly augmentation.

The file lives outside the repository (``../shared/data/fer2013/fer2013.npz``) and is never copied into it.
Its ``split`` array holds ``train`` / ``PublicTest`` / ``PrivateTest`` (the Kaggle names ``Training`` and
``test`` are accepted as aliases). Rows are stored sorted by split and class, so every consumer shuffles.

All three splits are sharp (variance of the Laplacian median about 2,000 each, :func:`sharpness`): an earlier pack
had a blurred training split, and the model trained then carried a matching input blur; the pack was replaced on
2026-12-01 and training and export no longer blur anything.

Images stay ``uint8`` (N, 48, 48) in memory (about 66 MB for the whole set); batches become ``float32`` in
[0, 1] with shape (B, 48, 48, 1), the same input convention as :class:`core.emotions.OwnEmotion`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import FaceDashError
from core.types import EMOTIONS

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NPZ = REPO_ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.npz"
SPLITS: tuple[str, ...] = ("train", "PublicTest", "PrivateTest")
_ALIASES = {"training": "train", "train": "train", "publictest": "PublicTest", "val": "PublicTest",
            "privatetest": "PrivateTest", "test": "PrivateTest"}
IMAGE_SIZE = 48
NUM_CLASSES = len(EMOTIONS)


class DataError(FaceDashError, ValueError):
    """The FER-2013 file is missing or not what we expect."""


def canonical_split(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise DataError(f"unknown FER-2013 split {name!r}; choose one of {', '.join(SPLITS)}")
    return _ALIASES[key]


@dataclass(frozen=True)
class Split:
    """One split: ``x`` uint8 (N, 48, 48), ``y`` int64 (N,) labels in :data:`core.types.EMOTIONS` order."""

    name: str
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=NUM_CLASSES)


_CACHE: dict[str, dict[str, np.ndarray]] = {}


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    key = str(path.resolve())
    if key not in _CACHE:
        if not path.is_file():
            raise DataError(f"FER-2013 file not found: {path} (expected ../shared/data/fer2013/fer2013.npz)")
        with np.load(path, allow_pickle=False) as data:
            missing = {"pixels", "label", "split"} - set(data.files)
            if missing:
                raise DataError(f"{path} lacks arrays {sorted(missing)}; has {data.files}")
            arrays = {"pixels": data["pixels"], "label": data["label"].astype(np.int64), "split": data["split"]}
        if arrays["pixels"].shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or arrays["pixels"].dtype != np.uint8:
            raise DataError(f"{path}: pixels must be uint8 (N, 48, 48), got {arrays['pixels'].dtype} {arrays['pixels'].shape}")
        _CACHE[key] = arrays
    return _CACHE[key]


def load_split(split: str, path: Path | str | None = None, subset: int | float | None = None, seed: int = 0) -> Split:
    """Load one split, optionally a stratified random ``subset`` (a count, or a fraction when < 1)."""
    name = canonical_split(split)
    arrays = _load_arrays(Path(path) if path else DEFAULT_NPZ)
    index = np.flatnonzero(arrays["split"] == name)
    if index.size == 0:
        raise DataError(f"split {name!r} is empty; the file's split values are {sorted(set(arrays['split'].tolist()))}")
    if subset:
        index = stratified_subset(arrays["label"][index], subset, seed=seed, index=index)
    return Split(name, arrays["pixels"][index], arrays["label"][index])


def stratified_subset(labels: np.ndarray, size: int | float, seed: int = 0, index: np.ndarray | None = None) -> np.ndarray:
    """Indices of a class-stratified random subset (every class keeps at least one sample), in shuffled order."""
    labels = np.asarray(labels)
    index = np.arange(len(labels)) if index is None else np.asarray(index)
    n = int(round(size * len(labels))) if size < 1 else int(size)
    if n >= len(labels):
        return np.random.default_rng(seed).permutation(index)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = max(1, int(round(n * len(members) / len(labels))))
        chosen.append(rng.choice(members, size=min(k, len(members)), replace=False))
    picked = np.concatenate(chosen)
    return index[rng.permutation(picked)]


def class_weights(labels: np.ndarray, power: float = 0.5, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Inverse-frequency weights ``(N / (K * count)) ** power``, rescaled so the mean weight per *sample* is 1.

    ``power=1`` is sklearn's "balanced"; ``power=0.5`` (default) is its square root, which lifts the rare classes
    (disgust: 436 training images, x3.1 vs. happy) without giving up much overall accuracy. ``power=0`` disables.
    """
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    if np.any(counts == 0):
        raise DataError(f"every class needs at least one sample for class weights; counts={counts.tolist()}")
    raw = (counts.sum() / (num_classes * counts)) ** power
    raw /= (raw * counts).sum() / counts.sum()
    return raw.astype(np.float32)


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 48, 48) -> float32 (N, 48, 48, 1) in [0, 1]."""
    return (np.asarray(x, np.float32) / 255.0)[..., None]


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    shift: float = 0.1        # fraction of the side
    rotation: float = 10.0    # degrees
    zoom: float = 0.1         # scale in [1 - zoom, 1 + zoom]
    erase_p: float = 0.5      # random erasing probability
    erase_area: tuple[float, float] = (0.02, 0.15)

    def as_dict(self) -> dict:
        return {"flip": self.flip, "shift": self.shift, "rotation": self.rotation, "zoom": self.zoom,
                "erase_p": self.erase_p, "erase_area": list(self.erase_area)}


def augment(x: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Random flip + shift + rotation + zoom (one affine warp each, border replicated) + random erasing.

    Input and output: uint8 (N, 48, 48). Shape and dtype are kept; values stay in [0, 255].
    """
    import cv2

    x = np.asarray(x)
    out = np.empty_like(x)
    n, h, w = map(int, x.shape)
    center = ((w - 1) / 2.0, (h - 1) / 2.0)
    angles = rng.uniform(-config.rotation, config.rotation, n)
    scales = rng.uniform(1 - config.zoom, 1 + config.zoom, n)
    shifts = rng.uniform(-config.shift, config.shift, (n, 2)) * (w, h)
    flips = rng.random(n) < 0.5 if config.flip else np.zeros(n, bool)
    for i in range(n):
        img = x[i][:, ::-1] if flips[i] else x[i]
        m = cv2.getRotationMatrix2D(center, float(angles[i]), float(scales[i]))
        m[:, 2] += shifts[i]
        out[i] = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    if config.erase_p > 0:
        for j in np.flatnonzero(rng.random(n) < config.erase_p):
            area = rng.uniform(*config.erase_area) * h * w
            aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
            eh = int(min(h, max(1, round(math.sqrt(area * aspect)))))
            ew = int(min(w, max(1, round(math.sqrt(area / aspect)))))
            top = int(rng.integers(0, h - eh + 1))
            left = int(rng.integers(0, w - ew + 1))
            out[j, top:top + eh, left:left + ew] = rng.integers(0, 256, (eh, ew), dtype=np.uint8)
    return out


def sharpness(x: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian per image (uint8 (N, H, W)): about 2,000 (median) on every FER-2013 split."""
    import cv2

    return np.array([cv2.Laplacian(im, cv2.CV_64F).var() for im in np.asarray(x)])


def flip_horizontal(x: np.ndarray) -> np.ndarray:
    """Mirror a batch (N, H, W[, C]) left-right: the test-time augmentation used at evaluation."""
    return np.ascontiguousarray(np.asarray(x)[:, :, ::-1])


def one_hot(y: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[np.asarray(y)]


def make_sequence(split: Split, batch_size: int, *, training: bool, seed: int = 0, epoch: int = 0,
                  weights: np.ndarray | None = None, augment_config: AugmentConfig | None = None):
    """A Keras ``PyDataset`` over ``split``: (x float32 (B,48,48,1), one-hot y[, sample weight]).

    Training order and augmentation are functions of (seed, epoch, batch index) only, so a resumed run sees the
    same data stream as an uninterrupted one. ``epoch`` is advanced by Keras' ``on_epoch_end``.
    """
    import keras

    class FerSequence(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = int(epoch)
            self.config = augment_config or AugmentConfig()
            self._order = self._permutation()

        def _permutation(self) -> np.ndarray:
            if not training:
                return np.arange(len(split))
            return np.random.default_rng([seed, self.epoch]).permutation(len(split))

        def __len__(self) -> int:
            return math.ceil(len(split) / batch_size)

        def __getitem__(self, idx: int):
            rows = self._order[idx * batch_size:(idx + 1) * batch_size]
            x = split.x[rows]
            if training:
                x = augment(x, np.random.default_rng([seed, self.epoch, idx, 1]), self.config)
            batch: tuple[np.ndarray, ...] = (to_float(x), one_hot(split.y[rows]))
            if weights is not None:
                batch = batch + (weights[split.y[rows]].astype(np.float32),)
            return batch

        def on_epoch_end(self) -> None:
            if training:
                self.epoch += 1
                self._order = self._permutation()

    return FerSequence()
