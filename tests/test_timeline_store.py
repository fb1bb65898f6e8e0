"""Timeline store: round trip, batching/compaction, retries, erasure, retention, corrupt files, queries, memory://."""

from __future__ import annotations

import datetime as dt
import glob
import logging
import math
import os
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.timeline import (
    COLUMNS,
    SCHEMA,
    TimelineArgumentError,
    TimelineDataError,
    TimelineStore,
    enforce_retention,
    label_distribution,
    maintenance,
    smoothed_valence,
    team_summary,
    weekday_hour_heatmap,
    worker_timeline,
)
from core.timeline.fs import StoredFile
from core.timeline.queries import (
    DISTRIBUTION_COLUMNS,
    HEATMAP_COLUMNS,
    SMOOTHED_COLUMNS,
    TEAM_COLUMNS,
    TIMELINE_COLUMNS,
)
from core.types import EMOTIONS, Box, DetectedFace, EmotionResult, IdentityMatch, Observation

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # a Monday
CROP = np.zeros((8, 8, 3), np.uint8)


def make_obs(t: dt.datetime, worker: str | None = "w1", scores=None, *, emotion=True, source="live",
             distance=0.3, box=(10, 20, 64, 64)) -> Observation:
    face = DetectedFace(Box(*box), 0.97, CROP, detector="opencv")
    ident = IdentityMatch(worker, distance, 0.4, "VGG-Face", "cosine", nearest_worker_id=worker or "w9")
    emo = None
    if emotion:
        emo = EmotionResult.from_probabilities(scores if scores is not None else np.arange(1, 8, dtype=float), "fer")
    return Observation(t, source, face, ident, emo)


def one_hot(label: str, p: float = 0.7) -> np.ndarray:
    s = np.full(7, (1 - p) / 6)
    s[EMOTIONS.index(label)] = p
    return s


def raw_rows(store: TimelineStore) -> pa.Table:
    """Every row of every visible data file, read with pyarrow directly (not through the query API)."""
    files = sorted(glob.glob(os.path.join(store.root, "date=*", "*.parquet")))
    files = [f for f in files if not os.path.basename(f).startswith(".")]
    if not files:
        return SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])


@pytest.fixture
def store(tmp_path) -> TimelineStore:
    s = TimelineStore(tmp_path / "timeline")
    yield s
    s.close()


# ----------------------------------------------------------------------------------------------- round trip
def test_round_trip_every_column_and_dtype(store):
    observations = [
        make_obs(T0, "w1", one_hot("happy")),
        make_obs(T0 + dt.timedelta(seconds=5), None, emotion=False, distance=float("inf")),
        make_obs(dt.datetime(2025, 3, 10, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "w2", one_hot("sad")),
    ]
    assert store.append(observations) == 3
    got = store.read()
    assert list(got.columns) == list(COLUMNS)
    expected_dtypes = {
        "obs_id": "str", "time": "datetime64[us, UTC]", "worker_id": "str", "source": "str",
        **{e: "float32" for e in EMOTIONS}, "label": "str", "valence": "str", "valence_score": "float32",
        "distance": "float32", "threshold": "float32", "recognition_model": "str", "metric": "str",
        "emotion_model": "str", "detector": "str", "detector_confidence": "float32",
        "box_x": "Int32", "box_y": "Int32", "box_w": "Int32", "box_h": "Int32",
    }
    assert {c: str(t) for c, t in got.dtypes.items()} == expected_dtypes
    assert len(got) == 3 and got["obs_id"].is_unique and got["obs_id"].str.len().eq(32).all()

    happy = got[got["worker_id"] == "w1"].iloc[0]
    unknown = got[got["worker_id"].isna()].iloc[0]
    sad = got[got["worker_id"] == "w2"].iloc[0]
    assert happy["time"] == pd.Timestamp(T0) and sad["time"] == pd.Timestamp("2025-03-10T09:00:00Z")
    assert happy["worker_id"] == "w1" and pd.isna(unknown["worker_id"]) and sad["worker_id"] == "w2"
    assert happy["source"] == "live"
    np.testing.assert_allclose(happy[list(EMOTIONS)].to_numpy(float), one_hot("happy"), rtol=1e-6)
    assert happy["label"] == "happy" and happy["valence"] == "positive"
    assert happy["valence_score"] == pytest.approx(0.7 + 0.05 - 4 * 0.05, abs=1e-6)
    assert sad["label"] == "sad" and sad["valence"] == "negative"
    assert unknown[list(EMOTIONS)].isna().all() and pd.isna(unknown["label"]) and pd.isna(unknown["valence"])
    assert pd.isna(unknown["valence_score"]) and pd.isna(unknown["emotion_model"])
    assert pd.isna(unknown["distance"])  # inf (empty gallery) is stored as NaN
    assert happy["distance"] == pytest.approx(0.3) and happy["threshold"] == pytest.approx(0.4)
    assert happy["recognition_model"] == "VGG-Face" and happy["metric"] == "cosine"
    assert happy["emotion_model"] == "fer" and happy["detector"] == "opencv"
    assert happy["detector_confidence"] == pytest.approx(0.97)
    assert [happy["box_x"], happy["box_y"], happy["box_w"], happy["box_h"]] == [10, 20, 64, 64]

    # the DataFrame path keeps given ids and values exactly, and round-trips what read() returned
    other = TimelineStore(store.root + "-copy")
    other.append(got)
    again = other.read()
    pd.testing.assert_frame_equal(again, got)


def test_dataframe_minimal_columns_and_validation(store):
    frame = pd.DataFrame({"time": pd.to_datetime([T0, T0 + dt.timedelta(minutes=1)], utc=True),
                          "source": ["api", "api"], "worker_id": ["w1", None]})
    for e, s in zip(EMOTIONS, one_hot("fear")):
        frame[e] = s
    assert store.append(frame) == 2
    got = store.read()
    assert got["label"].tolist() == ["fear", "fear"] and got["valence"].tolist() == ["negative"] * 2
    with pytest.raises(TimelineDataError, match="timezone-aware"):
        store.append(pd.DataFrame({"time": [pd.Timestamp("2025-01-01")], "source": ["api"]}))
    with pytest.raises(TimelineDataError, match="unknown timeline columns"):
        store.append(frame.assign(colour="red"))
    with pytest.raises(TimelineDataError, match="label"):
        store.append(frame.assign(label="bored"))
    with pytest.raises(TimelineDataError, match="source"):
        store.append(frame.drop(columns="source"))
    with pytest.raises(TimelineDataError, match="all 7 emotion scores"):
        store.append(frame.assign(happy=np.nan))
    assert store.count() == 2  # nothing of the refused batches was stored


def test_batch_spanning_midnight_goes_to_two_partitions(store):
    store.append([make_obs(dt.datetime(2025, 3, 10, 23, 59, 59, tzinfo=UTC)),
                  make_obs(dt.datetime(2025, 3, 11, 0, 0, 1, tzinfo=UTC))])
    parts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(store.root, "date=*")))
    assert parts == ["date=2025-03-10", "date=2025-03-11"]
    assert store.count(start="2025-03-11") == 1 and store.count(end="2025-03-11") == 1


# ------------------------------------------------------------------------------------ batching, retries
def test_simulated_live_use_keeps_file_count_small(tmp_path):
    store = TimelineStore(tmp_path / "tl", compact_min_files=8)
    n = 400  # 1 row every 5 s for ~33 min, appended one at a time (benchmark does the full 8 h day)
    for i in range(n):
        store.append([make_obs(T0 + dt.timedelta(seconds=5 * i), f"w{i % 3}", one_hot(EMOTIONS[i % 7]))])
    files = store.file_paths()
    assert len(files) <= 9, files
    assert store.count() == n
    table = raw_rows(store)
    assert table.num_rows == n and len(set(table.column("obs_id").to_pylist())) == n
    assert store.compact()["files_after"] == 1


def test_compaction_after_appends_rewrites_each_row_a_logarithmic_number_of_times(tmp_path, monkeypatch):
    # merging the whole day after every few appends rewrote n^2/16 rows a day and grew the live server's memory
    written: list[int] = []
    real_write = maintenance._write_partition_file
    monkeypatch.setattr(maintenance, "_write_partition_file",
                        lambda store, day, table: written.append(table.num_rows) or real_write(store, day, table))
    store = TimelineStore(tmp_path / "tl", compact_min_files=8)
    n = 1500
    for i in range(n):
        store.append([make_obs(T0 + dt.timedelta(seconds=i), "w1")])
        assert len(store.file_paths()) <= 8 + 1 + math.log2(n / 8) + 1
    assert sum(written) <= n * (math.log2(n / 8) + 2), (sum(written), written[-10:])
    assert max(written) >= n // 2  # old rows do get merged into big files: it is not just a heap of small merges
    assert store.count() == n and raw_rows(store).num_rows == n


def test_tiered_merge_set_takes_the_newest_files_while_they_are_comparable():
    def f(ns: int, prefix: str = "a-") -> StoredFile:
        name = f"{prefix}{ns}-1-abc.parquet"
        return StoredFile(path=name, partition="2025-03-10", name=name, size=0)

    rows = {"c-10-1-abc.parquet": 64, "c-20-1-abc.parquet": 16}
    files = [f(10, "c-"), f(20, "c-")] + [f(30 + i) for i in range(9)]

    def count(sf: StoredFile) -> int:
        return rows.get(sf.name, 1)

    chosen = maintenance.tiered_merge_set(files, count)
    assert {sf.name for sf in chosen} == {sf.name for sf in files[1:]}  # 9 singles + the 16-row file, not the 64
    assert maintenance.tiered_merge_set(files[:1], count) == []  # one file: nothing to merge
    assert maintenance.tiered_merge_set([f(10, "c-"), f(30)], count) == []  # a big file and one new row stay


def test_buffered_appends_are_written_in_batches(tmp_path):
    store = TimelineStore(tmp_path / "tl", flush_rows=10)
    for i in range(25):
        store.append([make_obs(T0 + dt.timedelta(seconds=i))])
    assert len(store.file_paths()) == 2 and store.buffered_rows == 5
    assert store.count() == 25  # reads flush first
    store.close()
    assert len(store.file_paths()) == 3 and raw_rows(store).num_rows == 25


def test_retried_append_is_not_duplicated(store):
    batch = [make_obs(T0 + dt.timedelta(seconds=i), "w1", one_hot("happy")) for i in range(5)]
    store.append(batch)
    store.append(batch)  # e.g. a caller retrying after a timeout although the first append succeeded
    store.append(batch[:2] + batch[:2])  # duplicates inside one batch
    assert raw_rows(store).num_rows == 12  # the files hold duplicates ...
    assert store.count() == 5 and store.read()["obs_id"].is_unique  # ... readers never show them
    assert worker_timeline(store, "w1", resolution="day")["n"].tolist() == [5]
    store.compact()
    assert raw_rows(store).num_rows == 5 and len(store.file_paths()) == 1


def test_crash_in_the_middle_of_compaction_loses_and_duplicates_nothing(store, monkeypatch):
    for i in range(6):
        store.append([make_obs(T0 + dt.timedelta(minutes=i), "w1")])
    backend = store._backend
    real_remove = backend.remove
    calls = {"n": 0}

    def failing_remove(path):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError("simulated crash after the merged file was renamed")
        real_remove(path)

    monkeypatch.setattr(backend, "remove", failing_remove)
    with pytest.raises(OSError, match="simulated crash"):
        store.compact()
    monkeypatch.setattr(backend, "remove", real_remove)
    assert raw_rows(store).num_rows > 6  # merged file + the 4 inputs not yet deleted
    assert store.count() == 6 and store.read()["obs_id"].is_unique
    assert team_summary(store)["n"].tolist() == [6]
    store.compact()
    assert raw_rows(store).num_rows == 6


# -------------------------------------------------------------------------------------------- erasure
def test_erasure_rewrites_every_file(store):
    for day in range(3):
        for k in range(3):
            t = T0 + dt.timedelta(days=day, minutes=k)
            store.append([make_obs(t, "w1"), make_obs(t, "w2"), make_obs(t, None, emotion=False)])
    store.compact(min_files=4)  # leave a mix: nothing is compacted (3 files per partition)
    before = raw_rows(store)
    assert pa.compute.sum(pa.compute.equal(before.column("worker_id"), "w1")).as_py() == 9
    report = store.erase_worker_report("w1")
    assert report.rows_deleted == 9 and report.files_rewritten == 9
    after = raw_rows(store)
    assert "w1" not in set(after.column("worker_id").to_pylist())
    assert after.num_rows == before.num_rows - 9
    for path in store.file_paths():  # each remaining file on its own, read by pyarrow
        assert "w1" not in pq.read_table(path, columns=["worker_id"]).column("worker_id").to_pylist()
    assert store.count(worker="w2") == 9 and store.count() == 18
    assert store.erase_worker("w1") == 0


# ------------------------------------------------------------------------------------------ retention
def test_retention_removes_exactly_the_old_rows(store):
    now = dt.datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    times = [now - dt.timedelta(days=d, hours=h) for d in (0, 5, 29, 30, 31, 60) for h in (-1, 0, 1)]
    store.append([make_obs(t, "w1", one_hot("neutral")) for t in times])
    cutoff = now - dt.timedelta(days=30)
    expected_old = sum(t < cutoff for t in times)
    assert expected_old == 7
    deleted = enforce_retention(store, 30, now=now)
    assert deleted == expected_old
    left = store.read()
    assert len(left) == len(times) - expected_old
    assert left["time"].min() == pd.Timestamp(cutoff)  # the row exactly at the cutoff is kept
    assert (raw_rows(store).column("time").to_pandas() >= pd.Timestamp(cutoff)).all()
    assert enforce_retention(store, 30, now=now) == 0
    with pytest.raises(TimelineArgumentError):
        enforce_retention(store, 0, now=now)


# ---------------------------------------------------------------------------------------- corrupt files
def test_corrupt_files_are_reported_by_name_and_skipped(store, caplog):
    for day in range(3):
        store.append([make_obs(T0 + dt.timedelta(days=day, minutes=m), "w1") for m in range(4)])
    part = os.path.join(store.root, "date=2025-03-11")
    garbage = os.path.join(part, "a-garbage.parquet")
    with open(garbage, "wb") as fh:
        fh.write(b"PAR1 this is not a parquet file")
    good = store.file_paths()[0]
    truncated = os.path.join(part, "a-truncated.parquet")
    with open(good, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read()[:200])
    # valid footer, corrupt data pages: only a full read finds it
    damaged = os.path.join(os.path.join(store.root, "date=2025-03-12"), "a-damaged.parquet")
    data = bytearray(open(store.file_paths()[-1], "rb").read())
    data[4:len(data) // 2] = np.random.default_rng(7).integers(0, 256, len(data) // 2 - 4, dtype=np.uint8).tobytes()
    with open(damaged, "wb") as fh:
        fh.write(bytes(data))

    with caplog.at_level(logging.WARNING, logger="core.timeline"):
        frame = store.read()
    assert len(frame) == 12  # the three good files
    problems = " ".join(store.last_read_problems)
    for name in ("a-garbage.parquet", "a-truncated.parquet", "a-damaged.parquet"):
        assert name in problems
        assert name in caplog.text
    assert worker_timeline(store, "w1", resolution="day")["n"].tolist() == [4, 4, 4]
    assert len(store.stats()["corrupt_files"]) == 3
    store.compact()  # corrupt files are moved aside, never deleted
    assert len(glob.glob(os.path.join(store.root, "_quarantine", "*", "*.parquet"))) == 3
    assert store.count() == 12 and store.last_read_problems == []


# ---------------------------------------------------------------------------------------------- queries
def _query_fixture(store):
    rows = [
        make_obs(T0, "w1", one_hot("happy")),
        make_obs(T0 + dt.timedelta(minutes=10), "w1", one_hot("happy")),
        make_obs(T0 + dt.timedelta(minutes=70), "w1", one_hot("sad")),
        make_obs(T0 + dt.timedelta(days=1), "w1", one_hot("angry")),
        make_obs(T0 + dt.timedelta(minutes=5), "w2", one_hot("neutral")),
        make_obs(T0 + dt.timedelta(minutes=6), None, emotion=False),
    ]
    store.append(rows)


def test_worker_timeline_resolutions(store):
    _query_fixture(store)
    hourly = worker_timeline(store, "w1", resolution="hour")
    assert list(hourly.columns) == list(TIMELINE_COLUMNS)
    assert hourly["time"].tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + dt.timedelta(hours=1)),
                                       pd.Timestamp(T0 + dt.timedelta(days=1))]
    assert hourly["n"].tolist() == [2, 1, 1]
    assert hourly["n_happy"].tolist() == [2, 0, 0] and hourly["n_sad"].tolist() == [0, 1, 0]
    assert hourly["label"].tolist() == ["happy", "sad", "angry"]
    assert hourly.loc[0, "happy"] == pytest.approx(0.7, abs=1e-6)
    assert hourly.loc[1, "valence_score"] == pytest.approx(-0.7 - 3 * 0.05 + 2 * 0.05, abs=1e-6)
    raw = worker_timeline(store, "w1", resolution="raw")
    assert len(raw) == 4 and raw["n"].eq(1).all() and list(raw.columns) == list(TIMELINE_COLUMNS)
    minute = worker_timeline(store, "w1", T0, T0 + dt.timedelta(hours=1), resolution="minute")
    assert minute["n"].tolist() == [1, 1]
    daily = worker_timeline(store, "w1", resolution="day")
    assert daily["n"].tolist() == [3, 1]
    local = worker_timeline(store, "w1", resolution="day", tz="America/New_York")
    assert local["time"].iloc[0] == pd.Timestamp("2025-03-10T04:00:00Z")  # local midnight, EDT
    assert str(local["time"].dtype) == "datetime64[us, UTC]"
    pooled = worker_timeline(store, ["w1", "w2"], resolution="hour")  # the dashboard's team view
    assert pooled["n"].tolist() == [3, 1, 1]
    assert worker_timeline(store, [], resolution="hour").empty
    with pytest.raises(TimelineArgumentError, match="resolution"):
        worker_timeline(store, "w1", resolution="week")
    with pytest.raises(TimelineArgumentError, match="time zone"):
        worker_timeline(store, "w1", tz="Mars/Olympus")


def test_team_distribution_heatmap_smoothing(store):
    _query_fixture(store)
    team = team_summary(store)
    assert list(team.columns) == list(TEAM_COLUMNS)
    assert team["worker_id"].tolist() == ["w1", "w2"] and team["n"].tolist() == [4, 1]
    assert team.loc[0, "label"] == "happy" and team.loc[0, "share_positive"] == pytest.approx(0.5)
    with_unknown = team_summary(store, include_unknown=True)
    assert len(with_unknown) == 3 and pd.isna(with_unknown["worker_id"].iloc[-1])
    assert with_unknown["n_emotion"].tolist() == [4, 1, 0]

    dist = label_distribution(store)
    assert list(dist.columns) == list(DISTRIBUTION_COLUMNS) and dist["label"].tolist() == list(EMOTIONS)
    assert dict(zip(dist["label"], dist["n"])) == {"angry": 1, "disgust": 0, "fear": 0, "happy": 2, "sad": 1,
                                                   "surprise": 0, "neutral": 1}
    assert dist["share"].sum() == pytest.approx(1.0)
    assert label_distribution(store, worker="w2")["n"].sum() == 1

    heat = weekday_hour_heatmap(store)
    assert list(heat.columns) == list(HEATMAP_COLUMNS) and len(heat) == 168
    monday9 = heat[(heat["weekday"] == 0) & (heat["hour"] == 9)].iloc[0]
    assert monday9["weekday_name"] == "Mon" and monday9["n"] == 4
    berlin = weekday_hour_heatmap(store, tz="Europe/Berlin")
    assert berlin[(berlin["weekday"] == 0) & (berlin["hour"] == 10)]["n"].item() == 4
    assert heat["n"].sum() == 6

    smooth = smoothed_valence(store, "w1", resolution="minute", window="30min")
    assert list(smooth.columns) == list(SMOOTHED_COLUMNS) and smooth["n"].tolist() == [1, 1, 1, 1]
    assert smooth.loc[1, "valence_smooth"] == pytest.approx(smooth.loc[:1, "valence_score"].mean())
    assert smooth.loc[2, "valence_smooth"] == pytest.approx(smooth.loc[2, "valence_score"])  # 60 min later
    with pytest.raises(TimelineArgumentError, match="window"):
        smoothed_valence(store, window="soon")


def test_empty_store_queries_return_empty_frames_with_columns(store):
    checks = [
        (worker_timeline(store, "w1"), TIMELINE_COLUMNS, 0),
        (worker_timeline(store, "w1", resolution="raw"), TIMELINE_COLUMNS, 0),
        (team_summary(store), TEAM_COLUMNS, 0),
        (label_distribution(store), DISTRIBUTION_COLUMNS, 7),
        (weekday_hour_heatmap(store), HEATMAP_COLUMNS, 168),
        (smoothed_valence(store), SMOOTHED_COLUMNS, 0),
        (store.read(), COLUMNS, 0),
    ]
    for frame, columns, rows in checks:
        assert list(frame.columns) == list(columns) and len(frame) == rows
    assert str(worker_timeline(store, "w1")["time"].dtype) == "datetime64[us, UTC]"
    assert str(team_summary(store)["n"].dtype) == "int64"
    assert str(store.read()["distance"].dtype) == "float32"
    stats = store.stats()
    assert stats["rows"] == 0 and stats["files"] == 0 and stats["first_time"] is None


def test_stats(store):
    _query_fixture(store)
    stats = store.stats()
    assert stats["rows"] == 6 and stats["unknown_rows"] == 1 and stats["workers"] == 2
    assert stats["partitions"] == 2 and stats["files"] == 2 and stats["bytes"] > 0
    assert stats["first_time"].startswith("2025-03-10T09:00:00")


# ------------------------------------------------------------------------------------------- memory://
def test_memory_filesystem(tmp_path):
    import fsspec

    uri = f"memory://facedash-test-{uuid.uuid4().hex}/timeline"
    store = TimelineStore(uri, compact_min_files=3, lock_path=tmp_path / "remote.lock")
    assert not store.is_local
    try:
        for i in range(5):
            store.append([make_obs(T0 + dt.timedelta(minutes=i), f"w{i % 2}", one_hot("happy"))])
        store.append([make_obs(T0 - dt.timedelta(days=40), "w0")])
        assert store.count() == 6
        assert len(store.file_paths()) <= 3 + 1
        assert worker_timeline(store, "w0", resolution="hour")["n"].sum() == 4
        assert team_summary(store)["n"].tolist() == [4, 2]
        fs = fsspec.filesystem("memory")
        bad = store.root + "/date=2025-03-10/a-bad.parquet"
        fs.pipe_file(bad, b"not parquet")
        assert store.count() == 6 and any("a-bad.parquet" in p for p in store.last_read_problems)
        fs.rm_file(bad)
        assert store.erase_worker("w1") == 2
        assert enforce_retention(store, 30, now=T0) == 1
        assert store.count() == 3
        store.compact()
        remaining = [f for f in fs.find(store.root) if f.endswith(".parquet")]
        assert len(remaining) == 1
        table = pq.read_table(pa.BufferReader(fs.cat_file(remaining[0])))
        assert set(table.column("worker_id").to_pylist()) == {"w0"} and table.num_rows == 3
    finally:
        fsspec.filesystem("memory").rm(store.root.split("/timeline")[0], recursive=True)


def test_unusable_location_is_a_clear_store_error(tmp_path):
    from core.errors import StoreError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not-a-folder"):
        TimelineStore(blocker / "timeline")
