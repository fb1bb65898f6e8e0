"""The gallery of enrolled workers: consent, kept enrollment photos, embeddings per recognition model.

Layout of the gallery folder::

    gallery.json               workers, display names, consent records, photo list (no biometric data)
    photos/<worker_id>/<sha>.jpg   enrollment photos (kept so a model change can re-embed)
    embeddings/<key>.npz       worker_ids, photo sha256s and vectors for one recognition model *and* alignment
                               (key e.g. ``Dlib@dlib5-150-p0.25``; older versions are re-embedded, then removed)
    calibration.json           calibrated identity thresholds per embedding key and metric (core/calibrate.py)
    .lock                      inter-process write lock (filelock)

Every file is written to a temporary name and renamed into place (atomic on POSIX), and all writers hold the
lock, so a second process never sees a half-written file and two writers never lose each other's changes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from core.embedders import CALIBRATED_DEFAULTS, LIBRARY_THRESHOLDS, Embedder, distance
from core.errors import ConsentError, EnrollmentError, GalleryError, ImageError, UnknownWorkerError
from core.fileio import RestorePoint, atomic_write
from core.gallery_files import file_label, load_calibration, load_embeddings, load_index
from core.images import decode_image, encode_jpeg
from core.quality import PhotoVerdict, dhash, hamming, judge_faces, judge_yaw, sha256
from core.types import IdentityMatch

log = logging.getLogger(__name__)

WORKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # used with fullmatch: "$" would allow a final newline
#: Two photos whose embeddings are closer than this (cosine) show the same picture (re-encoded, resized, cropped).
#: Distinct photos of one person measured >= 0.01 with Dlib on the 5-people set; re-encodes/resizes 0.002-0.006.
NEAR_DUPLICATE_COSINE = 0.004
#: ... or whose difference hashes differ in at most this many of 64 bits.
NEAR_DUPLICATE_DHASH_BITS = 4


@dataclass(frozen=True)
class Consent:
    """Consent of the worker to biometric processing, recorded before enrollment (GDPR Art. 9(2)(a))."""

    text: str
    given_by: str
    recorded_by: str
    recorded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def __post_init__(self) -> None:
        if not self.text or not self.text.strip():
            raise ConsentError("consent text is required to enroll a worker (what they agreed to, and for what purpose)")
        if not self.given_by or not self.given_by.strip():
            raise ConsentError("consent must name who gave it")


@dataclass(frozen=True)
class EnrollmentReport:
    worker_id: str
    verdicts: list[PhotoVerdict]

    @property
    def accepted(self) -> list[PhotoVerdict]:
        return [v for v in self.verdicts if v.accepted]

    @property
    def rejected(self) -> list[PhotoVerdict]:
        return [v for v in self.verdicts if not v.accepted]


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    name: str
    photo_count: int
    enrolled_at: str
    consent: dict


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


#: Ids starting with this are synthetic demo workers (core/demo.py); "Remove demo data" erases them.
RESERVED_PREFIX = "demo-"


class WorkerIdError(GalleryError):
    """A worker id that is not allowed (bad input: exit 2, HTTP 400), not a gallery storage problem."""

    exit_code = 2
    http_status = 400


def validate_worker_id(worker_id: str) -> str:
    if not isinstance(worker_id, str) or not WORKER_ID.fullmatch(worker_id):
        raise WorkerIdError(
            f"invalid worker id {worker_id!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    if worker_id.lower().startswith(RESERVED_PREFIX):
        raise WorkerIdError(f"invalid worker id {worker_id!r}: ids starting with {RESERVED_PREFIX!r} are reserved for demo data")
    return worker_id


class Gallery:
    def __init__(self, folder: str | Path, lock_timeout: float = 30.0):
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout
        # identify() runs on every analysed frame: keep the last embeddings read per model, keyed by the file's
        # identity (inode, size, mtime), which every atomic rewrite changes - also one made by another process
        self._embeddings_cache: dict[str, tuple[tuple[int, int, int], tuple]] = {}

    # ---------------------------------------------------------------- files
    @property
    def _index_path(self) -> Path:
        return self.folder / "gallery.json"

    def _embeddings_path(self, model: str) -> Path:
        return self.folder / "embeddings" / f"{model}.npz"

    @property
    def calibration_path(self) -> Path:
        return self.folder / "calibration.json"

    def label(self, path: Path) -> str:
        """How messages name one of the gallery's files (``gallery/embeddings/x.npz``)."""
        return file_label(self.folder, path)

    def _lock(self) -> FileLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"gallery folder {self.folder} cannot be created ({exc.strerror})") from None
        if not os.access(self.folder, os.W_OK):
            raise GalleryError(f"gallery folder {self.folder} is not writable; check its permissions")
        return FileLock(str(self.folder / ".lock"), timeout=self.lock_timeout)

    def _locked(self):
        lock = self._lock()
        try:
            lock.acquire()
        except Timeout:
            raise GalleryError(f"gallery {self.folder} is locked by another process for over {self.lock_timeout:.0f} s") from None
        return lock

    def lock(self):
        """The gallery's write lock (a context manager), for maintenance that replaces or removes its files."""
        return self._locked()

    def _read_index(self) -> dict:
        if not self._index_path.exists():
            return {"version": 1, "workers": {}}
        return load_index(self._index_path, self.label(self._index_path), WORKER_ID)  # checked: CorruptFileError

    def _write_index(self, index: dict) -> None:
        atomic_write(self._index_path, json.dumps(index, indent=2, sort_keys=True).encode())

    def _read_embeddings(self, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        path = self._embeddings_path(model)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):  # not written yet (or the gallery path is unusable)
            return np.array([], dtype=object), np.array([], dtype=object), np.zeros((0, 0), np.float32)
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._embeddings_cache.get(model)
        if cached is not None and cached[0] == key:
            return cached[1]
        arrays = load_embeddings(path, self.label(path), model)  # checked, read-only: shared through the cache
        self._embeddings_cache[model] = (key, arrays)
        return arrays

    def _write_embeddings(self, model: str, worker_ids, photos, vectors) -> None:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, worker_ids=np.asarray(worker_ids, dtype=str), photos=np.asarray(photos, dtype=str),
                 vectors=np.asarray(vectors, dtype=np.float32))
        atomic_write(self._embeddings_path(model), buffer.getvalue())

    def embedding_models(self) -> list[str]:
        folder = self.folder / "embeddings"
        return sorted(p.stem for p in folder.glob("*.npz")) if folder.exists() else []

    # ---------------------------------------------------------------- reading
    def workers(self) -> list[WorkerInfo]:
        index = self._read_index()
        return [
            WorkerInfo(wid, w.get("name", wid), len(w.get("photos", [])), w.get("enrolled_at", ""), w.get("consent", {}))
            for wid, w in sorted(index["workers"].items())
        ]

    def has_worker(self, worker_id: str) -> bool:
        return worker_id in self._read_index()["workers"]

    def worker(self, worker_id: str) -> WorkerInfo:
        for info in self.workers():
            if info.worker_id == worker_id:
                return info
        raise UnknownWorkerError(f"unknown worker {worker_id!r}: not enrolled in {self.folder}")

    def display_names(self) -> dict[str, str]:
        return {w.worker_id: w.name for w in self.workers()}

    def photo_paths(self, worker_id: str) -> list[Path]:
        index = self._read_index()
        if worker_id not in index["workers"]:
            raise UnknownWorkerError(f"unknown worker {worker_id!r}: not enrolled in {self.folder}")
        return [self.folder / p["file"] for p in index["workers"][worker_id].get("photos", [])]

    def __len__(self) -> int:
        return len(self._read_index()["workers"])

    # ---------------------------------------------------------------- writing
    def enroll(
        self,
        worker_id: str,
        photos: Iterable[tuple[str, bytes]],
        consent: Consent | None,
        detector,
        embedder: Embedder,
        *,
        name: str | None = None,
        min_face_size: int = 60,
        min_sharpness: float = 15.0,
        max_pixels: int = 40_000_000,
        max_yaw_degrees: float | None = None,
        on_commit: Callable[[EnrollmentReport], None] | None = None,
    ) -> EnrollmentReport:
        """Judge each photo, keep the accepted ones, embed them; raise EnrollmentError if none is usable.

        ``on_commit(report)`` runs under the gallery's lock after everything is written (the service writes the audit
        line there); if it raises, the photos, embeddings and index are put back as they were.

        ``max_yaw_degrees``: refuse faces turned further than this (yaw from dlib's 5 landmarks; None = no check).

        Nothing is written unless at least one photo is accepted.
        """
        validate_worker_id(worker_id)
        if consent is None:
            raise ConsentError("consent is required to enroll a worker: record who agreed, when, and for what purpose")
        photos = list(photos)
        if not photos:
            raise EnrollmentError(f"no photos given for worker {worker_id!r}")
        index = self._read_index()
        known_hashes = {p["sha256"] for p in index["workers"].get(worker_id, {}).get("photos", [])}
        verdicts: list[PhotoVerdict] = []
        seen: dict[str, str] = {}
        images: dict[str, np.ndarray] = {}
        for photo_name, data in photos:
            digest = sha256(data) if data else ""
            try:
                image = decode_image(data, photo_name, max_pixels)
            except ImageError as exc:
                verdicts.append(PhotoVerdict(photo_name, False, str(exc).removeprefix(f"{photo_name}: "), digest))
                continue
            if digest in known_hashes:
                verdicts.append(PhotoVerdict(photo_name, False, "duplicate: this photo is already enrolled", digest))
                continue
            if digest in seen:
                verdicts.append(PhotoVerdict(photo_name, False, f"duplicate of {seen[digest]}", digest))
                continue
            seen[digest] = photo_name
            images[digest] = image
            verdict = judge_faces(photo_name, digest, detector.detect(image), min_face_size, min_sharpness)
            if verdict.accepted and max_yaw_degrees is not None:
                verdict = judge_yaw(verdict, image, max_yaw_degrees, embedder.weights_dir)
            verdicts.append(verdict)

        accepted = [v for v in verdicts if v.accepted]
        vectors = (np.vstack([embedder.embed_faces(images[v.sha256], [v.accepted_face]) for v in accepted]) if accepted
                   else np.zeros((0, embedder.dim)))
        # near-duplicates (same picture resized or re-encoded) add nothing and skew the nearest-neighbour search
        existing_own = self._worker_vectors(embedder.key, worker_id)
        pool = [existing_own] if existing_own.size else []
        hashes = [int(p["dhash"], 16) for p in index["workers"].get(worker_id, {}).get("photos", []) if p.get("dhash")]
        keep_vectors = []
        for i, verdict in enumerate(accepted):
            vector = vectors[i : i + 1]
            photo_hash = dhash(images[verdict.sha256])
            same_picture = any(hamming(photo_hash, h) <= NEAR_DUPLICATE_DHASH_BITS for h in hashes) or (
                pool and distance(vector, np.vstack(pool), "cosine").min() < NEAR_DUPLICATE_COSINE)
            if same_picture:
                verdicts[verdicts.index(verdict)] = PhotoVerdict(
                    verdict.name, False, "near-duplicate of another photo of this worker", verdict.sha256, verdict.face,
                    verdict.sharpness)
                continue
            pool.append(vector)
            hashes.append(photo_hash)
            keep_vectors.append(vector)
        report = EnrollmentReport(worker_id, verdicts)
        if not report.accepted:
            reasons = "; ".join(f"{v.name}: {v.reason}" for v in report.rejected)
            raise EnrollmentError(f"no usable photo for worker {worker_id!r} ({reasons})", verdicts)

        accepted_vectors = np.vstack(keep_vectors)
        # all or nothing: photos, embeddings, index and the caller's commit step (its audit line) succeed together
        with self._locked(), RestorePoint([self._index_path, self._embeddings_path(embedder.key)]) as restore:
            index = self._read_index()  # re-read under the lock: another process may have written meanwhile
            entry = index["workers"].setdefault(
                worker_id,
                {"name": name or worker_id, "enrolled_at": _now(), "consent": asdict(consent), "photos": []},
            )
            if name:
                entry["name"] = name
            entry.setdefault("consent_history", []).append(asdict(consent))
            entry["consent"] = asdict(consent)
            new_photo_ids = []
            for verdict in report.accepted:
                rel = f"photos/{worker_id}/{verdict.sha256[:20]}.jpg"
                # keep the decoded photo re-encoded (strips EXIF/GPS metadata from the kept copy)
                restore.track(self.folder / rel)
                atomic_write(self.folder / rel, encode_jpeg(images[verdict.sha256], 95))
                entry["photos"].append({"file": rel, "sha256": verdict.sha256, "added_at": _now(),
                                        "box": verdict.accepted_face.box.as_list(), "dhash": f"{dhash(images[verdict.sha256]):016x}"})
                new_photo_ids.append(verdict.sha256)
            ids, shas, old = self._read_embeddings(embedder.key)
            old = old if old.size else np.zeros((0, embedder.dim), np.float32)
            self._write_embeddings(
                embedder.key,
                list(ids) + [worker_id] * len(new_photo_ids),
                list(shas) + new_photo_ids,
                np.vstack([old, accepted_vectors]),
            )
            self._write_index(index)
            if on_commit is not None:
                on_commit(report)
        log.info("enrolled %s: %d photo(s) accepted, %d rejected", worker_id, len(report.accepted), len(report.rejected))
        return report

    def _worker_vectors(self, model: str, worker_id: str) -> np.ndarray:
        ids, _, vectors = self._read_embeddings(model)
        if not len(ids):
            return np.zeros((0, 0), np.float32)
        return vectors[np.asarray(ids) == worker_id]

    def rename(self, worker_id: str, new_name: str) -> None:
        if not new_name or not new_name.strip():
            raise GalleryError("new display name is empty")
        with self._locked():
            index = self._read_index()
            if worker_id not in index["workers"]:
                raise UnknownWorkerError(f"unknown worker {worker_id!r}: not enrolled in {self.folder}")
            index["workers"][worker_id]["name"] = new_name.strip()
            self._write_index(index)

    def erase(self, worker_id: str) -> None:
        """Remove the worker's entry, consent record, photos and embeddings under every model."""
        with self._locked():
            index = self._read_index()
            if worker_id not in index["workers"]:
                raise UnknownWorkerError(f"unknown worker {worker_id!r}: not enrolled in {self.folder}")
            for model in self.embedding_models():
                ids, shas, vectors = self._read_embeddings(model)
                keep = np.asarray(ids) != worker_id
                self._write_embeddings(model, ids[keep], shas[keep], vectors[keep] if len(ids) else vectors)
            del index["workers"][worker_id]
            self._write_index(index)
            shutil.rmtree(self.folder / "photos" / worker_id, ignore_errors=True)
        log.info("erased worker %s from gallery %s", worker_id, self.folder)

    def ensure_embeddings(self, detector, embedder: Embedder, progress=None) -> int:
        """Embed kept photos that have no vector under ``embedder.key`` (after a model or alignment change).

        Vectors of other versions of the same model (an older alignment, e.g. ``Dlib.npz`` from before chips) are
        never mixed with the current ones: once every kept photo has a current vector, those files are deleted
        (data minimisation: no biometric data is kept that nothing uses). Returns the number of photos embedded.
        """
        index = self._read_index()
        ids, shas, vectors = self._read_embeddings(embedder.key)
        have = set(zip(ids, shas))
        todo = [(wid, p) for wid, w in index["workers"].items() for p in w.get("photos", []) if (wid, p["sha256"]) not in have]
        if todo:
            log.info("re-embedding %d kept photo(s) with %s", len(todo), embedder.key)
        new_ids, new_shas, new_vectors = [], [], []
        for n, (wid, photo) in enumerate(todo):
            try:
                image = decode_image((self.folder / photo["file"]).read_bytes(), photo["file"])
            except (OSError, ImageError) as exc:  # `python -m core check` lists missing and unreadable photos
                log.warning("kept photo %s is missing or unreadable (%s); skipped", photo["file"], exc)
                continue
            faces = detector.detect(image)
            if not faces:
                log.warning("kept photo %s: no face found by %s; skipped", photo["file"], getattr(detector, "name", "?"))
                continue
            new_vectors.append(embedder.embed_faces(image, faces[:1])[0])
            new_ids.append(wid)
            new_shas.append(photo["sha256"])
            if progress:
                progress(n + 1, len(todo))
        with self._locked():
            if new_ids:
                ids, shas, vectors = self._read_embeddings(embedder.key)
                vectors = vectors if vectors.size else np.zeros((0, embedder.dim), np.float32)
                stacked = np.vstack([vectors, np.asarray(new_vectors, np.float32).reshape(-1, embedder.dim)])
                self._write_embeddings(embedder.key, list(ids) + new_ids, list(shas) + new_shas, stacked)
            for stale in self.embedding_models():
                if stale != embedder.key and stale.split("@")[0] == embedder.name:
                    self._embeddings_path(stale).unlink(missing_ok=True)
                    log.info("removed embeddings of an older alignment: %s (now %s)", stale, embedder.key)
        return len(new_ids)

    # ---------------------------------------------------------------- identification
    def _site_calibration(self, model: str, metric: str, template: str) -> dict | None:
        """This gallery's calibration for the key and metric, unless it was made for another template."""
        entry = self.read_calibration().get(model, {}).get(metric)  # a corrupt file is a CorruptFileError
        return entry if entry is not None and entry.get("template", template) == template else None

    def read_calibration(self) -> dict:
        return load_calibration(self.calibration_path, self.label(self.calibration_path))

    def threshold(self, model: str, metric: str, override: float | None = None,
                  template: str = "mean") -> tuple[float, str]:
        """The identity threshold and where it came from: an override, this gallery's calibration, the project's
        calibrated default, or DeepFace's table - in that order. ``model`` is the embedding key (model@alignment)."""
        threshold, source, _ = self.decision_rule(model, metric, template, override)
        return threshold, source

    def margin(self, model: str, metric: str, override: float | None = None, template: str = "mean") -> float:
        """The ambiguity margin: an override, else this gallery's calibration, else the project default, else 0."""
        return self.decision_rule(model, metric, template, margin_override=override)[2]

    def decision_rule(self, model: str, metric: str, template: str = "mean", threshold_override: float | None = None,
                      margin_override: float | None = None) -> tuple[float, str, float]:
        """(threshold, where it came from, margin), reading this gallery's calibration once (identify runs per frame)."""
        site = self._site_calibration(model, metric, template)
        default = CALIBRATED_DEFAULTS.get(model, {}).get(metric, {}).get(template)
        if threshold_override is not None:
            threshold, source = float(threshold_override), "setting FACEDASH_IDENTITY_THRESHOLD"
        elif site is not None:
            threshold, source = float(site["threshold"]), f"calibrated ({site.get('computed_at', '')})"
        elif default:
            threshold, source = float(default["threshold"]), default["source"]
        else:
            threshold, source = float(LIBRARY_THRESHOLDS[model.split("@")[0]][metric]), "DeepFace default"
        if margin_override is not None:
            margin = float(margin_override)
        elif site is not None and isinstance(site.get("margin"), (int, float)):
            margin = float(site["margin"])
        else:
            margin = float((default or {}).get("margin", 0.0))
        return threshold, source, margin

    def save_calibration(self, model: str, metric: str, result: dict) -> None:
        with self._locked():
            calibration = self.read_calibration()
            calibration.setdefault(model, {})[metric] = result
            atomic_write(self.calibration_path, json.dumps(calibration, indent=2).encode())

    def identify(self, vectors: np.ndarray, model: str, metric: str, threshold: float, *, margin: float = 0.0,
                 template: str = "mean") -> list[IdentityMatch]:
        """1:N: per face, the nearest enrolled worker; unknown above ``threshold`` or when ambiguous.

        ``template``: a worker's distance is that of their nearest enrollment photo ("nearest") or of the mean of
        their (unit-length) vectors ("mean"). ``margin``: when the second-nearest *worker* is within ``margin`` of
        the nearest, the face is too close to call and stays unknown (``ambiguous``).
        """
        vectors = np.atleast_2d(vectors)
        workers, d = self.worker_distances(vectors, model, metric, template)
        if not workers:
            return [IdentityMatch(None, float("inf"), threshold, model, metric, None) for _ in range(len(vectors))]
        matches = []
        for row in d:
            order = np.argsort(row, kind="stable")
            best = float(row[order[0]])
            worker = workers[order[0]]
            second = float(row[order[1]]) if len(order) > 1 else float("inf")
            ambiguous = best <= threshold and (second - best) < margin
            accepted = best <= threshold and not ambiguous
            matches.append(IdentityMatch(worker if accepted else None, best, threshold, model, metric, worker,
                                         ambiguous=ambiguous,
                                         second_worker_id=workers[order[1]] if len(order) > 1 else None,
                                         second_distance=second))
        return matches

    def worker_distances(self, vectors: np.ndarray, model: str, metric: str,
                         template: str = "mean") -> tuple[list[str], np.ndarray]:
        """(worker ids, distances (n_faces, n_workers)) under ``template`` ("nearest" photo or "mean" vector)."""
        ids, _, gallery_vectors = self._read_embeddings(model)
        if not len(ids):
            return [], np.zeros((len(vectors), 0))
        return worker_distances(np.atleast_2d(vectors), np.asarray(ids, dtype=str), gallery_vectors, metric, template)


def worker_distances(vectors: np.ndarray, ids: np.ndarray, gallery_vectors: np.ndarray, metric: str,
                     template: str = "nearest") -> tuple[list[str], np.ndarray]:
    """Distance of each probe vector to each worker: nearest photo, or the mean of the worker's unit vectors."""
    workers, inverse = np.unique(ids, return_inverse=True)
    if template == "mean":
        unit = gallery_vectors / np.maximum(np.linalg.norm(gallery_vectors, axis=1, keepdims=True), 1e-12)
        sums = np.zeros((len(workers), unit.shape[1]))
        np.add.at(sums, inverse, unit)
        means = sums / np.bincount(inverse)[:, None]
        if metric == "euclidean":  # back to the model's scale: mean norm of each worker's vectors
            norms = np.bincount(inverse, weights=np.linalg.norm(gallery_vectors, axis=1)) / np.bincount(inverse)
            means = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12) * norms[:, None]
        return [str(w) for w in workers], distance(vectors, means, metric)
    if template != "nearest":
        raise ValueError(f"unknown identity template {template!r}; use 'nearest' or 'mean'")
    d = distance(vectors, gallery_vectors, metric)
    per_worker = np.full((len(vectors), len(workers)), np.inf)
    for column in range(len(workers)):
        per_worker[:, column] = d[:, inverse == column].min(axis=1)
    return [str(w) for w in workers], per_worker
