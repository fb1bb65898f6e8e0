"""Open-set 1:N identification at a realistic scale: hundreds of enrolled people, thousands of strangers.

Data layout (``../shared/data/faces/lfw-dev``)::

    people/<person>/<photos>     people with several photos: the first ``enroll`` are enrolled, the rest are probes
    strangers/<photos>           one photo each of people who are never enrolled: every one must stay "unknown"

People (and strangers) are split by a stable hash of their name into a *calibration* part, on which the threshold
and the ambiguity margin are chosen, and a *held-out* part, on which every quoted figure is measured, so the
figures are not fitted to themselves.

Measures, per part:

- rank-1: share of probes whose nearest worker is right (closed set, no threshold; probes without a detected face
  count as wrong; ``rank1_face_found`` is over probes with a face);
- DIR at FAR x (detection and identification rate): the threshold at which a share x of strangers is accepted as
  *some* worker; DIR is the share of probes named correctly there (nearest right, within the threshold, not
  ambiguous). Probes whose face is not found count as missed (detector recall counts too);
- the DIR-FAR curve (open-set ROC) and the genuine / stranger distance distributions.

Vectors are cached per photo file (size + mtime) and embedding key under ``cache_dir``, so re-runs are cheap.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FaceDashError, ImageError
from core.gallery import worker_distances
from core.images import IMAGE_SUFFIXES, load_image

log = logging.getLogger(__name__)

FAR_POINTS = (0.001, 0.01)


@dataclass(frozen=True)
class OpenSetData:
    people: dict[str, list[Path]]
    strangers: list[Path]


def is_open_set_layout(folder: Path) -> bool:
    return (Path(folder) / "people").is_dir() and (Path(folder) / "strangers").is_dir()


def load_open_set(folder: Path, people_limit: int | None = None, strangers_limit: int | None = None) -> OpenSetData:
    folder = Path(folder)
    if not is_open_set_layout(folder):
        raise FaceDashError(f"{folder}: expected people/<person>/<photos> and strangers/<photos>")

    def images(directory: Path) -> list[Path]:
        return sorted(f for f in directory.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)

    people = {d.name: images(d) for d in sorted((folder / "people").iterdir()) if d.is_dir()}
    people = {k: v for k, v in people.items() if len(v) >= 2}
    strangers = images(folder / "strangers")
    if people_limit:
        people = dict(list(people.items())[:people_limit])
    if strangers_limit:
        strangers = strangers[:strangers_limit]
    if len(people) < 2 or not strangers:
        raise FaceDashError(f"{folder}: need at least 2 people with 2+ photos and 1 stranger photo")
    return OpenSetData(people, strangers)


def part_of(name: str) -> str:
    """Stable split by name: about half 'calibration', half 'heldout'."""
    return "calibration" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "heldout"


def embed_paths(paths: list[Path], detector, embedders: dict, cache_dir: Path | None = None,
                progress=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per embedder label: (vectors (n, d) with NaN rows where no face was found, found mask (n,)).

    ``embedders`` maps a label to a callable ``(image, faces) -> vectors`` plus the key used for caching:
    ``{label: (key, fn, dim)}``. The largest face of each photo is used.
    """
    cached: dict[str, dict[str, np.ndarray]] = {}
    cache_files = {}
    for label, (key, _, _) in embedders.items():
        if cache_dir is not None:
            name = f"{key}-{getattr(detector, 'name', 'detector')}".replace("/", "_")
            cache_files[label] = Path(cache_dir) / f"openset-{name}.npz"
            if cache_files[label].is_file():
                with np.load(cache_files[label], allow_pickle=False) as data:
                    cached[label] = {k: v for k, v in zip(data["keys"], data["vectors"])}
    out: dict[str, list[np.ndarray]] = {label: [] for label in embedders}
    found = []
    for n, path in enumerate(paths):
        stat = path.stat()
        file_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        hits = {label: cached.get(label, {}).get(file_key) for label in embedders}
        complete = {label: h for label, h in hits.items() if h is not None}
        if len(complete) == len(hits):  # every embedder's vector is cached
            for label in embedders:
                out[label].append(complete[label])
            found.append(not np.isnan(complete[next(iter(embedders))]).any())
        else:
            try:
                image = load_image(path)
                faces = detector.detect(image)[:1]
            except ImageError:
                faces = []
            found.append(bool(faces))
            for label, (_, fn, dim) in embedders.items():
                vector = fn(image, faces)[0] if faces else np.full(dim, np.nan, np.float32)
                out[label].append(np.asarray(vector, np.float32))
                cached.setdefault(label, {})[file_key] = out[label][-1]
        if progress:
            progress(n + 1, len(paths))
    for label, file in cache_files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(cached[label].keys()))
        np.savez(file, keys=keys, vectors=np.stack(list(cached[label].values())))
    mask = np.asarray(found, bool)
    return {label: (np.stack(v) if v else np.zeros((0, 0), np.float32), mask) for label, v in out.items()}


@dataclass(frozen=True)
class Scores:
    """Per probe and stranger: nearest worker, its distance, the runner-up's distance (inf when not found)."""

    probe_truth: np.ndarray
    probe_nearest: np.ndarray
    probe_best: np.ndarray
    probe_second: np.ndarray
    stranger_best: np.ndarray
    stranger_second: np.ndarray
    templates: int


def score(gallery_vectors, gallery_ids, probe_vectors, probe_truth, stranger_vectors, metric: str,
          template: str) -> Scores:
    def nearest_two(vectors):
        n = len(vectors)
        best, second, nearest = np.full(n, np.inf), np.full(n, np.inf), np.array([None] * n, dtype=object)
        ok = ~np.isnan(vectors).any(axis=1) if n else np.zeros(0, bool)
        if ok.any():
            workers, d = worker_distances(vectors[ok], gallery_ids, gallery_vectors, metric, template)
            order = np.argsort(d, axis=1)
            rows = np.arange(len(d))
            best[ok] = d[rows, order[:, 0]]
            second[ok] = d[rows, order[:, 1]] if d.shape[1] > 1 else np.inf
            nearest[ok] = np.asarray(workers, dtype=object)[order[:, 0]]
        return nearest, best, second

    p_nearest, p_best, p_second = nearest_two(probe_vectors)
    _, s_best, s_second = nearest_two(stranger_vectors)
    return Scores(np.asarray(probe_truth, dtype=object), p_nearest, p_best, p_second, s_best, s_second,
                  len(gallery_ids))


def accepted(best: np.ndarray, second: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    return (best <= threshold) & ((second - best) >= margin)


def far(scores: Scores, threshold: float, margin: float) -> float:
    return float(accepted(scores.stranger_best, scores.stranger_second, threshold, margin).mean())


def dir_rate(scores: Scores, threshold: float, margin: float) -> float:
    ok = accepted(scores.probe_best, scores.probe_second, threshold, margin) & (scores.probe_nearest == scores.probe_truth)
    return float(ok.mean())


def threshold_at_far(scores: Scores, target: float, margin: float) -> float:
    """Largest threshold whose stranger acceptance is <= ``target`` (half-way to the next stranger distance)."""
    eligible = (scores.stranger_second - scores.stranger_best) >= margin
    d = np.sort(scores.stranger_best[eligible & np.isfinite(scores.stranger_best)])
    allowed = int(np.floor(target * len(scores.stranger_best) + 1e-9))
    if allowed >= len(d):
        return float(np.nanmax(scores.probe_best[np.isfinite(scores.probe_best)], initial=1.0))
    upper = d[allowed]
    lower = d[allowed - 1] if allowed > 0 else 0.0
    return float((lower + upper) / 2)


def rank1(scores: Scores) -> float:
    return float(np.mean(scores.probe_nearest == scores.probe_truth))


def curve(scores: Scores, margin: float, points: int = 60) -> dict:
    fars = np.unique(np.concatenate([np.logspace(-3, 0, points), FAR_POINTS]))
    rows = []
    for target in fars:
        t = threshold_at_far(scores, float(target), margin)
        rows.append({"far": far(scores, t, margin), "dir": dir_rate(scores, t, margin), "threshold": t})
    return {"far": [round(r["far"], 5) for r in rows], "dir": [round(r["dir"], 5) for r in rows],
            "threshold": [round(r["threshold"], 5) for r in rows]}


def choose_margin(scores: Scores, target_far: float, grid=None) -> tuple[float, float]:
    """The margin (and its threshold) that maximises DIR at ``target_far`` on the calibration part."""
    finite = scores.probe_best[np.isfinite(scores.probe_best)]
    scale = float(np.median(finite)) if finite.size else 1.0
    grid = grid if grid is not None else np.linspace(0, 0.3, 16) * scale
    best = (-1.0, 0.0, 0.0)
    for m in grid:
        t = threshold_at_far(scores, target_far, float(m))
        rate = dir_rate(scores, t, float(m))
        if rate > best[0] + 1e-9:
            best = (rate, float(m), t)
    return best[1], best[2]


def summary(scores: Scores, threshold: float, margin: float) -> dict:
    found = np.isfinite(scores.probe_best)
    out = {"rank1": round(rank1(scores), 4),
           "rank1_face_found": round(float(np.mean(scores.probe_nearest[found] == scores.probe_truth[found])), 4)
           if found.any() else 0.0,
           "probes": int(len(scores.probe_truth)),
           "probes_without_face": int(np.sum(~np.isfinite(scores.probe_best))),
           "strangers": int(len(scores.stranger_best)),
           "strangers_without_face": int(np.sum(~np.isfinite(scores.stranger_best))),
           "templates": scores.templates,
           "at_threshold": {"threshold": round(threshold, 5), "margin": round(margin, 5),
                            "far": round(far(scores, threshold, margin), 5),
                            "dir": round(dir_rate(scores, threshold, margin), 4)}}
    for target in FAR_POINTS:
        t = threshold_at_far(scores, target, margin)
        out[f"dir_at_far_{target:g}"] = round(dir_rate(scores, t, margin), 4)
        out[f"threshold_at_far_{target:g}"] = round(t, 5)
    return out


def split_vectors(data: OpenSetData, vectors: np.ndarray, enroll: int, part: str):
    """(gallery vectors, ids, probe vectors, probe truth, stranger vectors) of one part."""
    g_vec, g_ids, p_vec, p_truth = [], [], [], []
    row = 0
    for person, photos in data.people.items():
        rows = np.arange(row, row + len(photos))
        row += len(photos)
        if part != "all" and part_of(person) != part:
            continue
        enrolled = [r for r in rows[:enroll] if not np.isnan(vectors[r]).any()]
        if not enrolled:
            continue
        g_vec += [vectors[r] for r in enrolled]
        g_ids += [person] * len(enrolled)
        p_vec += [vectors[r] for r in rows[enroll:]]
        p_truth += [person] * len(rows[enroll:])
    s_rows = [row + i for i, p in enumerate(data.strangers) if part == "all" or part_of(p.stem) == part]
    dim = vectors.shape[1]
    return (np.asarray(g_vec, np.float32).reshape(-1, dim), np.asarray(g_ids, dtype=str),
            np.asarray(p_vec, np.float32).reshape(-1, dim), p_truth, vectors[s_rows].reshape(-1, dim))


def evaluate(data: OpenSetData, vectors: np.ndarray, metric: str, enroll: int = 2, template: str = "nearest",
             target_far: float = 0.01, use_margin: bool = True) -> dict:
    """Calibrate threshold (+ margin) on the calibration part, report both parts at it."""
    parts = {}
    for part in ("calibration", "heldout", "all"):
        g, ids, p, truth, s = split_vectors(data, vectors, enroll, part)
        if len(set(ids.tolist())) < 2 or not len(p) or not len(s):
            raise FaceDashError(
                f"the {part} part of this set has {len(set(ids.tolist()))} people with an enrollment photo, "
                f"{len(p)} photos to identify and {len(s)} strangers (people and strangers are split in two by a hash "
                f"of their name, {enroll} photo(s) each enrolled): each part needs at least 2 people, 1 more photo "
                "of someone and 1 stranger; use a larger set (lfw-dev has 452 people) or a smaller --enroll")
        parts[part] = score(g, ids, p, truth, s, metric, template)
    if use_margin:
        margin, threshold = choose_margin(parts["calibration"], target_far)
    else:
        margin, threshold = 0.0, threshold_at_far(parts["calibration"], target_far, 0.0)
    result: dict[str, Any] = {"metric": metric, "enroll_photos": enroll, "template": template,
                              "target_far": target_far, "threshold": round(threshold, 5), "margin": round(margin, 5)}
    for part, scores in parts.items():
        result[part] = summary(scores, threshold, margin)
        if part != "all":  # "all": the whole set's rank-1 and DIR at FAR (more strangers: finer FAR steps)
            result[part]["curve"] = curve(scores, margin)
    held = parts["heldout"]
    result["heldout"]["genuine_best"] = _round(held.probe_best[(held.probe_nearest == held.probe_truth)
                                                              & np.isfinite(held.probe_best)])
    result["heldout"]["stranger_best"] = _round(held.stranger_best[np.isfinite(held.stranger_best)])
    return result


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in np.sort(values)]


def people_paths(data: OpenSetData) -> list[Path]:
    return [p for photos in data.people.values() for p in photos] + list(data.strangers)
