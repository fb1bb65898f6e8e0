"""Benchmark of the timeline store's after-append compaction: merging the whole date vs. merging tier by tier.

Live use appends one row at a time; each append is one small file, and when a date holds more than
``compact_min_files`` (16) files the appending process compacts. Until commit e40c96f it merged *every* file of
the date into one ("whole"): every 16 appends it read and rewrote all of the day's rows (quadratic in the day's
rows), and the pages of those ever bigger reads stayed in Arrow's memory pool (the 60-minute live soak grew 70 MB
an hour). Now it merges only the newest files while each is at most twice the rows already chosen ("tiered", like
a binary counter: each row is rewritten about log2(rows / 16) times) and hands freed pages back
(``release_unused``).

Both policies run side by side in one invocation, each in a fresh subprocess (clean RSS), interleaved (whole,
tiered, whole, tiered, ...). Each run appends ``--appends`` single-row Observations (default 7200: two hours at one
row per second of observation time, no sleeping, all in one UTC date) to a new store. "whole" is the old
``compact_if_free`` re-implemented here and monkeypatched in; "tiered" is the committed code. Measured per run:
RSS (/proc/self/statm) after the ``--warmup`` appends and at the end, rows rewritten by compactions (from
``maintenance._write_partition_file``), append latency (perf_counter around ``store.append``), the partition's
file count, and a correctness check (row count, no duplicate ``obs_id`` in the files).

Results go to benchmarks/results/compaction.json (``--out``). Small run:
``python benchmarks/bench_compaction.py --appends 1500 --repeats 1``.
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

logger = logging.getLogger("bench_compaction")

POLICIES = ("whole", "tiered")
T0 = dt.datetime(2025, 3, 10, 8, 0, tzinfo=dt.UTC)  # 08:00 UTC: two hours at 1 row/s stay in one date
PAGE = os.sysconf("SC_PAGE_SIZE")
CROP = np.zeros((8, 8, 3), np.uint8)
SUMMARY_KEYS = ("rss_growth_after_warmup_mb", "rss_mb_end", "rows_rewritten", "rows_rewritten_per_row",
                "compactions", "append_ms_mean", "append_ms_p99", "append_ms_max", "max_files_seen", "files_end",
                "seconds")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def whole_compact_if_free(store, day: str) -> bool:
    """The after-append compaction before e40c96f: merge every file of the date, keep freed pages in the pool."""
    from core.errors import StoreError
    from core.timeline import maintenance

    try:
        held = store.maintenance_lock(timeout=0)
    except StoreError:
        return False
    with held:
        maintenance.compact_partition(store, day)
    return True


def make_obs(i: int, rng: np.random.Generator):
    """A live observation like tests/test_timeline_store.py ``make_obs``: 5 workers and an unknown face in turn,
    one second apart, softmax-like scores."""
    from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation

    worker = None if i % 6 == 5 else f"w{i % 6}"
    face = DetectedFace(Box(10 + i % 50, 20, 64, 64), 0.97, CROP, detector="opencv")
    ident = IdentityMatch(worker, 0.3 if worker else 0.7, 0.4, "VGG-Face", "cosine", nearest_worker_id=worker or "w9")
    emo = EmotionResult.from_probabilities(rng.dirichlet(np.ones(7)), "fer")
    return Observation(T0 + dt.timedelta(seconds=i), "live", face, ident, emo)


def run_policy(policy: str, appends: int, warmup: int, folder: Path) -> dict:
    """One run in this (fresh) process: ``appends`` single-row appends to a new store under ``policy``."""
    import pyarrow.parquet as pq

    from core.timeline import TimelineStore, maintenance

    if policy == "whole":
        maintenance.compact_if_free = whole_compact_if_free  # the store calls maintenance.compact_if_free(...)
    written: list[int] = []
    real_write = maintenance._write_partition_file

    def counting_write(store, day, table):
        written.append(table.num_rows)
        return real_write(store, day, table)

    maintenance._write_partition_file = counting_write
    rng = np.random.default_rng(7)
    store = TimelineStore(folder)
    rss_start, rss_warm = rss_mb(), None
    latencies, max_files = [], 0
    t_run, c_run = time.perf_counter(), time.process_time()
    for i in range(appends):
        obs = make_obs(i, rng)
        t = time.perf_counter()
        store.append([obs])
        latencies.append(time.perf_counter() - t)
        max_files = max(max_files, len(store.file_paths()))
        if i + 1 == warmup:
            rss_warm = rss_mb()
    seconds, cpu = time.perf_counter() - t_run, time.process_time() - c_run
    rss_end = rss_mb()
    rss_warm = rss_end if rss_warm is None else rss_warm
    paths = store.file_paths()
    ids = [v for p in paths for v in pq.read_table(p, columns=["obs_id"]).column("obs_id").to_pylist()]
    count = store.count()
    store.close()
    lat = np.array(latencies) * 1000
    return {
        "policy": policy, "appends": appends, "warmup_appends": warmup,
        "rss_mb_start": round(rss_start, 1), "rss_mb_after_warmup": round(rss_warm, 1), "rss_mb_end": round(rss_end, 1),
        "rss_growth_after_warmup_mb": round(rss_end - rss_warm, 1),
        "rows_rewritten": sum(written), "rows_rewritten_per_row": round(sum(written) / appends, 2),
        "compactions": len(written), "largest_merge_rows": max(written, default=0),
        "append_ms_mean": round(float(lat.mean()), 2), "append_ms_p99": round(float(np.percentile(lat, 99)), 2),
        "append_ms_max": round(float(lat.max()), 1), "max_files_seen": max_files, "files_end": len(paths),
        "count": count, "duplicate_obs_ids": len(ids) - len(set(ids)),
        "correct": count == appends and len(ids) == appends and len(set(ids)) == appends,
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
    }


def spawn(policy: str, args) -> dict:
    """Run one policy in a fresh interpreter; it prints its result as one JSON line."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-compaction-{policy}-"))
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", policy, "--appends", str(args.appends),
               "--warmup", str(args.warmup), "--dir", str(folder / "store")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{policy} run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appends", type=int, default=7200, help="single-row appends per run (1 per second)")
    ap.add_argument("--warmup", type=int, default=500, help="appends before the first RSS reading")
    ap.add_argument("--repeats", type=int, default=2, help="runs per policy (interleaved)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "compaction.json"))
    ap.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.child:  # inside the fresh subprocess: one run, result on stdout
        sys.stdout.write(json.dumps(run_policy(args.child, args.appends, args.warmup, Path(args.dir))) + "\n")
        return 0
    if args.appends < args.warmup:
        ap.error("--appends must be at least --warmup")

    import pyarrow as pa

    results: dict = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "pyarrow": pa.__version__, "memory_pool": pa.default_memory_pool().backend_name,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "config": {"appends": args.appends, "interval_s": 1, "warmup_appends": args.warmup, "repeats": args.repeats,
                   "first_time": T0.isoformat(), "compact_min_files": 16},
        "runs": [],
    }
    for r in range(args.repeats):
        for policy in POLICIES:
            logger.info("run %d/%d: %s, %d appends", r + 1, args.repeats, policy, args.appends)
            run = spawn(policy, args)
            logger.info("%s: growth %.1f MB, %d rows rewritten, append mean %.2f ms, max files %d, correct %s",
                        policy, run["rss_growth_after_warmup_mb"], run["rows_rewritten"], run["append_ms_mean"],
                        run["max_files_seen"], run["correct"])
            results["runs"].append(run)
    summary = {}
    for policy in POLICIES:
        runs = [x for x in results["runs"] if x["policy"] == policy]
        medians = {k: statistics.median(x[k] for x in runs) for k in SUMMARY_KEYS}
        summary[policy] = {k: int(m) if float(m).is_integer() else round(m, 2) for k, m in medians.items()}
        summary[policy]["all_correct"] = all(x["correct"] for x in runs)
    results["median_per_policy"] = summary
    w, t = summary["whole"], summary["tiered"]

    def ratio(key: str):
        return round(w[key] / t[key], 1) if t[key] else None

    results["ratios"] = {"note": "whole / tiered, of the medians per policy",
                         **{k: ratio(k) for k in ("rss_growth_after_warmup_mb", "rows_rewritten",
                                                  "append_ms_mean", "append_ms_p99")}}
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    logger.info("results written to %s", out)
    print(f"growth MB whole {w['rss_growth_after_warmup_mb']} / tiered {t['rss_growth_after_warmup_mb']}; "
          f"rows rewritten per row {w['rows_rewritten_per_row']} / {t['rows_rewritten_per_row']}; "
          f"append ms mean {w['append_ms_mean']} / {t['append_ms_mean']}; correct "
          f"{w['all_correct'] and t['all_correct']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
