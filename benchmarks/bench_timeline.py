"""Benchmark of the emotion-timeline store (core/timeline).

Generates synthetic observations (default 10 million, 50 workers, 1 year) and measures:

* append throughput in batches of 1, 100 and 10,000 rows (rows/s);
* compaction after the bulk load;
* one worker's 90-day hourly timeline, the team summary, the label distribution and the heat map
  (cold = first query of a fresh store object, warm = median of repeated runs);
* the same two summaries computed by a plain pandas baseline that reads every file (``pd.read_parquet``),
  in the same run, and the ratios baseline / store;
* erasure of one worker (rows deleted, files rewritten, seconds);
* a simulated day of live use (one Observation every ``--live-interval`` s for ``--live-hours`` h, appended one at
  a time) and the file count it leaves.

Results go to benchmarks/results/timeline.json (``--out``). Small run: ``python benchmarks/bench_timeline.py --rows 200000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.timeline import (  # noqa: E402
    TimelineStore,
    label_distribution,
    team_summary,
    weekday_hour_heatmap,
    worker_timeline,
)
from core.types import EMOTIONS, Box, DetectedFace, EmotionResult, IdentityMatch, Observation  # noqa: E402

logger = logging.getLogger("bench_timeline")

START = pd.Timestamp("2025-01-01", tz="UTC")
SOURCES = np.array(["live", "upload", "api"], dtype=object)


def synthetic(n: int, t0: pd.Timestamp, t1: pd.Timestamp, workers: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows with times uniform in [t0, t1), sorted; worker ids w000..; softmax scores."""
    span_us = int((t1 - t0) / pd.Timedelta(microseconds=1))
    offsets = np.sort(rng.integers(0, span_us, n))
    logits = rng.normal(0.0, 1.5, size=(n, len(EMOTIONS)))
    logits[:, 6] += 1.0  # mostly neutral, like real footage
    scores = np.exp(logits)
    scores /= scores.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(scores, columns=list(EMOTIONS))
    frame.insert(0, "time", pd.to_datetime(t0.value // 1000 + offsets, unit="us", utc=True))
    ids = np.array([f"w{i:03d}" for i in range(workers)], dtype=object)
    frame.insert(1, "worker_id", ids[rng.integers(0, workers, n)])
    frame.insert(2, "source", SOURCES[rng.integers(0, len(SOURCES), n)])
    frame["distance"] = rng.uniform(0.1, 0.4, n)
    frame["threshold"] = 0.4
    frame["recognition_model"] = "VGG-Face"
    frame["metric"] = "cosine"
    frame["emotion_model"] = "fer"
    frame["detector"] = "opencv"
    frame["detector_confidence"] = rng.uniform(0.9, 1.0, n)
    frame["box_x"] = rng.integers(0, 600, n)
    frame["box_y"] = rng.integers(0, 400, n)
    frame["box_w"] = 120
    frame["box_h"] = 120
    return frame


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def timed_cpu(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process, all threads). On a shared machine the CPU time shows
    the work done independently of how much of the CPU the process was given."""
    c, t = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t, time.process_time() - c


def repeat(fn, runs: int) -> dict:
    walls, cpus = [], []
    for _ in range(runs):
        _, wall, cpu = timed_cpu(fn)
        walls.append(wall)
        cpus.append(cpu)
    return {"median_ms": round(statistics.median(walls) * 1000, 1), "min_ms": round(min(walls) * 1000, 1),
            "median_cpu_ms": round(statistics.median(cpus) * 1000, 1), "runs": runs}


def bulk_load(store: TimelineStore, rows: int, workers: int, days: int, batch: int, rng) -> dict:
    """Append ``rows`` rows in time order, ``batch`` rows per append; only append() calls are timed."""
    chunk = 1_000_000
    end = START + pd.Timedelta(days=days)
    span = end - START
    appended, seconds, cpu = 0, 0.0, 0.0
    n_chunks = max(1, -(-rows // chunk))
    for k in range(n_chunks):
        n = min(chunk, rows - k * chunk)
        frame = synthetic(n, START + span * k / n_chunks, START + span * (k + 1) / n_chunks, workers, rng)
        for i in range(0, n, batch):
            part = frame.iloc[i:i + batch]
            _, s, c = timed_cpu(store.append, part)
            seconds += s
            cpu += c
            appended += len(part)
        logger.info("loaded %d / %d rows (%.0f rows/s)", appended, rows, appended / seconds)
    return {"batch": batch, "rows": appended, "seconds": round(seconds, 2), "rows_per_s": round(appended / seconds),
            "cpu_seconds": round(cpu, 2), "rows_per_cpu_s": round(appended / cpu)}


def small_batches(folder: Path, batch: int, appends: int, workers: int, rng) -> dict:
    store = TimelineStore(folder)
    frame = synthetic(batch * appends, START, START + pd.Timedelta(hours=8), workers, rng)
    seconds, cpu = 0.0, 0.0
    for i in range(appends):
        _, s, c = timed_cpu(store.append, frame.iloc[i * batch:(i + 1) * batch])
        seconds += s
        cpu += c
    files = len(store.file_paths())
    rows = store.count()
    store.close()
    return {"batch": batch, "rows": batch * appends, "appends": appends, "seconds": round(seconds, 2),
            "rows_per_s": round(batch * appends / seconds), "ms_per_append": round(seconds / appends * 1000, 2),
            "cpu_ms_per_append": round(cpu / appends * 1000, 2),
            "rows_read_back": rows, "files_after": files}


def live_day(folder: Path, hours: float, interval_s: float, rng) -> dict:
    """One Observation every ``interval_s`` seconds (cycling over 5 workers + unknown), appended one at a time."""
    store = TimelineStore(folder)
    crop = np.zeros((8, 8, 3), np.uint8)
    t0 = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)
    n = int(hours * 3600 / interval_s)
    max_files, latencies, cpu = 0, [], 0.0
    for i in range(n):
        worker = None if i % 6 == 5 else f"w{i % 6:03d}"
        obs = Observation(
            time=t0 + dt.timedelta(seconds=i * interval_s),
            source="live",
            face=DetectedFace(Box(10, 20, 120, 120), 0.98, crop, detector="opencv"),
            identity=IdentityMatch(worker, 0.3 if worker else 0.7, 0.4, "VGG-Face", "cosine"),
            emotion=EmotionResult.from_probabilities(rng.dirichlet(np.ones(7)), "fer"),
        )
        _, s, c = timed_cpu(store.append, [obs])
        latencies.append(s)
        cpu += c
        if i % 50 == 0:
            max_files = max(max_files, len(store.file_paths()))
    files = len(store.file_paths())
    rows = store.count()
    store.close()
    lat = np.array(latencies) * 1000
    return {"appends": n, "interval_s": interval_s, "hours": hours, "rows_read_back": rows, "files_after": files,
            "max_files_seen": max_files, "compact_min_files": store.compact_min_files,
            "append_ms_mean": round(float(lat.mean()), 2), "append_ms_p99": round(float(np.percentile(lat, 99)), 2),
            "append_ms_max": round(float(lat.max()), 1), "append_cpu_ms_mean": round(cpu / n * 1000, 2),
            "seconds": round(float(lat.sum()) / 1000, 1)}


def pandas_baseline(root: str, worker: str, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Read every file with pandas, then compute the same two summaries."""
    def worker_hourly():
        df = pd.read_parquet(root)
        sel = df[(df["worker_id"] == worker) & (df["time"] >= start) & (df["time"] < end)]
        grouped = sel.groupby(sel["time"].dt.floor("h"))
        return grouped[list(EMOTIONS) + ["valence_score"]].mean().join(grouped.size().rename("n"))

    def team():
        df = pd.read_parquet(root)
        return df.groupby("worker_id")[list(EMOTIONS) + ["valence_score"]].mean()

    w, ws = timed(worker_hourly)
    t, ts = timed(team)
    return {"worker_90d_hourly_ms": round(ws * 1000, 1), "team_summary_ms": round(ts * 1000, 1),
            "worker_buckets": len(w), "team_rows": len(t)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--batch", type=int, default=10_000, help="batch size of the bulk load")
    ap.add_argument("--single-appends", type=int, default=2000, help="appends of 1 row measured")
    ap.add_argument("--hundred-appends", type=int, default=500, help="appends of 100 rows measured")
    ap.add_argument("--live-hours", type=float, default=8.0)
    ap.add_argument("--live-interval", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=7, help="repetitions of each warm query")
    ap.add_argument("--dir", help="work folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "timeline.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = np.random.default_rng(42)

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "pandas": pd.__version__, "pyarrow": __import__("pyarrow").__version__,
                    "duckdb": __import__("duckdb").__version__,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "config": {"rows": args.rows, "workers": args.workers, "days": args.days, "bulk_batch": args.batch},
    }
    try:
        # ---- appends -------------------------------------------------------------------------------------
        logger.info("appends of 1 and 100 rows")
        appends = [small_batches(work / "batch1", 1, args.single_appends, args.workers, rng),
                   small_batches(work / "batch100", 100, args.hundred_appends, args.workers, rng)]
        logger.info("bulk load of %d rows", args.rows)
        store = TimelineStore(work / "store")
        appends.append(bulk_load(store, args.rows, args.workers, args.days, args.batch, rng))
        results["append"] = appends
        files_before = len(store.file_paths())
        summary, seconds, cpu = timed_cpu(store.compact)
        results["compaction"] = {**summary, "files_before": files_before, "seconds": round(seconds, 1),
                                 "cpu_seconds": round(cpu, 1)}
        store.close()
        stats = TimelineStore(work / "store").stats()
        results["store"] = {k: stats[k] for k in ("rows", "files", "partitions", "bytes", "workers",
                                                  "first_time", "last_time")}

        # ---- queries -------------------------------------------------------------------------------------
        end = START + pd.Timedelta(days=args.days)
        start90 = end - pd.Timedelta(days=90)
        worker = "w007"
        fresh = TimelineStore(work / "store")
        cold, cold_s = timed(worker_timeline, fresh, worker, start90, end, "hour")
        q = {"worker_90d_hourly": {"cold_ms": round(cold_s * 1000, 1), "buckets": len(cold), "rows": int(cold["n"].sum()),
                                   **repeat(lambda: worker_timeline(fresh, worker, start90, end, "hour"), args.runs)}}
        team, team_cold_s = timed(team_summary, fresh)
        q["team_summary"] = {"cold_ms": round(team_cold_s * 1000, 1), "workers": len(team),
                             **repeat(lambda: team_summary(fresh), args.runs)}
        q["team_summary_90d"] = repeat(lambda: team_summary(fresh, start90, end), args.runs)
        q["label_distribution_all"] = repeat(lambda: label_distribution(fresh), args.runs)
        q["heatmap_worker_90d_berlin"] = repeat(
            lambda: weekday_hour_heatmap(fresh, worker, start90, end, tz="Europe/Berlin"), args.runs)
        q["worker_90d_minute"] = repeat(lambda: worker_timeline(fresh, worker, start90, end, "minute"), 3)
        results["queries"] = q
        fresh.close()

        if not args.skip_baseline:
            logger.info("pandas read-everything baseline")
            base = pandas_baseline(str(work / "store"), worker, start90, end)
            base["ratio_worker_90d_hourly"] = round(base["worker_90d_hourly_ms"] / q["worker_90d_hourly"]["median_ms"], 1)
            base["ratio_team_summary"] = round(base["team_summary_ms"] / q["team_summary"]["median_ms"], 1)
            results["pandas_baseline"] = base

        # ---- erasure -------------------------------------------------------------------------------------
        logger.info("erasure of one worker")
        store = TimelineStore(work / "store")
        report, seconds, cpu = timed_cpu(store.erase_worker_report, "w013")
        left = store.count(worker="w013")
        results["erasure"] = {"rows_deleted": report.rows_deleted, "files_rewritten": report.files_rewritten,
                              "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "rows_left": left}
        store.close()

        # ---- a day of live use ---------------------------------------------------------------------------
        logger.info("simulated live day")
        results["live_day"] = live_day(work / "live", args.live_hours, args.live_interval, rng)

        bulk = next(a for a in appends if a["batch"] == args.batch)
        results["goals"] = {
            "worker_90d_summary_under_300ms": q["worker_90d_hourly"]["median_ms"] < 300,
            "bulk_append_at_least_100k_rows_per_s": bulk["rows_per_s"] >= 100_000,
        }
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    logger.info("results written to %s", out)
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
