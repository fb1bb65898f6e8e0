"""Single-frame vs voted identities on the real clips in ../shared/data/video, measured in one run.

    .venv/bin/python benchmarks/bench_voting.py [--out benchmarks/results/voting.json]

Two galleries, both through the default pipeline (opencv + Dlib, cosine, the shipped threshold):

* ``celebrities``: the five people of 5-celebrity-faces enrolled from their train photos; nobody in any clip is
  enrolled, so every name given is a false accept.
* ``grid_speaker``: the speaker of bbaf2n.mp4 enrolled from 5 of its frames; names in bbaf2n.mp4 are right,
  names in the other clips are false accepts.

Each clip is analysed every frame and every 5th frame; for each, the faces named by the single-frame decision and
by the vote (core/tracking.py, the settings' window and minimum) are counted, with the time the vote adds.
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
from core.tracking import IdentityVoter  # noqa: E402
from core.video import read_frames  # noqa: E402

log = logging.getLogger("bench_voting")
SHARED = ROOT.parent / "shared" / "data"
CLIPS = ("bbaf2n.mp4", "id2_vcd_swwp2s.mp4", "short_hamilton_clip.mp4")
GRID_FRAMES = (0, 18, 37, 55, 74)


def engine_with(gallery: str, data_dir: Path) -> FaceEngine:
    engine = FaceEngine(load_settings(data_dir=data_dir, detector="opencv", recognition_model="Dlib"),
                        load_emotion=False)
    if gallery == "celebrities":
        for person_dir in sorted(p for p in (SHARED / "faces" / "5-celebrity-faces").iterdir() if p.is_dir()):
            photos = [(p.name, p.read_bytes()) for p in sorted(person_dir.glob("train__*"))]
            engine.enroll(person_dir.name, photos, Consent("benchmark", person_dir.name, "bench_voting"))
    else:
        frames, _ = read_frames(SHARED / "video" / "bbaf2n.mp4")
        photos = [(f"frame{i}.jpg", cv2.imencode(".jpg", frames[i])[1].tobytes()) for i in GRID_FRAMES]
        engine.enroll("grid-s1", photos, Consent("benchmark", "grid-s1", "bench_voting"))
    return engine


def measure(engine: FaceEngine, clip: str, every_n: int, expected: str | None) -> dict:
    frames, fps = read_frames(SHARED / "video" / clip)
    voter = IdentityVoter.from_settings(engine.settings)
    counts = {"faces": 0, "single_frame_right": 0, "single_frame_wrong": 0, "voted_right": 0, "voted_wrong": 0}
    vote_s = 0.0
    for index in range(0, len(frames), every_n):
        raw = engine.analyze(frames[index], source="video")
        t = time.perf_counter()
        voted = voter.update(raw, index / fps)
        vote_s += time.perf_counter() - t
        counts["faces"] += len(raw)
        for kind, observations in (("single_frame", raw), ("voted", voted)):
            for obs in observations:
                worker = obs.identity.worker_id
                if worker is not None:
                    counts[f"{kind}_{'right' if worker == expected else 'wrong'}"] += 1
    return {"clip": clip, "every_n": every_n, "expected_worker": expected, **counts,
            "vote_us_per_frame": round(1e6 * vote_s / max(1, -(-len(frames) // every_n)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "voting.json")
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
    result = {"benchmark": "identity voting", "pipeline": "opencv + Dlib, cosine, shipped threshold",
              "vote_window": settings.identity_vote_window, "vote_min": settings.identity_vote_min,
              "machine": platform.platform(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
