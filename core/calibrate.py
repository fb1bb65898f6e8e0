"""Calibrating the identity threshold from labelled photos instead of only trusting library defaults.

Given ``LABELLED_DIR/<person>/<photo>``, embed one face per photo. Identification is 1:N - a face is compared
with *every* enrolled photo and the nearest one decides - so the threshold is calibrated on nearest-neighbour
distances, leave-one-out: for each photo, its *genuine* distance is the nearest other photo of the same person
(would it be recognised?) and its *impostor* distance is the nearest photo of anybody else (were this person not
enrolled, would they be taken for someone?). FAR(t) = share of impostor distances <= t (a stranger accepted as a
worker), FRR(t) = share of genuine distances > t (a worker left "unknown"). The chosen threshold is the largest one
whose FAR is at most ``target_far``, which also minimises FRR under that constraint.

Pairwise (1:1 verification) genuine/impostor distances are reported too (ROC AUC, EER), but a threshold chosen on
pairs is too loose for 1:N: with ~80 enrolled photos, a stranger's *nearest* photo is far closer than a typical
impostor pair (measured on the 5-people set with Dlib: pairwise FAR 1% at 0.071 let 29% of strangers through,
the 1:N criterion gives 0.056 with no stranger accepted).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.embedders import distance
from core.errors import FaceDashError, ImageError
from core.images import IMAGE_SUFFIXES, load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embedded:
    labels: list[str]
    paths: list[str]
    vectors: np.ndarray
    skipped: list[tuple[str, str]]


def embed_labelled_folder(folder: Path, engine, progress=None, pattern: str = "*") -> Embedded:
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceDashError(f"{folder}: labelled folder not found (expected <folder>/<person>/<photos>)")
    files = sorted(
        f for person in folder.iterdir() if person.is_dir() for f in person.glob(pattern) if f.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise FaceDashError(f"{folder}: no photos found in per-person sub-folders")
    labels, paths, rows, skipped = [], [], [], []
    for n, path in enumerate(files):
        try:
            image = load_image(path)
            faces = engine.detect(image)
        except ImageError as exc:
            skipped.append((str(path), str(exc)))
            continue
        if not faces:
            skipped.append((str(path), "no face found"))
        else:
            labels.append(path.parent.name)
            paths.append(str(path))
            rows.append(engine.embedder.embed_faces(image, faces[:1])[0])  # largest face, the model's chip
        if progress:
            progress(n + 1, len(files))
    vectors = np.asarray(rows, np.float32) if rows else np.zeros((0, engine.embedder.dim), np.float32)
    return Embedded(labels, paths, vectors, skipped)


def pair_distances(vectors: np.ndarray, labels: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor distances over all unordered pairs."""
    d = distance(vectors, vectors, metric)
    labels_arr = np.asarray(labels)
    same = labels_arr[:, None] == labels_arr[None, :]
    upper = np.triu(np.ones_like(same, dtype=bool), k=1)
    return d[same & upper], d[~same & upper]


def nearest_neighbour_distances(vectors: np.ndarray, labels: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out 1:N distances: per photo, the nearest same-person photo and the nearest other-person photo.

    Photos of a person with a single photo have no genuine distance (skipped there); a set with a single person has
    no impostor distances.
    """
    labels_arr = np.asarray(labels)
    d = distance(vectors, vectors, metric)
    np.fill_diagonal(d, np.inf)
    same = labels_arr[:, None] == labels_arr[None, :]
    genuine = np.where(same, d, np.inf).min(axis=1)
    impostor = np.where(~same, d, np.inf).min(axis=1)
    return genuine[np.isfinite(genuine)], impostor[np.isfinite(impostor)]


def far_frr(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray) -> list[dict]:
    rows = []
    for t in thresholds:
        far = float((impostor <= t).mean()) if impostor.size else 0.0
        frr = float((genuine > t).mean()) if genuine.size else 0.0
        rows.append({"threshold": float(t), "far": far, "frr": frr})
    return rows


def choose_threshold(genuine: np.ndarray, impostor: np.ndarray, target_far: float = 0.01) -> dict:
    """Largest threshold with FAR <= target_far; also reports the equal-error rate point."""
    if genuine.size == 0 or impostor.size == 0:
        raise FaceDashError("calibration needs at least two people with at least two usable photos each")
    candidates = np.unique(np.concatenate([genuine, impostor, [0.0]]))
    table = far_frr(genuine, impostor, candidates)
    allowed = [r for r in table if r["far"] <= target_far]
    best = max(allowed, key=lambda r: r["threshold"])
    # place the threshold half-way to the next impostor distance so it does not sit exactly on a sample
    above = impostor[impostor > best["threshold"]]
    threshold = (best["threshold"] + above.min()) / 2 if above.size else best["threshold"]
    eer_row = min(table, key=lambda r: abs(r["far"] - r["frr"]))
    final = far_frr(genuine, impostor, np.array([threshold]))[0]
    return {
        "threshold": float(threshold),
        "target_far": target_far,
        "far": final["far"],
        "frr": final["frr"],
        "eer": (eer_row["far"] + eer_row["frr"]) / 2,
        "eer_threshold": eer_row["threshold"],
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
    }


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a random genuine pair is closer than a random impostor pair (ties count half)."""
    from sklearn.metrics import roc_auc_score

    y = np.concatenate([np.ones(genuine.size), np.zeros(impostor.size)])
    scores = -np.concatenate([genuine, impostor])
    return float(roc_auc_score(y, scores))


def calibrate_vectors(vectors: np.ndarray, labels: list[str], metric: str, target_far: float = 0.01) -> dict:
    """Threshold from 1:N leave-one-out distances, plus pairwise AUC/EER and a FAR/FRR table for display."""
    if len(set(labels)) < 2:
        raise FaceDashError("calibration needs photos of at least two people (impostors are other people's photos)")
    genuine, impostor = nearest_neighbour_distances(vectors, labels, metric)
    result = choose_threshold(genuine, impostor, target_far)
    result["criterion"] = "1:N nearest neighbour, leave-one-out"
    # the distances the threshold was chosen from (kept in calibration.json for review; pairwise ones are not)
    result["genuine"] = [round(float(x), 5) for x in np.sort(genuine)]
    result["impostor"] = [round(float(x), 5) for x in np.sort(impostor)]
    pair_genuine, pair_impostor = pair_distances(vectors, labels, metric)
    pairwise = choose_threshold(pair_genuine, pair_impostor, target_far)
    result["pairwise"] = {"auc": roc_auc(pair_genuine, pair_impostor), "eer": pairwise["eer"],
                          "threshold_at_target_far": pairwise["threshold"], "genuine_pairs": pairwise["genuine_pairs"],
                          "impostor_pairs": pairwise["impostor_pairs"]}
    result["auc"] = roc_auc(genuine, impostor)
    lo = float(min(genuine.min(), impostor.min()))
    hi = float(max(genuine.max(), impostor.max()))
    result["table"] = far_frr(genuine, impostor, np.linspace(lo, hi, 21))
    return result


def calibrate(folder: Path, engine, target_far: float = 0.01, progress=None) -> dict:
    embedded = embed_labelled_folder(folder, engine, progress)
    metric = engine.settings.distance_metric
    result = calibrate_vectors(embedded.vectors, embedded.labels, metric, target_far)
    result.update(
        model=engine.embedder.key,
        metric=metric,
        photos=len(embedded.labels),
        people=len(set(embedded.labels)),
        skipped=[{"photo": p, "reason": r} for p, r in embedded.skipped],
        data=str(folder),
        computed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    return result


def calibrate_open_set(folder: Path, engine, target_far: float = 0.01, enroll: int = 2, progress=None,
                       cache_dir: Path | None = None) -> dict:
    """Threshold and ambiguity margin from a people/ + strangers/ folder (core/openset.py).

    The first ``enroll`` photos of each person are enrolled (in memory), the rest are probes, every stranger is
    presented; threshold and margin are chosen on the calibration half (FAR <= ``target_far`` of its strangers,
    highest identification rate) and the held-out half reports what they give on people they were not fitted to.
    """
    from core import openset

    data = openset.load_open_set(folder)
    paths = openset.people_paths(data)
    embedder = engine.embedder
    embedded = openset.embed_paths(paths, engine.detector, {"model": (embedder.key, embedder.embed_faces, embedder.dim)},
                                   cache_dir, progress)
    vectors, found = embedded["model"]
    metric = engine.settings.distance_metric
    result = openset.evaluate(data, vectors, metric, enroll, engine.settings.identity_template, target_far)
    for part in ("calibration", "heldout", "all"):  # the saved calibration keeps figures, not curves or distances
        for bulky in ("curve", "genuine_best", "stranger_best"):
            result[part].pop(bulky, None)
    result.update(
        model=embedder.key,
        criterion=f"open-set 1:N ({enroll} enrollment photos per person, strangers never enrolled), "
                  "calibration half of people and strangers",
        people=len(data.people), strangers=len(data.strangers), photos=len(paths),
        photos_without_face=int((~found).sum()), detector=engine.detector.name, data=str(folder),
        far=result["calibration"]["at_threshold"]["far"],
        computed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    return result
