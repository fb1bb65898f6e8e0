"""Identity evaluation on ``<person>/train__*|val__*`` photos, through the real engine (DeepFace detector -> aligned
chip -> embedding), for each recognition model that loads:

1. genuine vs impostor distance distributions over all photo pairs, ROC / AUC / EER and FAR / FRR vs threshold;
2. the threshold chosen by :func:`core.calibrate.calibrate_vectors` on train photos (1:N leave-one-out, target FAR
   1%), saved into a temporary gallery;
3. top-1 accuracy: the train photos enrolled through :meth:`FaceEngine.enroll`, the val photos identified with
   :meth:`FaceEngine.analyze`;
4. the open-set check: leave one person out of the gallery; their photos must come out "unknown" at the calibrated
   threshold (and at a threshold calibrated without them).

Files: ``identity_<model>.json`` per model and ``identity.json`` (the model the engine would pick).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import Settings, load_settings
from core.errors import EnrollmentError, FaceDashError, ImageError
from core.evaluation.common import DEFAULT_TARGET_FAR, progress_bar, utc_now_iso, write_json
from core.evaluation.data import LabelledPhoto, celebrity_faces_dir, list_labelled_photos
from core.evaluation.metrics import open_set_curve, rates_at, round_list, verification_metrics

log = logging.getLogger(__name__)

CONSENT_TEXT = (
    "Evaluation only: public research photos (5-celebrity-faces) enrolled into a temporary gallery that is deleted "
    "after the run."
)


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
    with progress_bar(len(photos), f"embed {engine.embedder.name}", progress, "photo") as bar:
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


def identity_settings(gallery_dir: Path, model: str, base: Settings | None = None) -> Settings:
    """Settings for an evaluation engine: a throw-away gallery, the given model, no threshold override, no emotion."""
    overrides = {"gallery_dir": gallery_dir, "recognition_model": model, "identity_threshold": None,
                 "emotion_enabled": False, "emotion_purpose": None}
    if base is not None:
        keep = ("detector", "distance_metric", "detector_min_confidence", "min_face_size", "enroll_min_face_size",
                "enroll_min_sharpness", "max_image_pixels", "data_dir", "deepface_home")
        overrides = {**{k: getattr(base, k) for k in keep}, **overrides}
    return load_settings(**overrides)


# ------------------------------------------------------------------------------------------------ the steps
def _calibrate(engine, train: Embeddings, target_far: float) -> tuple[dict, float, str]:
    """Step 2: calibrate on train photos only (1:N leave-one-out, as the product's ``calibrate`` does), save it into
    the temporary gallery and check the engine picks it up -> (calibration, threshold, its source in words)."""
    from core.calibrate import calibrate_vectors

    metric, name = engine.settings.distance_metric, engine.embedder.key
    calibration = calibrate_vectors(train.vectors, train.labels, metric, target_far)
    calibration.update(model=name, metric=metric, computed_at=utc_now_iso(), data="train__ photos")
    engine.gallery.save_calibration(name, metric, calibration)
    threshold, source = engine.threshold()
    if not source.startswith("calibrated"):
        raise FaceDashError(f"evaluation gallery did not pick up its calibration (threshold source: {source})")
    threshold_source = (f"calibrated with core.calibrate.calibrate_vectors (1:N nearest neighbour, leave-one-out) "
                        f"on train__ photos, target FAR {target_far:.0%}")
    return calibration, float(threshold), threshold_source


def _enroll_train_photos(engine, photos: list[LabelledPhoto], people: list[str], progress: bool) -> dict[str, dict]:
    """Step 3a: enroll each person's train photos through the engine -> per person, accepted count and rejections."""
    from core.gallery import Consent

    consent = Consent(CONSENT_TEXT, given_by="public research data set (5-celebrity-faces)",
                      recorded_by="core.evaluation")
    enrollment: dict[str, dict] = {}
    with progress_bar(len(people), "enroll", progress, "person") as bar:
        for person in people:
            mine = [ph for ph in photos if ph.person == person and ph.split == "train"]
            try:
                verdicts = engine.enroll(person, [(ph.name, ph.path.read_bytes()) for ph in mine], consent).verdicts
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
    return enrollment


def _identify_val_photos(engine, val_photos: list[LabelledPhoto], progress: bool) -> list[dict]:
    """Step 3b: identify each val photo through ``analyze()`` (largest face) -> nearest and accepted identity."""
    from core.images import load_image

    identifications = []
    with progress_bar(len(val_photos), "identify", progress, "photo") as bar:
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
    return identifications


@dataclass
class _OpenSet:
    """Step 4's counts: each held-out person's photos rejected as unknown, at the calibrated threshold and at a
    threshold calibrated without them."""
    threshold: float
    per_person: dict[str, float] = field(default_factory=dict)
    per_person_fold: dict[str, float] = field(default_factory=dict)
    fold_thresholds: dict[str, float] = field(default_factory=dict)
    rejected: int = 0
    rejected_fold: int = 0
    probes: int = 0
    stranger_nearest: list[float] = field(default_factory=list)  # each held-out photo to the nearest enrolled one

    def payload(self, identifications: list[dict], curve_thresholds: list[float]) -> dict:
        return {
            "unknown_rejection": {"overall": self.rejected / self.probes if self.probes else 0.0,
                                  "per_person": self.per_person, "probes": self.probes,
                                  "threshold": float(self.threshold)},
            "unknown_rejection_fold_calibrated": {
                "overall": self.rejected_fold / self.probes if self.probes else 0.0,
                "per_person": self.per_person_fold, "thresholds": self.fold_thresholds,
                "note": "threshold re-calibrated per fold (1:N leave-one-out) on the 4 enrolled people's train__ photos only",
            },
            "open_set_curve": open_set_curve(identifications, self.stranger_nearest, curve_thresholds),
        }


def _leave_one_out(engine, emb: Embeddings, train: Embeddings, people: list[str], work: Path, threshold: float,
                   target_far: float) -> _OpenSet:
    """Step 4: per person, a copy of the gallery without them; their photos must come out unknown."""
    from core.calibrate import calibrate_vectors
    from core.gallery import Gallery

    metric, name = engine.settings.distance_metric, engine.embedder.key
    out = _OpenSet(threshold)
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
        out.stranger_nearest += [float(m.distance) for m in matches]
        out.per_person[person] = rejected / len(matches)
        out.rejected += rejected
        out.probes += len(matches)
        # stricter variant: threshold calibrated without ever seeing the held-out person
        rest = train.select(lambda p, person=person: p.person != person)
        fold_threshold = calibrate_vectors(rest.vectors, rest.labels, metric, target_far)["threshold"]
        fold_matches = gallery.identify(probes.vectors, name, metric, fold_threshold)
        fold_rejected = sum(m.worker_id is None for m in fold_matches)
        out.per_person_fold[person] = fold_rejected / len(fold_matches)
        out.fold_thresholds[person] = fold_threshold
        out.rejected_fold += fold_rejected
        shutil.rmtree(fold, ignore_errors=True)
    return out


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


def _verification(emb: Embeddings, train: Embeddings, metric: str, threshold: float) -> dict:
    """Step 1's payload part: rates at the threshold on three pair sets, AUC / EER, the distances and curves."""
    from core.calibrate import pair_distances

    genuine, impostor = pair_distances(emb.vectors, emb.labels, metric)
    train_genuine, train_impostor = pair_distances(train.vectors, train.labels, metric)
    heldout_genuine, heldout_impostor = _heldout_pairs(emb, metric)
    verification = verification_metrics(genuine, impostor)
    return {
        "rates_at_threshold": {
            "train_pairs": rates_at(train_genuine, train_impostor, threshold),
            "pairs_with_a_val_photo": rates_at(heldout_genuine, heldout_impostor, threshold),
            "all_pairs": rates_at(genuine, impostor, threshold),
        },
        "auc": verification["auc"],
        "eer": verification["eer"],
        "eer_threshold": verification["eer_threshold"],
        "pairs": "all photo pairs (train__ and val__)",
        "genuine": round_list(genuine),
        "impostor": round_list(impostor),
        "far_frr": verification["far_frr"],
        "roc": verification["roc"],
    }


def _closed_set(identifications: list[dict], enrollment: dict[str, dict]) -> dict:
    """Step 3's payload part: top-1 accuracy (nearest enrolled person) and identified-at-threshold rate."""
    correct = sum(r["nearest"] == r["person"] for r in identifications)
    accepted_correct = sum(r["identified"] == r["person"] for r in identifications)
    total = len(identifications)
    return {"top1_accuracy": correct / total if total else 0.0, "top1_correct": int(correct), "top1_total": total,
            "top1_identified_at_threshold": accepted_correct / total if total else 0.0,
            "identifications": identifications, "enrollment": enrollment}


# ------------------------------------------------------------------------------------------------ one model
def evaluate_identity_model(model: str, photos: list[LabelledPhoto], settings: Settings | None = None,
                            target_far: float = DEFAULT_TARGET_FAR, progress: bool = True, work_dir: Path | None = None
                            ) -> dict:
    """One recognition model on labelled photos -> the ``identity_<model>.json`` payload (minus models_unavailable).

    Raises FaceDashError (e.g. WeightsMissingError) when the model cannot load.
    """
    from core.engine import FaceEngine

    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="facedash-eval-"))
    try:
        engine = FaceEngine(identity_settings(work / "gallery", model, settings), load_emotion=False)
        return _evaluate_with_engine(engine, photos, work, target_far, progress)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _evaluate_with_engine(engine, photos: list[LabelledPhoto], work: Path, target_far: float, progress: bool) -> dict:
    metric = engine.settings.distance_metric
    people = sorted({p.person for p in photos})
    val_photos = [p for p in photos if p.split == "val"]

    emb = embed_photos(engine, photos, progress)  # 1. every photo's largest face
    train = emb.select(lambda p: p.split == "train")
    calibration, threshold, threshold_source = _calibrate(engine, train, target_far)  # 2.
    enrollment = _enroll_train_photos(engine, photos, people, progress)  # 3. closed set
    identifications = _identify_val_photos(engine, val_photos, progress)
    open_set = _leave_one_out(engine, emb, train, people, work, threshold, target_far)  # 4. open set

    verification = _verification(emb, train, metric, threshold)
    curve_thresholds = [row["threshold"] for row in verification["far_frr"]]
    return {
        "model": engine.embedder.key,  # gallery files and calibration are per model *and* alignment
        "metric": metric,
        "dataset": "5-celebrity-faces",
        "detector": engine.detector.name,
        "computed_at": utc_now_iso(),
        "people": people,
        "photos": {"train": sum(p.split == "train" for p in photos), "val": len(val_photos),
                   "embedded": len(emb.photos), "skipped": emb.skipped},
        **_closed_set(identifications, enrollment),
        "threshold": threshold,
        "threshold_source": threshold_source,
        "target_far": target_far,
        "calibration": {k: v for k, v in calibration.items() if k not in ("model", "metric")},
        **verification,
        **open_set.payload(identifications, curve_thresholds),
        "seconds_per_photo": emb.seconds_per_photo,
    }


# ------------------------------------------------------------------------------------------------ every model
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


def _model_names(models: list[str] | None) -> list[str]:
    """The requested models in their settings spelling (default: every registered one); ConfigError if unknown."""
    from core.embedders import EMBEDDERS, MODEL_NAMES
    from core.errors import ConfigError

    names = [MODEL_NAMES.get(m.strip().lower(), m.strip()) for m in (models or EMBEDDERS.names()) if m.strip()]
    unknown = [m for m in names if m.lower() not in EMBEDDERS]
    if unknown:
        raise ConfigError(f"unknown recognition model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES.values())}")
    return names


def _write(evaluation: IdentityEvaluation, out_dir: Path) -> None:
    for name, result in evaluation.results.items():
        evaluation.written.append(write_json(out_dir / f"identity_{name}.json",
                                             {**result, "models_unavailable": evaluation.unavailable}))
    if evaluation.result is None:
        raise FaceDashError(f"no recognition model could be evaluated: {evaluation.unavailable}")
    evaluation.written.append(write_json(out_dir / "identity.json", evaluation.result))


def evaluate_identity(models: list[str] | None = None, subset: int = 0, out_dir: Path | None = None,
                      settings: Settings | None = None, folder: Path | None = None,
                      target_far: float = DEFAULT_TARGET_FAR, progress: bool = True) -> IdentityEvaluation:
    """Every requested (default: every registered) recognition model; writes identity JSON files to ``out_dir``."""
    from core.embedders import resolve_recognition_model
    from core.engine import prepare_weights

    settings = settings or load_settings()
    names = _model_names(models)
    photos = list_labelled_photos(folder or celebrity_faces_dir(settings), subset)
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
        _write(evaluation, Path(out_dir))
    return evaluation
