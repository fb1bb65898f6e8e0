"""Single frames vs the face tracker (voted identities, averaged emotions) on the real clips in ../shared/data/video.

    .venv/bin/python benchmarks/bench_tracking.py [--out benchmarks/results/tracking.json]

Two galleries, both through the default pipeline (opencv + Dlib, cosine, the shipped threshold):

* ``celebrities``: the five people of 5-celebrity-faces enrolled from their train photos; nobody in any clip is
  enrolled, so every name given is a false accept.
* ``grid_speaker``: the speaker of bbaf2n.mp4 enrolled from 5 of its frames; names in bbaf2n.mp4 are right,
  names in the other clips are false accepts.

Each clip is analysed every frame and every 5th frame; for each, the faces named by the single-frame decision and
by the vote (core/tracking.py, the settings' window and minimum) are counted, with the time the tracker adds. For
emotion (fer), the label changes of the largest face from one analysed frame to the next are counted for single
frames and for the tracker's mean, and how often the two labels agree.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.engine import FaceEngine  # noqa: E402
from core.gallery import Consent  # noqa: E402
from core.tracking import FaceTracker  # noqa: E402
from core.video import read_frames  # noqa: E402

log = logging.getLogger("bench_tracking")
SHARED = ROOT.parent / "shared" / "data"
CLIPS = ("bbaf2n.mp4", "id2_vcd_swwp2s.mp4", "short_hamilton_clip.mp4")
GRID_FRAMES = (0, 18, 37, 55, 74)


def engine_with(gallery: str, data_dir: Path) -> FaceEngine:
    engine = FaceEngine(load_settings(data_dir=data_dir, detector="opencv", recognition_model="Dlib",
                                      emotion_enabled=True, emotion_purpose="safety", emotion_backend="fer"))
    if gallery == "celebrities":
        for person_dir in sorted(p for p in (SHARED / "faces" / "5-celebrity-faces").iterdir() if p.is_dir()):
            photos = [(p.name, p.read_bytes()) for p in sorted(person_dir.glob("train__*"))]
            engine.enroll(person_dir.name, photos, Consent("benchmark", person_dir.name, "bench_tracking"))
    else:
        frames, _ = read_frames(SHARED / "video" / "bbaf2n.mp4")
        photos = [(f"frame{i}.jpg", cv2.imencode(".jpg", frames[i])[1].tobytes()) for i in GRID_FRAMES]
        engine.enroll("grid-s1", photos, Consent("benchmark", "grid-s1", "bench_tracking"))
    return engine


def label_changes(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


def measure(engine: FaceEngine, clip: str, every_n: int, expected: str | None) -> dict:
    frames, fps = read_frames(SHARED / "video" / clip)
    tracker = FaceTracker.from_settings(engine.settings)
    counts = {"faces": 0, "single_frame_right": 0, "single_frame_wrong": 0, "voted_right": 0, "voted_wrong": 0}
    raw_labels: list[str] = []
    smoothed_labels: list[str] = []
    track_s = 0.0
    for index in range(0, len(frames), every_n):
        raw = engine.analyze(frames[index], source="video")
        t = time.perf_counter()
        smoothed = tracker.update(raw, index / fps)
        track_s += time.perf_counter() - t
        counts["faces"] += len(raw)
        for kind, observations in (("single_frame", raw), ("voted", smoothed)):
            for obs in observations:
                worker = obs.identity.worker_id
                if worker is not None:
                    counts[f"{kind}_{'right' if worker == expected else 'wrong'}"] += 1
        if raw:
            largest = max(range(len(raw)), key=lambda k: raw[k].face.box.w * raw[k].face.box.h)
            raw_labels.append(raw[largest].emotion.label)
            smoothed_labels.append(smoothed[largest].emotion.label)
    agree = sum(a == b for a, b in zip(raw_labels, smoothed_labels)) / max(1, len(raw_labels))
    return {"clip": clip, "every_n": every_n, "expected_worker": expected, **counts,
            "emotion_frames": len(raw_labels), "emotion_label_changes_single_frame": label_changes(raw_labels),
            "emotion_label_changes_smoothed": label_changes(smoothed_labels),
            "emotion_smoothed_agrees_with_single_frame": round(agree, 3),
            "tracker_us_per_frame": round(1e6 * track_s / max(1, -(-len(frames) // every_n)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tracking.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rows = []
    for gallery in ("celebrities", "grid_speaker"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = engine_with(gallery, Path(tmp))
            for clip in CLIPS:
                expected = "grid-s1" if gallery == "grid_speaker" and clip == "bbaf2n.mp4" else None
                for every_n in (1, 5):
                    row = {"gallery": gallery, **measure(engine, clip, every_n, expected)}
                    log.info("%s", row)
                    rows.append(row)
    settings = load_settings()
    result = {"benchmark": "face tracking", "pipeline": "opencv + Dlib (cosine, shipped threshold) + fer",
              "vote_window": settings.identity_vote_window, "vote_min": settings.identity_vote_min,
              "emotion_smoothing_frames": settings.emotion_smoothing_frames,
              "machine": platform.platform(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
