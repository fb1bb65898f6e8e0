"""Open-set identification on lfw-dev, before and after alignment, side by side in one run.

    .venv/bin/python benchmarks/bench_identity.py [--data ../shared/data/faces/lfw-dev] [--enroll 2 3]
                                                  [--out benchmarks/results/identity_lfw.json]

Every photo is detected once (largest face); each face is embedded two ways with the same Dlib ResNet weights:

- ``crop``: what the engine did before chips - ``DeepFace.represent(model="Dlib", detector_backend="skip")`` on the
  detector's crop;
- ``chip``: the engine today - dlib's 5-landmark chip (core/alignment.py), then the same ``DeepFace.represent``.

For each path, metric, template (nearest photo / mean) and number of enrollment photos the threshold (and margin)
is chosen on the calibration half of the people and strangers and reported on the held-out half
(core/openset.py). Also measured: align + embed time per face, interleaved. Vectors are cached in data/cache/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import load_settings  # noqa: E402
from core.detectors import create_detector  # noqa: E402
from core.embedders import create_embedder  # noqa: E402
from core.engine import prepare_weights  # noqa: E402
from core.evaluation import progress_bar as _progress_bar  # noqa: E402
from core.images import load_image  # noqa: E402
from core.openset import evaluate, load_open_set, people_paths  # noqa: E402

log = logging.getLogger("bench_identity")
LFW = REPO.parent / "shared" / "data" / "faces" / "lfw-dev"


def per_face_times(paths, detector, embedder, rounds: int = 40) -> dict:
    """Median ms per face: crop path (embed only) vs chip path (align + embed), interleaved photo by photo."""
    crop_t, chip_t, align_t = [], [], []
    for path in paths[:rounds]:
        image = load_image(path)
        faces = detector.detect(image)[:1]
        if not faces:
            continue
        t0 = time.perf_counter()
        embedder.embed([faces[0].crop])
        t1 = time.perf_counter()
        chips = embedder.chips(image, faces)
        t2 = time.perf_counter()
        embedder.embed(chips)
        t3 = time.perf_counter()
        crop_t.append(t1 - t0)
        align_t.append(t2 - t1)
        chip_t.append(t3 - t1)
    ms = lambda xs: round(1000 * statistics.median(xs), 2)  # noqa: E731
    return {"faces": len(crop_t), "crop_embed_ms": ms(crop_t), "chip_align_ms": ms(align_t),
            "chip_align_embed_ms": ms(chip_t), "ratio_chip_to_crop": round(ms(chip_t) / ms(crop_t), 3)}


def small_site(settings, detector, embedder) -> dict:
    """The shipped defaults on a small site: 5-celebrity-faces' people enrolled from their train photos through the
    real quality gate; val photos identified; each person's photos presented as a stranger's with them erased."""
    import shutil
    import tempfile

    from core.gallery import Consent, Gallery

    folder = REPO.parent / "shared" / "data" / "faces" / "5-celebrity-faces"
    people = sorted(d.name for d in folder.iterdir() if d.is_dir())
    work = Path(tempfile.mkdtemp(prefix="small-site-"))
    gallery = Gallery(work / "g")
    for person in people:
        photos = [(p.name, p.read_bytes()) for p in sorted((folder / person).glob("train__*"))]
        gallery.enroll(person, photos, Consent("benchmark", person, "bench_identity"), detector, embedder,
                       max_yaw_degrees=settings.enroll_max_yaw_degrees)
    metric, template = settings.distance_metric, settings.identity_template
    threshold, source = gallery.threshold(embedder.key, metric, None, template)
    margin = gallery.margin(embedder.key, metric, None, template)

    def vector(path):
        image = load_image(path)
        faces = detector.detect(image)[:1]
        return embedder.embed_faces(image, faces) if faces else None

    named, probes, strangers_named, strangers = 0, 0, 0, 0
    for person in people:
        for path in sorted((folder / person).glob("val__*")):
            v = vector(path)
            probes += 1
            if v is not None:
                named += gallery.identify(v, embedder.key, metric, threshold, margin=margin,
                                          template=template)[0].worker_id == person
        held = Gallery(work / f"without-{person}")
        shutil.copytree(work / "g", held.folder)
        held.erase(person)
        for path in sorted((folder / person).glob("*.jpg")):
            v = vector(path)
            if v is None:
                continue
            strangers += 1
            strangers_named += held.identify(v, embedder.key, metric, threshold, margin=margin,
                                             template=template)[0].worker_id is not None
    shutil.rmtree(work, ignore_errors=True)
    return {"people": len(people), "threshold": threshold, "margin": margin, "threshold_source": source,
            "val_photos": probes, "val_named_correctly": named, "stranger_photos": strangers,
            "strangers_named": strangers_named}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=LFW)
    parser.add_argument("--enroll", type=int, nargs="+", default=[3, 2], help="the first is the shipped one")
    parser.add_argument("--people", type=int, default=None, help="first N people only (smoke runs)")
    parser.add_argument("--strangers", type=int, default=None)
    parser.add_argument("--detector", default="opencv")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "identity_lfw.json")
    parser.add_argument("--evaluation-copy", default=str(REPO / "data" / "evaluation" / "openset_lfw.json"),
                        help="also write the report here for the dashboard ('' = no)")
    args = parser.parse_args()
    args.evaluation_copy = Path(args.evaluation_copy) if args.evaluation_copy else None
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    settings = load_settings()
    weights = prepare_weights(settings)
    detector = create_detector(args.detector, min_confidence=settings.detector_min_confidence,
                               min_face_size=settings.min_face_size)
    embedder = create_embedder("Dlib", weights)
    data = load_open_set(args.data, args.people, args.strangers)
    paths = people_paths(data)
    from core.openset import embed_paths

    paths_fns = {
        "crop": ("Dlib@detector-crop", lambda image, faces: embedder.embed([f.crop for f in faces]), embedder.dim),
        "chip": (embedder.key, embedder.embed_faces, embedder.dim),
    }
    t0 = time.perf_counter()
    with _progress_bar(len(paths), "detect + embed (crop and chip)", True, "photo") as bar:
        embedded = embed_paths(paths, detector, paths_fns, REPO / "data" / "cache",
                               progress=lambda n, total: bar.update(1))
    log.info("embedded %d photos in %.0f s", len(paths), time.perf_counter() - t0)

    results = []
    for label, (vectors, _found) in embedded.items():
        for metric in ("cosine", "euclidean"):
            for template in ("nearest", "mean"):
                for enroll in args.enroll:
                    for use_margin in (False, True):
                        r = evaluate(data, vectors, metric, enroll, template, use_margin=use_margin)
                        r["path"] = label
                        r["margin_rule"] = use_margin
                        results.append(r)
                        h = r["heldout"]
                        a = r["all"]
                        log.info("%-5s %-9s %-7s enroll %d margin %-5s | held-out rank-1 %.3f (face found %.3f) "
                                 "DIR@1%% %.3f DIR@0.1%% %.3f | all: DIR@1%% %.3f DIR@0.1%% %.3f | t %.4f m %.4f",
                                 label, metric, template, enroll, use_margin, h["rank1"], h["rank1_face_found"],
                                 h["dir_at_far_0.01"], h["dir_at_far_0.001"], a["dir_at_far_0.01"],
                                 a["dir_at_far_0.001"], r["threshold"], r["margin"])
    found = next(iter(embedded.values()))[1]
    out = {
        "what": "open-set 1:N identification on lfw-dev: threshold/margin chosen on the calibration half, "
                "figures on the held-out half (core/openset.py)",
        "data": str(args.data), "detector": args.detector, "model": "Dlib",
        "people": len(data.people), "strangers": len(data.strangers), "photos": len(paths),
        "photos_without_face": int((~found).sum()),
        "per_face_time": per_face_times(paths[::7], detector, embedder),
        "small_site_5_celebrities": small_site(settings, detector, embedder),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [{k: v for k, v in r.items()} for r in results],
    }
    out["shipped"] = {"metric": settings.distance_metric, "template": settings.identity_template,
                      "enroll_photos": args.enroll[0], "margin_rule": True}
    for r in out["results"]:  # keep the file small: curves and distances only for the shipped configuration
        shipped = all(r[k] == v for k, v in out["shipped"].items())
        for part in ("calibration", "heldout", "all"):
            if not shipped or part != "heldout":
                r[part].pop("curve", None)
                r[part].pop("genuine_best", None)
                r[part].pop("stranger_best", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    if args.evaluation_copy:  # what the dashboard's evaluation page and the notebook show
        args.evaluation_copy.parent.mkdir(parents=True, exist_ok=True)
        args.evaluation_copy.write_text(json.dumps({**out, "dataset": "lfw-dev"}, indent=1))
    log.info("per-face time: %s", out["per_face_time"])
    log.info("small site: %s", out["small_site_5_celebrities"])
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
