"""The labelled data the evaluation runs on (read-only, ``Settings.eval_data_dir``, default ``../shared/data``).

- FER-2013 (``fer2013/fer2013.npz``): 48x48 gray faces with emotion labels, split into train / PublicTest /
  PrivateTest; the emotion evaluation uses PrivateTest.
- 5-celebrity-faces (``faces/5-celebrity-faces/<person>/{train,val}__*``): photos of five people for the identity
  evaluation (enroll the train photos, identify the val photos).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import Settings, get_settings
from core.errors import FaceDashError

#: FER-2013 split names as stored in the npz (``split`` key).
FER_SPLITS = ("train", "PublicTest", "PrivateTest")


def shared_data_dir(settings: Settings | None = None) -> Path:
    """The read-only shared data folder: ``Settings.eval_data_dir`` (env ``FACEDASH_EVAL_DATA_DIR``)."""
    return Path((settings or get_settings()).eval_data_dir)


def fer2013_path(settings: Settings | None = None) -> Path:
    return shared_data_dir(settings) / "fer2013" / "fer2013.npz"


def celebrity_faces_dir(settings: Settings | None = None) -> Path:
    return shared_data_dir(settings) / "faces" / "5-celebrity-faces"


# ------------------------------------------------------------------------------------------------ FER-2013
def subset_indices(n: int, subset: int, seed: int = 0) -> np.ndarray:
    """``subset`` indices out of ``n`` drawn without replacement (sorted); all of them when subset is 0 or >= n."""
    if subset < 0:
        raise ValueError(f"subset must be >= 0 (0 = all), got {subset}")
    if subset == 0 or subset >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=subset, replace=False))


def load_fer2013(path: Path | None = None, split: str = "PrivateTest", subset: int = 0, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """FER-2013 faces of one split: pixels (N, 48, 48) uint8 and labels (N,) int in :data:`EMOTIONS` order.

    Reading and checking the file is :func:`core.training.data.load_split`'s job (one loader for training and
    evaluation); ``subset`` here is a plain random sample, so evaluation subsets keep the split's class mix.
    """
    from core.training.data import load_split

    data = load_split(split, Path(path) if path else fer2013_path())
    keep = subset_indices(len(data.y), subset, seed)
    return data.x[keep], data.y[keep]


def gray_to_bgr(pixels: np.ndarray) -> list[np.ndarray]:
    """(N, H, W) gray uint8 -> list of (H, W, 3) BGR uint8 crops, the form the engine hands to emotion backends."""
    pixels = np.asarray(pixels, np.uint8)
    return list(np.repeat(pixels[..., None], 3, axis=-1))


# ------------------------------------------------------------------------------------------------ labelled photos
@dataclass(frozen=True)
class LabelledPhoto:
    person: str
    split: str   # "train" | "val"
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def list_labelled_photos(folder: Path | None = None, subset: int = 0) -> list[LabelledPhoto]:
    """``<folder>/<person>/{train,val}__*`` photos, sorted. ``subset`` N > 0 keeps N train and max(1, N // 2) val
    photos per person (the first ones by name), so a small run still has pairs, enrollments and probes."""
    from core.images import IMAGE_SUFFIXES

    folder = Path(folder) if folder else celebrity_faces_dir()
    if not folder.is_dir():
        raise FaceDashError(f"{folder}: labelled photo folder not found (expected <folder>/<person>/train__*.jpg|val__*.jpg)")
    photos: list[LabelledPhoto] = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(f for f in person.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for split, cap in (("train", subset), ("val", max(1, subset // 2))):
            chosen = [f for f in files if f.name.startswith(f"{split}__")]
            photos += [LabelledPhoto(person.name, split, f) for f in (chosen[:cap] if subset else chosen)]
    people = {p.person for p in photos}
    if len(people) < 3:
        raise FaceDashError(f"{folder}: need photos of at least 3 people (found {len(people)})")
    for split in ("train", "val"):
        if not any(p.split == split for p in photos):
            raise FaceDashError(f"{folder}: no {split}__* photos found")
    return photos
