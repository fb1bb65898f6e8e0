"""Per-face latency and FER-2013 PrivateTest accuracy of the emotion backends, measured in one run.

    .venv/bin/python benchmarks/bench_emotion.py [--backends fer own] [--faces 3589] [--out benchmarks/results/emotion.json]

Each backend gets the same PrivateTest faces as BGR uint8 crops (what the engine hands it), one face per call
(the live path), after a warm-up; the median and p90 latency per face and the accuracy are written to JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.emotions import create_emotion_model  # noqa: E402
from core.training.data import load_split  # noqa: E402
from core.types import EMOTIONS  # noqa: E402

log = logging.getLogger("bench_emotion")


def bench(name: str, crops: list[np.ndarray], labels: np.ndarray, weights_dir: Path) -> dict:
    started = time.perf_counter()
    model = create_emotion_model(name, weights_dir)
    load_s = time.perf_counter() - started
    model.predict(crops[:5])  # warm-up
    times, predicted = [], []
    for crop in crops:
        t = time.perf_counter()
        result = model.predict([crop])[0]
        times.append(time.perf_counter() - t)
        predicted.append(EMOTIONS.index(result.label))
    predicted = np.asarray(predicted)
    per_class = {EMOTIONS[c]: round(float(np.mean(predicted[labels == c] == c)), 4) for c in range(len(EMOTIONS))}
    return {"backend": name, "faces": len(crops), "load_seconds": round(load_s, 3),
            "per_face_ms_median": round(1000 * float(np.median(times)), 3),
            "per_face_ms_p90": round(1000 * float(np.percentile(times, 90)), 3),
            "private_test_accuracy": round(float(np.mean(predicted == labels)), 4),
            "recall_per_class": per_class}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", nargs="+", default=["fer", "own"])
    p.add_argument("--faces", type=int, default=3589, help="PrivateTest faces to use (all 3,589 by default)")
    p.add_argument("--weights-dir", type=Path, default=ROOT / "data" / "weights")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "emotion.json")
    args = p.parse_args(argv)
    split = load_split("PrivateTest", subset=args.faces if args.faces < 3589 else None, seed=0)
    crops = [np.repeat(face[:, :, None], 3, axis=2) for face in split.x]
    rows = []
    for name in args.backends:
        try:
            rows.append(bench(name, crops, split.y, args.weights_dir))
        except Exception as exc:  # a missing optional backend is reported, not fatal
            log.warning("%s: %s", name, exc)
            rows.append({"backend": name, "error": str(exc)})
        log.info("%s", rows[-1])
    result = {"what": "emotion backends on FER-2013 PrivateTest: one 48x48 face per predict() call",
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, args.out)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
