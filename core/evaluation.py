"""Evaluation of every model on real labelled data, written as JSON for the dashboard's evaluation page.

Emotion (``evaluate_emotion``): each backend in :data:`core.emotions.EMOTION_BACKENDS` that loads is run on the
FER-2013 PrivateTest faces (48x48 gray, given to the backend as BGR uint8; each backend resizes as it needs). We
report accuracy, the 7x7 confusion matrix, per-class precision / recall / F1 / specificity, one-vs-rest ROC curves
with AUC, and a 3-class valence view (positive / negative / neutral, :data:`core.types.EMOTION_VALENCE`; the valence
probability is the sum of its classes' probabilities, the predicted valence its arg-max). Backends that cannot load
here (missing weights) are recorded as ``"not available: <why>"`` instead of failing the run.

Identity (``evaluate_identity``): on ``<person>/train__*|val__*`` photos, for each recognition model that loads:
genuine vs impostor distance distributions over all photo pairs, ROC / AUC / EER and FAR / FRR vs threshold; the
threshold chosen by :func:`core.calibrate.calibrate_vectors` on train photos (1:N leave-one-out, target FAR 1%); top-1 accuracy
enrolling the train photos through :meth:`FaceEngine.enroll` into a temporary gallery and identifying the val photos
with :meth:`FaceEngine.analyze`; and the open-set check (leave one person out of the gallery: their photos must
come out "unknown" at the calibrated threshold).

Files (``<out>`` defaults to ``Settings.evaluation_dir`` = ``data/evaluation``): ``emotion_<backend>.json``,
``emotion_summary.json``, ``identity.json`` (the model the engine would pick) and ``identity_<model>.json``.

Command line (full run = ``--subset 0``, the default)::

    python -m core.evaluation emotion [--subset N] [--out DIR] [--backends fer,own]
    python -m core.evaluation identity [--subset N] [--out DIR] [--models Dlib,VGG-Face]

The plotting helpers at the end build Plotly figures from the JSON dictionaries, so the notebooks (and the
dashboard) draw exactly what was written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import PROJECT_ROOT, Settings, load_settings
from core.errors import EnrollmentError, FaceDashError, ImageError
from core.types import EMOTION_VALENCE, EMOTIONS

log = logging.getLogger(__name__)

VALENCES: tuple[str, ...] = ("positive", "negative", "neutral")
#: FER-2013 split names as stored in the npz (``split`` key).
FER_SPLITS = ("train", "PublicTest", "PrivateTest")
MAX_CURVE_POINTS = 101
DEFAULT_TARGET_FAR = 0.01
CONSENT_TEXT = (
    "Evaluation only: public research photos (5-celebrity-faces) enrolled into a temporary gallery that is deleted "
    "after the run."
)


# ================================================================================================ data
def shared_data_dir() -> Path:
    """The read-only shared data folder: ``$EVAL_DATA_DIR`` or ``../shared/data`` next to the repository."""
    return Path(os.environ.get("EVAL_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "data")))


def fer2013_path() -> Path:
    return shared_data_dir() / "fer2013" / "fer2013.npz"


def celebrity_faces_dir() -> Path:
    return shared_data_dir() / "faces" / "5-celebrity-faces"


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


# ================================================================================================ metrics
def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_metrics(confusion: np.ndarray, labels) -> dict[str, dict]:
    """Precision, recall, F1, specificity and support per class from a confusion matrix (0 where undefined)."""
    confusion = np.asarray(confusion, np.float64)
    total = confusion.sum()
    out = {}
    for k, label in enumerate(labels):
        tp = confusion[k, k]
        fn = confusion[k].sum() - tp
        fp = confusion[:, k].sum() - tp
        tn = total - tp - fn - fp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        specificity = tn / (tn + fp) if tn + fp else 0.0
        out[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                      "specificity": float(specificity), "support": int(tp + fn)}
    return out


def downsample_curve(x, y, max_points: int = MAX_CURVE_POINTS) -> tuple[list[float], list[float]]:
    """Keep at most ``max_points`` vertices of a curve, evenly spaced along its length, always both ends."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) <= max_points:
        return x.tolist(), y.tolist()
    length = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    targets = np.linspace(0.0, length[-1], max_points)
    idx = np.unique(np.clip(np.searchsorted(length, targets), 0, len(x) - 1))
    idx = np.unique(np.concatenate([[0], idx, [len(x) - 1]]))
    if len(idx) > max_points:  # ties at the ends can add one or two; thin evenly
        idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, max_points)).astype(int))]
    return x[idx].tolist(), y[idx].tolist()


def one_vs_rest_roc(y_true, probabilities, labels) -> dict[str, dict]:
    """Per class: ROC curve (class k vs the rest, scored by p_k), downsampled, and its AUC (None if undefined)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true)
    out = {}
    for k, label in enumerate(labels):
        positive = y_true == k
        if positive.all() or not positive.any():
            out[label] = {"fpr": [], "tpr": [], "auc": None}
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, k])
        fpr_s, tpr_s = downsample_curve(fpr, tpr)
        out[label] = {"fpr": _round(fpr_s), "tpr": _round(tpr_s), "auc": float(roc_auc_score(positive, probabilities[:, k]))}
    return out


def valence_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, 7) emotion probabilities -> (N, 3) valence probabilities in :data:`VALENCES` order (sums of classes)."""
    probabilities = np.asarray(probabilities, np.float64)
    mapping = np.zeros((len(EMOTIONS), len(VALENCES)))
    for k, emotion in enumerate(EMOTIONS):
        mapping[k, VALENCES.index(EMOTION_VALENCE[emotion])] = 1.0
    return probabilities @ mapping


def valence_index(emotion_labels) -> np.ndarray:
    """Emotion class indices -> valence indices in :data:`VALENCES` order."""
    lookup = np.array([VALENCES.index(EMOTION_VALENCE[e]) for e in EMOTIONS])
    return lookup[np.asarray(emotion_labels, np.int64)]


def emotion_metrics(y_true, probabilities) -> dict:
    """All emotion metrics (the JSON schema's metric part) from true labels and (N, 7) probabilities."""
    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape != (len(y_true), len(EMOTIONS)):
        raise ValueError(f"probabilities should be ({len(y_true)}, {len(EMOTIONS)}), got {probabilities.shape}")
    y_pred = probabilities.argmax(axis=1)
    confusion = confusion_matrix(y_true, y_pred, len(EMOTIONS))
    v_true = valence_index(y_true)
    v_pred = valence_probabilities(probabilities).argmax(axis=1)
    v_confusion = confusion_matrix(v_true, v_pred, len(VALENCES))
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()),
        "labels": list(EMOTIONS),
        "confusion": confusion.tolist(),
        "per_class": per_class_metrics(confusion, EMOTIONS),
        "roc": one_vs_rest_roc(y_true, probabilities, EMOTIONS),
        "valence": {
            "accuracy": float((v_pred == v_true).mean()),
            "labels": list(VALENCES),
            "confusion": v_confusion.tolist(),
            "per_class": per_class_metrics(v_confusion, VALENCES),
        },
    }


def _round(values, digits: int = 5) -> list:
    return [round(float(v), digits) for v in values]


# ================================================================================================ JSON
def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_json(path: Path, payload: dict) -> Path:
    """Write strict JSON (no NaN) atomically: a reader never sees half a file."""
    from core.gallery import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, (json.dumps(payload, indent=1, allow_nan=False) + "\n").encode())
    os.chmod(path, 0o644)  # readable by the dashboard's user, like any committed file
    log.info("wrote %s", path)
    return path


#: Keys the dashboard's evaluation page reads; tests check written files against them.
EMOTION_KEYS = ("backend", "dataset", "split", "n", "computed_at", "accuracy", "labels", "confusion", "per_class",
                "roc", "valence", "seconds_per_face")
IDENTITY_KEYS = ("model", "metric", "dataset", "computed_at", "top1_accuracy", "top1_correct", "top1_total",
                 "threshold", "threshold_source", "auc", "eer", "genuine", "impostor", "far_frr", "roc",
                 "unknown_rejection", "models_unavailable")


# ================================================================================================ emotion
def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "face"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, file=sys.stderr)


def predict_probabilities(model, crops: list[np.ndarray], batch_size: int = 256, progress: bool = True
                          ) -> tuple[np.ndarray, float]:
    """Run ``model.predict`` in batches -> ((N, 7) probabilities, seconds per face)."""
    out = np.zeros((len(crops), len(EMOTIONS)), np.float64)
    elapsed = 0.0
    with _progress_bar(len(crops), f"emotion {getattr(model, 'name', '?')}", progress) as bar:
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


def evaluate_emotion(backends: list[str] | None = None, subset: int = 0, out_dir: Path | None = None,
                     settings: Settings | None = None, split: str = "PrivateTest", data_path: Path | None = None,
                     progress: bool = True) -> EmotionEvaluation:
    """Every requested (default: every registered) emotion backend on FER-2013 ``split``; writes JSON to ``out_dir``."""
    from core.emotions import EMOTION_BACKENDS
    from core.errors import ConfigError

    settings = settings or load_settings()
    names = [b.strip().lower() for b in (backends or EMOTION_BACKENDS.names()) if b.strip()]
    unknown = [b for b in names if b not in EMOTION_BACKENDS]
    if unknown:
        raise ConfigError(f"unknown emotion backend(s) {', '.join(unknown)}; choose from {', '.join(EMOTION_BACKENDS.names())}")
    pixels, labels = load_fer2013(data_path, split, subset)
    log.info("FER-2013 %s: %d faces%s", split, len(labels), f" (subset {subset})" if subset else "")
    evaluation = EmotionEvaluation()
    for name in names:
        try:
            model = load_emotion_backend(name, settings)
        except FaceDashError as exc:
            evaluation.unavailable[name] = f"not available: {exc}"
            log.warning("emotion backend %s %s", name, evaluation.unavailable[name])
            continue
        except (OSError, ValueError, RuntimeError) as exc:  # e.g. a model file still being written
            evaluation.unavailable[name] = f"not available: failed to load ({type(exc).__name__}: {exc})"
            log.warning("emotion backend %s %s", name, evaluation.unavailable[name])
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


# ================================================================================================ identity
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


@dataclass
class Embeddings:
    photos: list[LabelledPhoto]
    vectors: np.ndarray
    skipped: list[dict]
    seconds_per_photo: float

    @property
    def labels(self) -> list[str]:
        return [p.person for p in self.photos]

    def select(self, keep) -> Embeddings:
        keep = [i for i, p in enumerate(self.photos) if keep(p)]
        return Embeddings([self.photos[i] for i in keep], self.vectors[keep], self.skipped, self.seconds_per_photo)


def embed_photos(engine, photos: list[LabelledPhoto], progress: bool = True) -> Embeddings:
    """Detect (largest face) and embed each photo with the engine's detector and recognition model."""
    from core.images import load_image

    kept, rows, skipped = [], [], []
    t0 = time.perf_counter()
    with _progress_bar(len(photos), f"embed {engine.embedder.name}", progress, "photo") as bar:
        for photo in photos:
            try:
                image = load_image(photo.path)
                faces = engine.detect(image)
            except ImageError as exc:
                skipped.append({"person": photo.person, "photo": photo.name, "reason": str(exc)})
            else:
                if faces:
                    kept.append(photo)
                    rows.append(engine.embedder.embed_faces(image, faces[:1])[0])  # largest face, model's chip
                else:
                    skipped.append({"person": photo.person, "photo": photo.name, "reason": "no face found"})
            bar.update(1)
        vectors = np.asarray(rows, np.float32) if rows else np.zeros((0, engine.embedder.dim), np.float32)
    seconds = (time.perf_counter() - t0) / max(len(photos), 1)
    return Embeddings(kept, np.asarray(vectors, np.float32), skipped, seconds)


def verification_metrics(genuine: np.ndarray, impostor: np.ndarray, n_thresholds: int = MAX_CURVE_POINTS) -> dict:
    """AUC, EER, ROC (downsampled) and a FAR / FRR table over evenly spaced thresholds."""
    from sklearn.metrics import roc_curve

    from core.calibrate import choose_threshold, far_frr, roc_auc

    y = np.concatenate([np.ones(genuine.size), np.zeros(impostor.size)])
    fpr, tpr, _ = roc_curve(y, -np.concatenate([genuine, impostor]))
    fpr_s, tpr_s = downsample_curve(fpr, tpr)
    everything = np.concatenate([genuine, impostor])
    table = far_frr(genuine, impostor, np.linspace(everything.min(), everything.max(), n_thresholds))
    eer = choose_threshold(genuine, impostor)
    return {
        "auc": roc_auc(genuine, impostor),
        "eer": float(eer["eer"]),
        "eer_threshold": float(eer["eer_threshold"]),
        "roc": {"fpr": _round(fpr_s), "tpr": _round(tpr_s)},
        "far_frr": [{k: round(v, 6) for k, v in row.items()} for row in table],
    }


def _rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> dict:
    from core.calibrate import far_frr

    row = far_frr(genuine, impostor, np.array([threshold]))[0]
    return {"far": row["far"], "frr": row["frr"], "genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size)}


def identity_settings(gallery_dir: Path, model: str, base: Settings | None = None) -> Settings:
    """Settings for an evaluation engine: a throw-away gallery, the given model, no threshold override, no emotion."""
    overrides = {"gallery_dir": gallery_dir, "recognition_model": model, "identity_threshold": None,
                 "emotion_enabled": False, "emotion_purpose": None}
    if base is not None:
        keep = ("detector", "distance_metric", "detector_min_confidence", "min_face_size", "enroll_min_face_size",
                "enroll_min_sharpness", "max_image_pixels", "data_dir", "deepface_home")
        overrides = {**{k: getattr(base, k) for k in keep}, **overrides}
    return load_settings(**overrides)


def evaluate_identity_model(model: str, photos: list[LabelledPhoto], settings: Settings | None = None,
                            target_far: float = DEFAULT_TARGET_FAR, progress: bool = True, work_dir: Path | None = None
                            ) -> dict:
    """One recognition model on labelled photos -> the ``identity_<model>.json`` payload (minus models_unavailable).

    Raises FaceDashError (e.g. WeightsMissingError) when the model cannot load.
    """
    from core.calibrate import calibrate_vectors, pair_distances
    from core.engine import FaceEngine
    from core.gallery import Consent, Gallery

    own_tmp = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="facedash-eval-")) if own_tmp else Path(work_dir)
    try:
        engine = FaceEngine(identity_settings(work / "gallery", model, settings), load_emotion=False)
        metric = engine.settings.distance_metric
        name = engine.embedder.key  # gallery files and calibration are per model *and* alignment
        people = sorted({p.person for p in photos})

        # 1. embeddings of every photo (largest face), pair distances
        emb = embed_photos(engine, photos, progress)
        train = emb.select(lambda p: p.split == "train")
        genuine, impostor = pair_distances(emb.vectors, emb.labels, metric)
        train_genuine, train_impostor = pair_distances(train.vectors, train.labels, metric)

        # 2. the threshold: calibrated on train photos only (1:N leave-one-out, as the product's `calibrate` does),
        #    saved into the temporary gallery
        calibration = calibrate_vectors(train.vectors, train.labels, metric, target_far)
        calibration.update(model=name, metric=metric, computed_at=utc_now_iso(), data="train__ photos")
        engine.gallery.save_calibration(name, metric, calibration)
        threshold, source = engine.threshold()
        if not source.startswith("calibrated"):
            raise FaceDashError(f"evaluation gallery did not pick up its calibration (threshold source: {source})")
        threshold_source = (f"calibrated with core.calibrate.calibrate_vectors (1:N nearest neighbour, leave-one-out) "
                            f"on train__ photos, target FAR {target_far:.0%}")

        # 3. closed set: enroll train photos through the engine, identify val photos through analyze()
        consent = Consent(CONSENT_TEXT, given_by="public research data set (5-celebrity-faces)",
                          recorded_by="core.evaluation")
        enrollment: dict[str, dict] = {}
        by_person = {p: [ph for ph in photos if ph.person == p and ph.split == "train"] for p in people}
        with _progress_bar(len(people), "enroll", progress, "person") as bar:
            for person in people:
                try:
                    report = engine.enroll(person, [(ph.name, ph.path.read_bytes()) for ph in by_person[person]], consent)
                    verdicts = report.verdicts
                except EnrollmentError as exc:
                    verdicts = exc.verdicts
                enrollment[person] = {
                    "accepted": sum(v.accepted for v in verdicts),
                    "rejected": [{"photo": v.name, "reason": v.reason} for v in verdicts if not v.accepted],
                }
                bar.update(1)
        enrolled = [p for p in people if enrollment[p]["accepted"]]
        if len(enrolled) < 2:
            raise FaceDashError(f"only {len(enrolled)} person(s) could be enrolled; the evaluation needs at least 2")

        from core.images import load_image

        identifications = []
        val_photos = [p for p in photos if p.split == "val"]
        with _progress_bar(len(val_photos), "identify", progress, "photo") as bar:
            for photo in val_photos:
                observations = engine.analyze(load_image(photo.path), source="cli")
                if observations:
                    match = observations[0].identity  # largest face
                    identifications.append({"person": photo.person, "photo": photo.name,
                                            "nearest": match.nearest_worker_id, "identified": match.worker_id,
                                            "distance": round(float(match.distance), 5)})
                else:
                    identifications.append({"person": photo.person, "photo": photo.name, "nearest": None,
                                            "identified": None, "distance": None})
                bar.update(1)
        correct = sum(r["nearest"] == r["person"] for r in identifications)
        accepted_correct = sum(r["identified"] == r["person"] for r in identifications)

        # 4. open set, leave one person out: a copy of the gallery without them, their photos must be unknown
        per_person, per_person_fold, fold_thresholds, rejected_total, probes_total, rejected_fold = {}, {}, {}, 0, 0, 0
        stranger_nearest: list[float] = []  # distance from each held-out photo to the nearest enrolled photo
        for person in people:
            probes = emb.select(lambda p, person=person: p.person == person)
            if not len(probes.photos):
                continue
            fold = work / f"fold-{person}"
            shutil.copytree(engine.gallery.folder, fold)
            gallery = Gallery(fold)
            if gallery.has_worker(person):
                gallery.erase(person)
            matches = gallery.identify(probes.vectors, name, metric, threshold)
            rejected = sum(m.worker_id is None for m in matches)
            stranger_nearest += [float(m.distance) for m in matches]
            per_person[person] = rejected / len(matches)
            rejected_total += rejected
            probes_total += len(matches)
            # stricter variant: threshold calibrated without ever seeing the held-out person
            rest = train.select(lambda p, person=person: p.person != person)
            fold_threshold = calibrate_vectors(rest.vectors, rest.labels, metric, target_far)["threshold"]
            fold_matches = gallery.identify(probes.vectors, name, metric, fold_threshold)
            fold_rejected = sum(m.worker_id is None for m in fold_matches)
            per_person_fold[person] = fold_rejected / len(fold_matches)
            fold_thresholds[person] = fold_threshold
            rejected_fold += fold_rejected
            shutil.rmtree(fold, ignore_errors=True)

        heldout_genuine, heldout_impostor = _heldout_pairs(emb, metric)
        verification = verification_metrics(genuine, impostor)
        curve_thresholds = [row["threshold"] for row in verification["far_frr"]]
        return {
            "model": name,
            "metric": metric,
            "dataset": "5-celebrity-faces",
            "detector": engine.detector.name,
            "computed_at": utc_now_iso(),
            "people": people,
            "photos": {"train": sum(p.split == "train" for p in photos), "val": len(val_photos),
                       "embedded": len(emb.photos), "skipped": emb.skipped},
            "top1_accuracy": correct / len(identifications) if identifications else 0.0,
            "top1_correct": int(correct),
            "top1_total": len(identifications),
            "top1_identified_at_threshold": accepted_correct / len(identifications) if identifications else 0.0,
            "identifications": identifications,
            "enrollment": enrollment,
            "threshold": float(threshold),
            "threshold_source": threshold_source,
            "target_far": target_far,
            "calibration": {k: v for k, v in calibration.items() if k not in ("model", "metric")},
            "rates_at_threshold": {
                "train_pairs": _rates_at(train_genuine, train_impostor, threshold),
                "pairs_with_a_val_photo": _rates_at(heldout_genuine, heldout_impostor, threshold),
                "all_pairs": _rates_at(genuine, impostor, threshold),
            },
            "auc": verification["auc"],
            "eer": verification["eer"],
            "eer_threshold": verification["eer_threshold"],
            "pairs": "all photo pairs (train__ and val__)",
            "genuine": _round(genuine),
            "impostor": _round(impostor),
            "far_frr": verification["far_frr"],
            "roc": verification["roc"],
            "unknown_rejection": {"overall": rejected_total / probes_total if probes_total else 0.0,
                                  "per_person": per_person, "probes": probes_total,
                                  "threshold": float(threshold)},
            "unknown_rejection_fold_calibrated": {
                "overall": rejected_fold / probes_total if probes_total else 0.0,
                "per_person": per_person_fold, "thresholds": fold_thresholds,
                "note": "threshold re-calibrated per fold (1:N leave-one-out) on the 4 enrolled people's train__ photos only",
            },
            "open_set_curve": open_set_curve(identifications, stranger_nearest, curve_thresholds),
            "seconds_per_photo": emb.seconds_per_photo,
        }
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


def open_set_curve(identifications: list[dict], stranger_nearest: list[float], thresholds) -> list[dict]:
    """The open-set trade-off per threshold: share of held-out people's photos rejected as unknown, and share of
    enrolled people's val photos accepted as the right person (a photo with no face counts as not accepted)."""
    strangers = np.asarray(stranger_nearest, np.float64)
    right = np.array([r["distance"] if r["nearest"] == r["person"] and r["distance"] is not None else np.inf
                      for r in identifications], np.float64)
    return [{"threshold": round(float(t), 6),
             "unknown_rejection": round(float((strangers > t).mean()), 6) if strangers.size else 0.0,
             "known_accepted": round(float((right <= t).mean()), 6) if right.size else 0.0}
            for t in thresholds]


def _heldout_pairs(emb: Embeddings, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with at least one val photo (not used for calibration)."""
    from core.embedders import distance

    d = distance(emb.vectors, emb.vectors, metric)
    labels = np.asarray(emb.labels)
    is_val = np.array([p.split == "val" for p in emb.photos])
    upper = np.triu(np.ones_like(d, dtype=bool), k=1)
    use = upper & (is_val[:, None] | is_val[None, :])
    same = labels[:, None] == labels[None, :]
    return d[use & same], d[use & ~same]


@dataclass
class IdentityEvaluation:
    results: dict[str, dict] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    primary: str | None = None
    written: list[Path] = field(default_factory=list)

    @property
    def result(self) -> dict | None:
        """The ``identity.json`` payload (the primary model's result with models_unavailable), None if none loaded."""
        if self.primary is None:
            return None
        return {**self.results[self.primary], "models_unavailable": self.unavailable,
                "models_evaluated": {m: {"top1_accuracy": r["top1_accuracy"], "auc": r["auc"], "eer": r["eer"],
                                         "threshold": r["threshold"], "file": f"identity_{m}.json"}
                                     for m, r in self.results.items()}}


def evaluate_identity(models: list[str] | None = None, subset: int = 0, out_dir: Path | None = None,
                      settings: Settings | None = None, folder: Path | None = None,
                      target_far: float = DEFAULT_TARGET_FAR, progress: bool = True) -> IdentityEvaluation:
    """Every requested (default: every registered) recognition model; writes identity JSON files to ``out_dir``."""
    from core.embedders import EMBEDDERS, resolve_recognition_model
    from core.engine import prepare_weights
    from core.errors import ConfigError

    settings = settings or load_settings()
    from core.embedders import MODEL_NAMES

    names = [MODEL_NAMES.get(m.strip().lower(), m.strip()) for m in (models or EMBEDDERS.names()) if m.strip()]
    unknown = [m for m in names if m.lower() not in EMBEDDERS]
    if unknown:
        raise ConfigError(f"unknown recognition model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES.values())}")
    photos = list_labelled_photos(folder, subset)
    log.info("identity data: %d photos of %d people%s", len(photos), len({p.person for p in photos}),
             f" (subset {subset} per person)" if subset else "")
    evaluation = IdentityEvaluation()
    for name in names:
        try:
            evaluation.results[name] = {**evaluate_identity_model(name, photos, settings, target_far, progress),
                                        "subset": subset}
        except FaceDashError as exc:
            evaluation.unavailable[name] = f"not available: {exc}"
            log.warning("recognition model %s %s", name, evaluation.unavailable[name])
            continue
        r = evaluation.results[name]
        log.info("identity %s: top-1 %d/%d, AUC %.4f, EER %.4f, threshold %.4f, unknown rejection %.3f", name,
                 r["top1_correct"], r["top1_total"], r["auc"], r["eer"], r["threshold"], r["unknown_rejection"]["overall"])
    if evaluation.results:
        preferred = resolve_recognition_model(settings.recognition_model, prepare_weights(settings)).name
        evaluation.primary = preferred if preferred in evaluation.results else next(iter(evaluation.results))
    if out_dir is not None:
        out_dir = Path(out_dir)
        for name, result in evaluation.results.items():
            evaluation.written.append(write_json(out_dir / f"identity_{name}.json",
                                                 {**result, "models_unavailable": evaluation.unavailable}))
        if evaluation.result is not None:
            evaluation.written.append(write_json(out_dir / "identity.json", evaluation.result))
        else:
            raise FaceDashError(f"no recognition model could be evaluated: {evaluation.unavailable}")
    return evaluation


# ================================================================================================ figures
def configure_plotly_renderer(prefer_static: bool = True) -> str:
    """Pick the notebook renderer: a static PNG plus the interactive figure (``plotly_mimetype+png``) when kaleido
    can export here, which keeps notebooks small and readable where no JavaScript runs (GitHub); else
    ``notebook_connected`` (plotly.js loaded from the CDN when the notebook is opened)."""
    import plotly.io as pio

    renderer = "notebook_connected"
    if prefer_static and static_export_available():
        renderer = "plotly_mimetype+png"
        png = pio.renderers["png"]
        png.width, png.height, png.scale = 900, 520, 1
    pio.renderers.default = renderer
    log.info("plotly renderer: %s", renderer)
    return renderer


_STATIC_EXPORT: bool | None = None


def static_export_available(timeout_s: float = 60.0) -> bool:
    """True when plotly can write PNGs here (kaleido plus a Chrome/Chromium). Starts one export browser, reused.

    Checked once per process; a missing package or browser, or a browser that does not answer within
    ``timeout_s``, means False (the notebooks then use the interactive renderer only)."""
    global _STATIC_EXPORT
    if _STATIC_EXPORT is not None:
        return _STATIC_EXPORT
    _STATIC_EXPORT = False
    try:
        import kaleido
        from choreographer.browsers.chromium import Chromium
    except ImportError as exc:
        log.info("static plotly export unavailable here (%s)", exc)
        return False
    browser = Chromium.find_browser(skip_local=False)
    if not browser or not (Path(browser).is_file() and os.access(browser, os.X_OK)):
        log.info("static plotly export unavailable here: no Chrome/Chromium found (found %r)", browser)
        return False

    import atexit
    import threading
    import warnings

    import plotly.graph_objects as go
    import plotly.io as pio

    outcome: list[bool] = []

    def probe() -> None:
        try:
            warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
            kaleido.start_sync_server(silence_warnings=True)
            atexit.register(kaleido.stop_sync_server, silence_warnings=True)
            pio.to_image(go.Figure(), format="png", width=10, height=10)
            outcome.append(True)
        except Exception as exc:  # any failure of the export browser means "no static export here"
            log.info("static plotly export unavailable here (%s: %s)", type(exc).__name__, exc)

    worker = threading.Thread(target=probe, name="kaleido-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("static plotly export: %s did not answer within %.0f s; not using it", browser, timeout_s)
    _STATIC_EXPORT = bool(outcome)
    return _STATIC_EXPORT


def export_figures(figures: dict, folder: Path, width: int = 900, height: int = 520) -> list[Path]:
    """Write ``{name: figure}`` as ``<folder>/<name>.png`` (atomic); nothing, with a log line, without kaleido."""
    from core.gallery import atomic_write_bytes

    if not static_export_available():
        log.warning("not exporting %d figure(s): static export (kaleido + Chromium) is not available", len(figures))
        return []
    written = []
    for name, fig in figures.items():
        path = Path(folder) / f"{name}.png"
        atomic_write_bytes(path, fig.to_image(format="png", width=width, height=height, scale=1))
        os.chmod(path, 0o644)
        written.append(path)
    return written


def _title(result: dict, what: str) -> str:
    return f"{result.get('backend') or result.get('model')} - {what}"


def confusion_figure(result: dict, normalize: bool = True, valence: bool = False):
    """Heat map of the (row-normalized) confusion matrix; rows = true class."""
    import plotly.graph_objects as go

    part = result["valence"] if valence else result
    counts = np.asarray(part["confusion"], np.float64)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    text = [[f"{v:.2f}<br>({int(c)})" if normalize else f"{int(c)}" for v, c in zip(row, crow)]
            for row, crow in zip(values, counts)]
    fig = go.Figure(go.Heatmap(z=values, x=part["labels"], y=part["labels"], text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1 if normalize else None,
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=_title(result, f"{'valence ' if valence else ''}confusion matrix"
                                           f"{' (row-normalized: recall on the diagonal)' if normalize else ''}"),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", height=520, width=620)
    return fig


def per_class_figure(result: dict):
    import plotly.graph_objects as go

    labels = result["labels"]
    fig = go.Figure()
    for metric in ("precision", "recall", "f1", "specificity"):
        fig.add_bar(name=metric, x=labels, y=[result["per_class"][c][metric] for c in labels])
    fig.update_layout(title=_title(result, "per-class metrics"), barmode="group", yaxis_range=[0, 1], height=420)
    return fig


def roc_figure(result: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, curve in result["roc"].items():
        if curve["auc"] is not None:
            fig.add_scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=f"{label} (AUC {curve['auc']:.3f})")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title=_title(result, "one-vs-rest ROC"), xaxis_title="false positive rate",
                      yaxis_title="true positive rate", height=520, width=700)
    return fig


def comparison_table(evaluation: EmotionEvaluation):
    """One row per backend: accuracy, valence accuracy, macro F1, ms/face, or why it is unavailable."""
    import pandas as pd

    rows = []
    for name, info in evaluation.summary["backends"].items():
        if info["available"]:
            rows.append({"backend": name, "accuracy": round(info["accuracy"], 4),
                         "valence accuracy": round(info["valence_accuracy"], 4), "macro F1": round(info["macro_f1"], 4),
                         "ms / face": round(1000 * info["seconds_per_face"], 3), "status": "evaluated"})
        else:
            rows.append({"backend": name, "status": info["reason"]})
    return pd.DataFrame(rows).set_index("backend")


def per_class_table(result: dict):
    import pandas as pd

    table = pd.DataFrame(result["per_class"]).T
    table["auc"] = [result["roc"][c]["auc"] for c in table.index]
    return table.round(4)


def distance_histogram_figure(result: dict):
    import plotly.graph_objects as go

    everything = list(result["genuine"]) + list(result["impostor"])
    lo, hi = min(everything), max(everything)
    bins = {"start": lo, "end": hi, "size": (hi - lo) / 60 or 1.0}
    fig = go.Figure()
    fig.add_histogram(x=result["genuine"], name=f"genuine (same person, {len(result['genuine'])} pairs)",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_histogram(x=result["impostor"], name=f"impostor (different people, {len(result['impostor'])} pairs)",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text=f"threshold {result['threshold']:.3f}")
    fig.update_layout(title=_title(result, f"{result['metric']} distance distributions"), barmode="overlay",
                      xaxis_title=f"{result['metric']} distance", yaxis_title="density", height=450)
    return fig


def identity_roc_figure(result: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=result["roc"]["fpr"], y=result["roc"]["tpr"], mode="lines", name=f"AUC {result['auc']:.4f}")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title=_title(result, "verification ROC (all photo pairs)"), xaxis_title="false accept rate",
                      yaxis_title="true accept rate", height=450, width=600)
    return fig


def far_frr_figure(result: dict):
    import plotly.graph_objects as go

    rows = result["far_frr"]
    fig = go.Figure()
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["far"] for r in rows], name="FAR (stranger accepted)")
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["frr"] for r in rows], name="FRR (worker rejected)")
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text="calibrated threshold")
    fig.update_layout(title=_title(result, f"FAR / FRR vs threshold (EER {result['eer']:.3f})"),
                      xaxis_title=f"{result['metric']} distance threshold", yaxis_title="rate", height=420)
    return fig


def open_set_figure(result: dict):
    """Unknown rejection of strangers vs acceptance of enrolled people, as the threshold moves."""
    import plotly.graph_objects as go

    rows = result["open_set_curve"]
    fig = go.Figure()
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["unknown_rejection"] for r in rows],
                    name="stranger rejected as unknown (leave-one-out)")
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["known_accepted"] for r in rows],
                    name="enrolled person identified (val photos)")
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text="calibrated threshold")
    fig.update_layout(title=_title(result, "open-set trade-off vs threshold"), yaxis_range=[0, 1.05],
                      xaxis_title=f"{result['metric']} distance threshold", yaxis_title="rate", height=420)
    return fig


def unknown_rejection_figure(result: dict):
    import plotly.graph_objects as go

    per = result["unknown_rejection"]["per_person"]
    fig = go.Figure()
    fig.add_bar(x=list(per), y=list(per.values()), name="calibrated threshold (all train pairs)")
    fold = result.get("unknown_rejection_fold_calibrated", {}).get("per_person")
    if fold:
        fig.add_bar(x=list(fold), y=[fold[p] for p in fold], name="threshold calibrated without the held-out person")
    fig.update_layout(title=_title(result, "open set: held-out person rejected as unknown"), barmode="group",
                      yaxis_range=[0, 1.05], yaxis_title="unknown-rejection rate", height=400)
    return fig


# ================================================================================================ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("emotion", "identity"))
    parser.add_argument("--subset", type=int, default=0,
                        help="emotion: number of faces; identity: train photos per person (0 = full run, the default)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: Settings.evaluation_dir for a full run, a temporary folder for a subset)")
    parser.add_argument("--backends", help="emotion backends, comma-separated (default: all registered)")
    parser.add_argument("--models", help="recognition models, comma-separated (default: all registered)")
    parser.add_argument("--target-far", type=float, default=DEFAULT_TARGET_FAR)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        out = args.out or settings.evaluation_dir
        if args.subset and args.out is None:  # never overwrite the committed full-run results with a subset run
            out = Path(tempfile.mkdtemp(prefix=f"facedash-eval-{args.what}-"))
            log.info("subset run: writing to %s (pass --out to choose; %s is left alone)", out, settings.evaluation_dir)
        if args.what == "emotion":
            ev = evaluate_emotion(args.backends.split(",") if args.backends else None, args.subset, out, settings,
                                  progress=not args.no_progress)
            for name, info in ev.summary["backends"].items():
                log.info("%-9s %s", name, f"accuracy {info['accuracy']:.4f}" if info["available"] else info["reason"])
            ok = bool(ev.results)
        else:
            ev = evaluate_identity(args.models.split(",") if args.models else None, args.subset, out, settings,
                                   target_far=args.target_far, progress=not args.no_progress)
            ok = ev.result is not None
        for path in ev.written:
            log.info("written: %s", path)
        return 0 if ok else 3
    except FaceDashError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
