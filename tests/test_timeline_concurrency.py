"""Timeline store under concurrent writers and killed processes (real processes, real parquet files)."""

from __future__ import annotations

import glob
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.timeline import TimelineStore

T0 = pd.Timestamp("2025-03-10T08:00:00Z")
WRITERS, BATCHES, ROWS = 8, 15, 4


def _frame(writer: int, batch: int, rows: int, day_offset: int = 0) -> pd.DataFrame:
    """Rows with predictable ids ``<writer>-<batch>-<row>`` (the caller-supplied obs_id is kept)."""
    n = np.arange(rows)
    return pd.DataFrame({
        "obs_id": [f"{writer}-{batch}-{i}" for i in n],
        "time": T0 + pd.Timedelta(days=day_offset) + pd.to_timedelta(writer * 3600 + batch * 10 + n, unit="s"),
        "source": f"writer-{writer}",
        "worker_id": f"w{writer}",
        "happy": 0.8, "neutral": 0.2, "angry": 0.0, "disgust": 0.0, "fear": 0.0, "sad": 0.0, "surprise": 0.0,
    })


def _writer(root: str, writer: int, barrier) -> None:
    store = TimelineStore(root, compact_min_files=3)  # compaction races with the other writers constantly
    barrier.wait()
    for batch in range(BATCHES):
        store.append(_frame(writer, batch, ROWS, day_offset=batch % 2))


def test_eight_processes_append_concurrently_without_loss_or_duplicates(tmp_path):
    root = str(tmp_path / "tl")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS + 1)
    procs = [ctx.Process(target=_writer, args=(root, w, barrier)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    reader = TimelineStore(root)
    seen = []
    while any(p.is_alive() for p in procs):  # a reader running alongside never sees duplicates
        frame = reader.read(columns=["obs_id"])
        assert frame["obs_id"].is_unique
        seen.append(len(frame))
        time.sleep(0.05)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert seen == sorted(seen)  # rows never disappear, even while files are being compacted
    total = WRITERS * BATCHES * ROWS
    frame = reader.read()
    assert len(frame) == total and frame["obs_id"].is_unique
    expected = {f"{w}-{b}-{i}" for w in range(WRITERS) for b in range(BATCHES) for i in range(ROWS)}
    assert set(frame["obs_id"]) == expected
    reader.compact()
    files = reader.file_paths()
    assert len(files) == 2  # two date partitions, one file each
    raw = pd.concat([pq.read_table(f).to_pandas() for f in files])
    assert len(raw) == total and raw["obs_id"].is_unique


def _append_then_hang(root: str, flag: str) -> None:
    store = TimelineStore(root)
    for batch in range(3):
        store.append(_frame(0, batch, 1000))
    real_replace = os.replace

    def hang(src, dst):  # the temporary file is fully written; the process dies before the rename
        open(flag, "w").close()
        time.sleep(600)
        real_replace(src, dst)

    os.replace = hang
    store.append(_frame(0, 99, 1000))


def test_process_killed_during_append_leaves_whole_batches(tmp_path):
    root, flag = str(tmp_path / "tl"), str(tmp_path / "ready")
    proc = mp.get_context("spawn").Process(target=_append_then_hang, args=(root, flag))
    proc.start()
    deadline = time.time() + 120
    while not os.path.exists(flag) and time.time() < deadline and proc.is_alive():
        time.sleep(0.02)
    assert os.path.exists(flag), "the child never reached the rename"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL

    tmp_files = glob.glob(os.path.join(root, "date=*", ".tmp-*"))
    assert len(tmp_files) == 1  # the half-finished append exists only as an ignored temporary file
    store = TimelineStore(root, stale_tmp_s=0)
    frame = store.read()
    assert len(frame) == 3000 and store.last_read_problems == []
    assert sorted(frame["obs_id"].str.split("-").str[1].unique()) == ["0", "1", "2"]
    store.compact()
    assert glob.glob(os.path.join(root, "date=*", ".tmp-*")) == []
    assert store.count() == 3000


def _append_forever(root: str) -> None:
    store = TimelineStore(root, compact_min_files=3)
    batch = 0
    while True:
        store.append(_frame(1, batch, 2000))
        batch += 1


def test_process_killed_at_a_random_moment_leaves_a_readable_store(tmp_path):
    root = str(tmp_path / "tl")
    proc = mp.get_context("spawn").Process(target=_append_forever, args=(root,))
    proc.start()
    store = TimelineStore(root)
    deadline = time.time() + 120
    while len(glob.glob(os.path.join(root, "date=*", "*.parquet"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(np.random.default_rng().uniform(0.1, 0.6))
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    frame = store.read()
    assert store.last_read_problems == []
    assert len(frame) > 0 and frame["obs_id"].is_unique
    per_batch = frame.groupby(frame["obs_id"].str.split("-").str[1]).size()
    assert (per_batch == 2000).all()  # only whole batches
    assert len(frame) == 2000 * len(per_batch)
