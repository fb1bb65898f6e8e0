"""Benchmark of the live camera pipeline on a real video fed at its own frame rate.

Three ways to serve the WebRTC frame callback, side by side in one run (same machine; the modes take turns in
interleaved rounds, so load from other jobs hits them alike):

- ``naive``:   analyse every frame synchronously inside the callback (detect + embed + emotion, then draw).
- ``thread``:  core.live.LiveProcessor with EngineAnalyzer (the in-process FaceEngine; worker thread, newest frame only).
- ``process``: LiveProcessor with ProcessAnalyzer (the same engine in a child process; the page's default).

A feeder calls the callback on the source clock (25 frames/s for the GRID clip): frame i is due at t0 + i/fps; if the
callback is still busy when later frames are due, those frames are skipped, as a real camera would not wait.
Reported per mode: returned video frames/s, analysed frames/s, capture->result latency p50/p95, callback time
p50/p99/max, frames never analysed, and frames skipped because the feeding thread was late (a slow callback, or
the thread waiting for the GIL that an in-process model call holds: the callback's own time does not show that
wait, the returned frame rate does). JSON goes to benchmarks/results/live.json.

    .venv/bin/python benchmarks/bench_live.py [--seconds 20] [--rounds 4] [--video ../shared/data/video/bbaf2n.mp4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_live")
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "video" / "bbaf2n.mp4"
ENROLL_FRAMES = (0, 18, 37, 55, 74)


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    from core.video import read_frames

    return read_frames(path)


def percentile(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def feed(callback, frames, fps: float, seconds: float, progress=None) -> dict:
    """Call ``callback(av_frame, due_time)`` on the source clock; returns callback times and lateness."""
    import av

    period = 1.0 / fps
    total = int(round(seconds * fps))
    durations, returned, skipped = [], 0, 0
    t0 = time.perf_counter()
    i = 0
    while i < total:
        due = t0 + i * period
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="bgr24")
        start = time.perf_counter()
        callback(frame, due)
        end = time.perf_counter()
        durations.append(end - start)
        returned += 1
        # frames that became due while this callback ran (or while this thread waited for the GIL before it)
        # were never handed over: a camera does not wait
        next_i = min(total, max(i + 1, int((end - t0) / period) + 1))
        skipped += next_i - i - 1
        if progress:
            progress.update(next_i - i)
        i = next_i
    elapsed = time.perf_counter() - t0
    return {"durations_ms": [d * 1000 for d in durations], "returned": returned, "skipped": skipped,
            "source_frames": total, "elapsed_s": elapsed}


class Tally:
    """One mode's measurements, accumulated over its interleaved rounds."""

    def __init__(self, mode: str):
        self.mode = mode
        self.seconds = 0.0
        self.source_frames = self.returned = self.skipped = self.analysed = 0
        self.callback_ms: list[float] = []
        self.latency_ms: list[float] = []
        self.analysis_ms: list[float] = []
        self.dropped_in_slot = self.overlaid = self.rows = 0
        self.labels: list[str] = []

    def add_feed(self, fed: dict) -> None:
        self.seconds += fed["elapsed_s"]
        self.source_frames += fed["source_frames"]
        self.returned += fed["returned"]
        self.skipped += fed["skipped"]
        self.callback_ms += fed["durations_ms"]

    def summary(self) -> dict:
        cb = self.callback_ms
        out = {
            "mode": self.mode,
            "seconds": round(self.seconds, 2),
            "source_frames": self.source_frames,
            "returned_frames": self.returned,
            "returned_fps": round(self.returned / self.seconds, 2),
            "analysed_frames": self.analysed,
            "analysed_fps": round(self.analysed / self.seconds, 2),
            "latency_p50_ms": percentile(self.latency_ms, 50),
            "latency_p95_ms": percentile(self.latency_ms, 95),
            "callback_p50_ms": percentile(cb, 50),
            "callback_p99_ms": percentile(cb, 99),
            "callback_max_ms": round(max(cb), 2) if cb else None,
            "frames_not_analysed": self.source_frames - self.analysed,
            "frames_skipped_late": self.skipped,
        }
        if self.mode != "naive":
            out.update({
                "dropped_in_slot": self.dropped_in_slot,
                "overlaid_frames": self.overlaid,
                "analysis_ms_p50": percentile(self.analysis_ms, 50),
                "rows_stored": self.rows,
                "labels_last": self.labels,
            })
        return out


def run_naive(tally: Tally, engine, frames, fps, seconds, progress) -> None:
    import av

    from core.annotate import annotate

    names = engine.gallery.display_names()

    def callback(frame, due):
        image = frame.to_ndarray(format="bgr24")
        observations = engine.analyze(image, source="live")
        out = av.VideoFrame.from_ndarray(annotate(image, observations, names), format="bgr24")
        tally.latency_ms.append((time.perf_counter() - due) * 1000)
        tally.analysed += 1
        return out

    tally.add_feed(feed(callback, frames, fps, seconds, progress))


def run_processor(tally: Tally, analyzer, store, interval_s, frames, fps, seconds, progress) -> None:
    from core.live import LiveProcessor

    processor = LiveProcessor(analyzer, store, interval_s=interval_s, history=100_000)
    try:
        tally.add_feed(feed(lambda frame, due: processor.recv(frame), frames, fps, seconds, progress))
    finally:
        processor.stop()
    stats = processor.stats()
    results = processor.board.recent()
    tally.analysed += stats.analysed
    tally.latency_ms += [r.latency_ms for r in results]
    tally.analysis_ms += [r.analysis_ms for r in results]
    tally.dropped_in_slot += stats.dropped
    tally.overlaid += stats.overlaid
    tally.rows += stats.rows_written
    tally.labels = list(stats.labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=float, default=20.0, help="per mode (in total over the rounds)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per mode")
    parser.add_argument("--interval", type=float, default=1.0, help="observation interval for the stored rows")
    parser.add_argument("--modes", default="naive,thread,process")
    parser.add_argument("--no-emotion", action="store_true", help="identity only (emotion analysis off)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import cv2
    from tqdm import tqdm

    frames, fps = read_video(args.video)
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    os.environ["FACEDASH_DATA_DIR"] = str(work)  # isolated: no settings.json from elsewhere applies
    from core.config import load_settings
    from core.engine import FaceEngine
    from core.gallery import Consent
    from core.live import EngineAnalyzer, ProcessAnalyzer
    from core.timeline.store import TimelineStore

    emotion = not args.no_emotion
    settings = load_settings(
        data_dir=work, detector="opencv", recognition_model="Dlib", emotion_enabled=emotion,
        emotion_purpose="safety" if emotion else None, emotion_backend="fer",
    )
    engine = FaceEngine(settings)
    enroll = [(f"f{i}.jpg", cv2.imencode(".jpg", frames[min(i, len(frames) - 1)])[1].tobytes()) for i in ENROLL_FRAMES]
    engine.enroll("bench", enroll, Consent("benchmark", "bench", "bench_live.py"), name="Bench Person")
    engine.analyze(frames[0], source="live")  # warm up
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"naive", "thread", "process"}
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from naive, thread, process")
    analyzer = ProcessAnalyzer(settings) if "process" in modes else None
    if analyzer is not None and not analyzer.wait_ready(300):
        raise SystemExit(f"analysis process did not start: {analyzer.error}")
    if analyzer is not None:
        analyzer.analyze(frames[0], source="live")  # warm up the child too

    # Interleave: naive, thread, process, naive, thread, ... so that load from other jobs hits all modes alike.
    load_before = os.getloadavg()
    tallies = {mode: Tally(mode) for mode in modes}
    stores = {mode: TimelineStore(str(work / f"timeline-{mode}")) for mode in modes}
    segment = args.seconds / args.rounds
    try:
        with tqdm(total=int(round(args.seconds * fps)) * len(modes), unit="frame") as progress:
            for round_no in range(args.rounds):
                for mode in modes:
                    progress.set_description(f"round {round_no + 1}/{args.rounds} {mode}")
                    if mode == "naive":
                        run_naive(tallies[mode], engine, frames, fps, segment, progress)
                    else:
                        runner = EngineAnalyzer(engine) if mode == "thread" else analyzer
                        run_processor(tallies[mode], runner, stores[mode], args.interval, frames, fps, segment,
                                      progress)
    finally:
        if analyzer is not None:
            analyzer.close()
    load_after = os.getloadavg()
    results = [tallies[mode].summary() for mode in modes]
    for r in results:
        log.info("%s: %s", r["mode"], r)

    by_mode = {r["mode"]: r for r in results}
    ratios = {}
    if "naive" in by_mode:
        base = by_mode["naive"]
        for r in results:
            if r["mode"] == "naive":
                continue
            ratios[r["mode"]] = {
                "returned_fps_vs_naive": round(r["returned_fps"] / base["returned_fps"], 2),
                "analysed_fps_vs_naive": round(r["analysed_fps"] / base["analysed_fps"], 2),
                "callback_p50_vs_naive": round(r["callback_p50_ms"] / base["callback_p50_ms"], 4),
                "latency_p50_vs_naive": round(r["latency_p50_ms"] / base["latency_p50_ms"], 2),
            }
    report = {
        "video": args.video.name,
        "frame_size": list(frames[0].shape[:2][::-1]),
        "source_fps": fps,
        "seconds_per_mode": args.seconds,
        "interleaved_rounds": args.rounds,
        "emotion_enabled": emotion,
        "backends": engine.backend_report().as_dict(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "results": results,
        "ratios_vs_naive": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))

    columns = ["returned_fps", "analysed_fps", "latency_p50_ms", "latency_p95_ms", "callback_p50_ms",
               "callback_p99_ms", "callback_max_ms", "frames_not_analysed", "frames_skipped_late"]
    print(f"\n{args.video.name} at {fps:g} frames/s, {args.seconds:g} s per mode in {args.rounds} interleaved rounds, "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':32s}" + "".join(f"{r['mode']:>12s}" for r in results))
    for column in columns:
        print(f"{column:32s}" + "".join(f"{str(r[column]):>12s}" for r in results))
    for mode, ratio in ratios.items():
        print(f"{mode} vs naive: {ratio}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
