"""timeline CLI commands and the services behind them (erasure with gallery + audit log, retention, audit guard)."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.audit import AuditError, audit, read_audit_log
from core.cli import main
from core.config import load_settings
from core.errors import UnknownWorkerError
from core.gallery import Consent, Gallery
from core.services.actor import Actor, ActorError
from core.services.timeline import apply_retention
from core.services.workers import erase
from core.timeline import TimelineStore
from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation

UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
CROP = np.zeros((8, 8, 3), np.uint8)


def obs(t: dt.datetime, worker: str | None) -> Observation:
    return Observation(t, "live", DetectedFace(Box(0, 0, 50, 50), 0.99, CROP),
                       IdentityMatch(worker, 0.2, 0.4, "VGG-Face", "cosine"),
                       EmotionResult.from_probabilities([1, 1, 1, 5, 1, 1, 2], "fer"))


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for var in ("FACEDASH_STORE_URI", "FACEDASH_GALLERY_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACEDASH_RETENTION_DAYS", "30")  # main() builds its own settings from the environment
    s = load_settings(data_dir=tmp_path / "data")
    store = TimelineStore.from_settings(s)
    rows = []
    for day in (0, 1, 2, 40, 41):
        for k in range(3):
            t = NOW - dt.timedelta(days=day, minutes=k)
            rows += [obs(t, "w1"), obs(t, "w2"), obs(t, None)]
    store.append(rows)
    store.close()
    return s


class FakeDetector:  # the gallery's side of the detector interface: erasure, not recognition, is under test
    def detect(self, image):
        crop = np.random.default_rng(1).integers(0, 255, (100, 100, 3), dtype=np.uint8)
        return [DetectedFace(Box(10, 10, 100, 100), 0.99, crop, detector="fake")]


class FakeEmbedder:
    name, dim, key = "FakeNet", 8, "FakeNet@crop"

    def embed_faces(self, image, faces):
        return np.random.default_rng(len(faces)).normal(size=(len(faces), 8)).astype(np.float32)


@pytest.fixture
def enrolled(settings):
    """w1 and w3 enrolled in a real gallery (w3 has no timeline rows; w2 has rows but is not enrolled)."""
    from core.images import encode_jpeg

    gallery = Gallery(settings.gallery_path)
    for seed, worker in enumerate(("w1", "w3")):
        photo = encode_jpeg(np.random.default_rng(seed).integers(0, 255, (160, 160, 3), dtype=np.uint8))
        consent = Consent(text="safety monitoring", given_by=worker, recorded_by="hr")
        gallery.enroll(worker, [(f"{worker}.jpg", photo)], consent, FakeDetector(), FakeEmbedder())
    return gallery


def run(settings, *argv) -> int:
    return main(["timeline", *argv, "--data-dir", str(settings.data_dir)])


def raw_workers(settings) -> set:
    files = glob.glob(os.path.join(str(settings.timeline_uri), "date=*", "*.parquet"))
    return {w for f in files for w in pq.read_table(f, columns=["worker_id"]).column("worker_id").to_pylist()}


def test_export_csv_and_parquet(settings, tmp_path, capsys):
    out_csv, out_pq = tmp_path / "w1.csv", tmp_path / "w1.parquet"
    assert run(settings, "export", "--worker", "w1", "--format", "csv", "--out", str(out_csv)) == 0
    frame = pd.read_csv(out_csv)
    assert len(frame) == 15 and set(frame["worker_id"]) == {"w1"}
    assert pd.to_datetime(frame["time"], utc=True).max() == pd.Timestamp(NOW)
    capsys.readouterr()
    since = (NOW - dt.timedelta(days=1, hours=1)).isoformat()
    assert run(settings, "export", "--worker", "w1", "--format", "parquet", "--out", str(out_pq),
               "--since", since, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 6 and summary["format"] == "parquet"
    table = pq.read_table(out_pq)
    assert table.num_rows == 6 and str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    capsys.readouterr()
    assert run(settings, "export", "--worker", "w2", "--until", (NOW - dt.timedelta(days=30)).isoformat()) == 0
    assert len(pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))) == 6  # CSV on stdout
    assert run(settings, "export", "--worker", "nobody") == 2
    assert "nobody" in capsys.readouterr().err
    assert run(settings, "export", "--worker", "w1", "--format", "parquet") == 2  # needs --out
    actions = [r["action"] for r in read_audit_log(settings)]
    assert actions.count("timeline_export") == 3


def test_stats_json(settings, capsys):
    assert run(settings, "stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 45 and stats["workers"] == 2 and stats["unknown_rows"] == 15
    assert stats["partitions"] >= 5 and stats["corrupt_files"] == []
    assert run(settings, "stats") == 0
    assert "rows: 45" in capsys.readouterr().out


def erase_cli(settings, *argv) -> int:
    return main(["workers", "erase", *argv, "--data-dir", str(settings.data_dir)])


def test_erase_command_deletes_rows_gallery_entry_and_logs(settings, enrolled, capsys):
    assert erase_cli(settings, "--worker", "w1", "--actor", "hr-admin", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_deleted"] == 15 and summary["gallery_removed"] is True and summary["files_rewritten"] >= 1
    assert not Gallery(settings.gallery_path).has_worker("w1")
    assert not (settings.gallery_path / "photos" / "w1").exists()
    assert "w1" not in raw_workers(settings) and "w2" in raw_workers(settings)
    lines = [json.loads(line) for line in open(settings.audit_log_path)]
    erase = [r for r in lines if r["action"] == "erase_worker"]
    assert len(erase) == 1
    assert erase[0]["actor"] == "hr-admin" and erase[0]["via"] == "cli" and erase[0]["subject"] == "w1"
    assert erase[0]["rows_deleted"] == 15 and erase[0]["outcome"] == "done"
    assert dt.datetime.fromisoformat(erase[0]["time"]).tzinfo is not None
    assert not {"scores", "embedding", "distance"} & set(erase[0])
    # unknown to both gallery and store
    assert erase_cli(settings, "--worker", "w1") == UnknownWorkerError.exit_code
    assert "w1" in capsys.readouterr().err


def test_erase_worker_rows_only_and_gallery_only(settings, enrolled):
    dpo = Actor.operator("dpo")
    summary = erase(settings, dpo, "w2")  # has rows, not enrolled
    assert summary.rows_deleted == 15 and summary.gallery_removed is False
    summary = erase(settings, dpo, "w3")  # enrolled, no rows
    assert summary.rows_deleted == 0 and summary.gallery_removed is True
    with pytest.raises(UnknownWorkerError):
        erase(settings, dpo, "ghost")
    assert [r["subject"] for r in read_audit_log(settings) if r["action"] == "erase_worker"] == ["w2", "w3"]


def test_retain_command(settings, capsys):
    assert run(settings, "retain", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"retention_days": 30, "rows_deleted": 18}
    store = TimelineStore.from_settings(settings)
    assert store.count() == 27
    assert pd.Timestamp(store.stats()["first_time"]) >= pd.Timestamp(NOW - dt.timedelta(days=30))
    assert apply_retention(settings, Actor.system("startup")) == 0
    records = [r for r in read_audit_log(settings) if r["action"] == "retention"]
    assert [r["rows_deleted"] for r in records] == [18, 0]


def test_compact_command(settings, capsys):
    assert run(settings, "compact", "--json") == 0
    assert json.loads(capsys.readouterr().out)["files_after"] >= 1


def test_erasure_is_one_command():
    """`timeline erase` is gone: erasure is `workers erase` (it removes the gallery entry too)."""
    with pytest.raises(SystemExit):
        main(["timeline", "erase", "--worker", "w1"])


def test_audit_refuses_biometric_data(settings):
    hr = Actor.signed_in("hr", "hr")
    record = audit(settings, "consent_recorded", hr, "w1", purpose="safety")
    assert read_audit_log(settings)[-1]["subject"] == "w1" and record["action"] == "consent_recorded"
    with pytest.raises(AuditError, match="embedding"):
        audit(settings, "enroll", hr, embedding="0.1,0.2")
    with pytest.raises(AuditError, match="ndarray"):
        audit(settings, "enroll", hr, vector_data=np.zeros(4))
    with pytest.raises(AuditError, match="reserved"):
        audit(settings, "enroll", hr, via="browser")
    with pytest.raises(ActorError, match="actor"):
        Actor("", "cli")
    with pytest.raises(ActorError, match="printable"):
        Actor("hr\nadmin", "cli")


def test_erase_removes_real_gallery_entry(settings, enrolled):
    summary = erase(settings, Actor.signed_in("hr-admin", "hr"), "w1")
    assert summary.gallery_removed is True and summary.rows_deleted == 15
    assert not Gallery(settings.gallery_path).has_worker("w1")
    assert "w1" not in raw_workers(settings)
    last = read_audit_log(settings)[-1]
    assert last["subject"] == "w1" and last["via"] == "dashboard"
