"""Read-back checks of the gallery's stored files: the index, the embeddings, the calibration.

Every reader in core/gallery.py goes through these functions, so a file that was damaged on disk (a crash of
the disk, not of a writer: writes are atomic), edited by hand, or copied from another gallery is one clear
:class:`CorruptFileError` naming the file and the repair, never a traceback or a silently wrong answer.
``python -m core check`` (core/services/health.py) runs the same checks over every file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from core.embedders import MODELS
from core.errors import GalleryError

REPAIR_COMMAND = "python -m core check --repair"
#: What to do about each kind of file (the end of every message).
REMEDY = {
    "index": f"restore it from a backup (it holds the consent records, so it is never rebuilt automatically), then "
             f"run `{REPAIR_COMMAND}`",
    "embeddings": f"run `{REPAIR_COMMAND}` to rebuild it from the kept photos",
    "calibration": f"run `{REPAIR_COMMAND}` to set it aside (the default thresholds then apply; calibrate again "
                   "with `python -m core calibrate`)",
}
EMBEDDING_ARRAYS = ("worker_ids", "photos", "vectors")


class CorruptFileError(GalleryError):
    """A stored gallery file is corrupt: ``label`` names it, ``problem`` says what is wrong, ``kind`` which file."""

    def __init__(self, path: Path, label: str, kind: str, problem: str):
        self.path, self.label, self.kind, self.problem = Path(path), label, kind, problem
        super().__init__(f"{label} is corrupt ({problem}): {REMEDY[kind]}")


def file_label(folder: Path, path: Path) -> str:
    """How messages name a gallery file: ``gallery/embeddings/x.npz`` (its path in the data folder) when the gallery
    is the default ``<data_dir>/gallery``, else its full path."""
    folder, path = Path(folder), Path(path)
    if folder.name == "gallery":
        try:
            return path.relative_to(folder.parent).as_posix()
        except ValueError:
            pass
    return str(path)


def _unreadable(label: str, exc: PermissionError) -> GalleryError:
    return GalleryError(f"{label} cannot be read ({exc.strerror or exc}); check its permissions")


def _read_json(path: Path, label: str, kind: str) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except PermissionError as exc:
        raise _unreadable(label, exc) from None
    except UnicodeDecodeError:
        raise CorruptFileError(path, label, kind, "not UTF-8 text") from None
    except OSError as exc:
        raise CorruptFileError(path, label, kind, f"unreadable: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(path, label, kind, f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                                                  f"{exc.colno}") from None
    except RecursionError:
        raise CorruptFileError(path, label, kind, "not valid JSON: nested too deeply") from None


# ------------------------------------------------------------------------------------------------ index
def _safe_relative(name: Any) -> bool:
    """A kept photo's path inside the gallery folder (never absolute, never leaving it)."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def _index_problem(index: Any, worker_id: re.Pattern) -> str | None:
    if not isinstance(index, dict):
        return "not a JSON object"
    workers = index.get("workers")
    if not isinstance(workers, dict):
        return "no 'workers' mapping"
    for wid, entry in workers.items():
        if not worker_id.fullmatch(wid):
            return f"invalid worker id {wid[:70]!r}"
        if not isinstance(entry, dict):
            return f"worker {wid!r}: not a JSON object"
        for key, kind in (("name", str), ("enrolled_at", str), ("consent", dict), ("consent_history", list)):
            if key in entry and not isinstance(entry[key], kind):
                return f"worker {wid!r}: {key!r} is not a {'string' if kind is str else kind.__name__}"
        photos = entry.get("photos", [])
        if not isinstance(photos, list):
            return f"worker {wid!r}: 'photos' is not a list"
        for n, photo in enumerate(photos, 1):
            if not isinstance(photo, dict):
                return f"worker {wid!r}: photo {n} is not a JSON object"
            if not _safe_relative(photo.get("file")):
                return f"worker {wid!r}: photo {n} has no 'file' path inside the gallery folder"
            if not isinstance(photo.get("sha256"), str) or not photo["sha256"]:
                return f"worker {wid!r}: photo {n} has no 'sha256'"
            if "dhash" in photo and not (isinstance(photo["dhash"], str) and re.fullmatch(r"[0-9a-f]{1,16}", photo["dhash"])):
                return f"worker {wid!r}: photo {n} has a 'dhash' that is not 16 hex digits"
    return None


def load_index(path: Path, label: str, worker_id: re.Pattern) -> dict:
    """``gallery.json`` (the caller handles a missing file): a ``workers`` mapping of valid ids to entries whose
    photos each name a file inside the gallery and its sha256."""
    index = _read_json(path, label, "index")
    problem = _index_problem(index, worker_id)
    if problem:
        raise CorruptFileError(path, label, "index", problem)
    return index


# ------------------------------------------------------------------------------------------------ embeddings
def _embeddings_problem(arrays: dict[str, np.ndarray], model: str) -> str | None:
    missing = [name for name in EMBEDDING_ARRAYS if name not in arrays]
    if missing:
        return f"no array {', '.join(missing)}"
    ids, photos, vectors = (arrays[name] for name in EMBEDDING_ARRAYS)
    for name, array in (("worker_ids", ids), ("photos", photos)):
        if array.ndim != 1 or (array.size and array.dtype.kind != "U"):
            return f"{name} is not a list of strings"
    if len(photos) != len(ids):
        return f"{len(ids)} worker ids but {len(photos)} photo ids"
    if vectors.size == 0 and len(ids) == 0:
        return None
    if vectors.ndim != 2 or vectors.dtype.kind != "f":
        return f"vectors are not a 2-D float array (shape {vectors.shape}, type {vectors.dtype})"
    if vectors.shape[0] != len(ids):
        return f"{vectors.shape[0]} vectors for {len(ids)} worker ids"
    name = model.split("@")[0]
    dim = MODELS[name][1] if name in MODELS else None
    if vectors.shape[1] == 0 or (dim is not None and vectors.shape[1] != dim):
        return f"vectors have {vectors.shape[1]} dimensions" + (f", {name} gives {dim}" if dim else "")
    if not np.isfinite(vectors).all():
        return "vectors hold NaN or infinite values"
    return None


def load_embeddings(path: Path, label: str, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(worker ids, photo sha256s, vectors) of ``embeddings/<model>.npz``: one row per id, finite values, the
    model's dimension. The arrays are read-only (readers share them through a cache)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # np.load would try to unpickle anything else (and say so)
                raise CorruptFileError(path, label, "embeddings", "not a readable .npz file: not a zip archive")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as data:
                arrays = {name: data[name] for name in EMBEDDING_ARRAYS if name in data.files}
    except CorruptFileError:
        raise
    except PermissionError as exc:
        raise _unreadable(label, exc) from None
    except Exception as exc:  # truncated, pickled objects, ...: all say "unreadable"
        raise CorruptFileError(path, label, "embeddings", f"not a readable .npz file: {str(exc)[:200]}") from None
    problem = _embeddings_problem(arrays, model)
    if problem:
        raise CorruptFileError(path, label, "embeddings", problem)
    result = (arrays["worker_ids"].astype(object), arrays["photos"].astype(object), arrays["vectors"])
    for array in result:
        array.flags.writeable = False
    return result


# ------------------------------------------------------------------------------------------------ calibration
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _calibration_problem(calibration: Any) -> str | None:
    if not isinstance(calibration, dict):
        return "not a JSON object"
    for model, metrics in calibration.items():
        if not isinstance(metrics, dict):
            return f"{model!r}: not a JSON object of metrics"
        for metric, entry in metrics.items():
            where = f"{model} / {metric}"
            if not isinstance(entry, dict):
                return f"{where}: not a JSON object"
            if not _number(entry.get("threshold")) or entry["threshold"] <= 0:
                return f"{where}: the threshold is not a number greater than 0"
            margin = entry.get("margin")
            if margin is not None and (not _number(margin) or margin < 0):
                return f"{where}: the margin is not a number of at least 0"
            if "template" in entry and not isinstance(entry["template"], str):
                return f"{where}: the template is not a string"
    return None


def load_calibration(path: Path, label: str) -> dict:
    """``calibration.json`` ({} when absent): ``{embedding key: {metric: {"threshold": > 0, "margin": >= 0, ...}}}``."""
    if not path.exists():
        return {}
    calibration = _read_json(path, label, "calibration")
    problem = _calibration_problem(calibration)
    if problem:
        raise CorruptFileError(path, label, "calibration", problem)
    return calibration
