"""The dashboard's functions without a page: secrets mapping, upload checks, enrollment rules, demo data,
evaluation files, chart builders. Fast (no models), except the enrollment test, which uses the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Settings, load_settings
from core.errors import ImageError
from core.services.actor import Actor
from core.types import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(tmp_path / "data"))
    return load_settings(data_dir=tmp_path / "data")


# ------------------------------------------------------------------------------------------------ secrets
def test_secrets_map_onto_facedash_variables_and_storage_credentials():
    from dashboard.settings import secrets_to_env

    environ = {"FACEDASH_RETENTION_DAYS": "90"}
    secrets = {
        "facedash": {"store_uri": "s3://bucket/timeline", "retention_days": 30, "emotion_enabled": False,
                     "ice_servers": [{"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "c"}],
                     "not_a_setting": 1},
        "FACEDASH_DETECTOR": "mtcnn",
        "storage": {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "SOMETHING_ELSE": "x"},
    }
    applied = secrets_to_env(secrets, environ)
    assert environ["FACEDASH_STORE_URI"] == "s3://bucket/timeline"
    assert environ["FACEDASH_RETENTION_DAYS"] == "90"  # the environment wins over secrets
    assert "FACEDASH_RETENTION_DAYS" not in applied
    assert environ["FACEDASH_EMOTION_ENABLED"] == "false"
    assert json.loads(environ["FACEDASH_ICE_SERVERS"])[0]["username"] == "u"
    assert environ["FACEDASH_DETECTOR"] == "mtcnn"
    assert environ["AWS_ACCESS_KEY_ID"] == "AKIA" and "SOMETHING_ELSE" not in environ
    assert "FACEDASH_NOT_A_SETTING" not in environ


def test_secrets_values_are_read_by_core_settings(monkeypatch, tmp_path):
    import os

    from dashboard.settings import secrets_to_env

    for key in list(os.environ):
        if key.startswith("FACEDASH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(tmp_path))
    env = dict(os.environ)
    secrets_to_env({"facedash": {"retention_days": 12, "ice_servers": [{"urls": ["stun:s:3478"]}]}}, env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.retention_days == 12 and s.ice_servers == [{"urls": ["stun:s:3478"]}]


def test_gcp_service_account_table_becomes_a_private_key_file():
    from dashboard.settings import secrets_to_env

    environ: dict = {}
    secrets_to_env({"gcp_service_account": {"type": "service_account", "project_id": "p"}}, environ)
    path = Path(environ["GOOGLE_APPLICATION_CREDENTIALS"])
    try:
        assert json.loads(path.read_text())["project_id"] == "p"
        assert path.stat().st_mode & 0o077 == 0
    finally:
        path.unlink()


def test_example_secrets_file_parses_and_holds_only_placeholders():
    import tomllib

    from dashboard.settings import secrets_to_env

    text = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    data = tomllib.loads(text)
    environ: dict = {}
    secrets_to_env(data, environ)
    assert json.loads(environ["FACEDASH_ICE_SERVERS"])[1]["urls"][0].startswith("turn:")
    assert "not-real" in data["storage"]["AWS_SECRET_ACCESS_KEY"]


def test_config_upload_limit_matches_settings_default():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == Settings.model_fields["max_upload_mb"].default



def test_live_detector_note_says_whether_the_setting_is_the_measured_choice(settings, tmp_path):
    """The Settings page's line on the live camera's detector, from benchmarks/results/detectors.json."""
    from dashboard.settings import DETECTOR_RESULTS, live_detector_note

    recommendation = json.loads(DETECTOR_RESULTS.read_text())["recommendation"]
    name, _, side = recommendation["recommended"].partition("@")
    shipped = live_detector_note(settings.model_copy(update={"live_detector": name,
                                                             "live_detect_side": int(side or 320)}))
    assert f"Live camera detector: {name}" in shipped and "the measured default" in shipped
    ms = recommendation["recommended_numbers"]["video_median_ms"]
    assert f"{ms:.0f} ms per frame" in shipped and "docs/detectors.md" in shipped
    other = live_detector_note(settings.model_copy(update={"live_detector": "mtcnn"}))
    assert "Live camera detector: mtcnn" in other and f"the measured recommendation is {recommendation['recommended']}" in other
    missing = live_detector_note(settings, tmp_path / "nothing.json")
    assert missing.endswith("see docs/detectors.md.") and "measured" not in missing

# ------------------------------------------------------------------------------------------------ uploads
def test_check_upload_names_file_and_problem(settings):
    from dashboard.uploads import check_upload

    assert check_upload("a.JPG", b"x", settings) == "photo"
    assert check_upload("clip.mp4", b"x", settings) == "video"
    with pytest.raises(ImageError, match=r"^empty.png: file is empty"):
        check_upload("empty.png", b"", settings)
    with pytest.raises(ImageError, match=r"^notes.txt: unsupported file type .txt"):
        check_upload("notes.txt", b"hello", settings)
    small = settings.model_copy(update={"max_upload_mb": 1})
    with pytest.raises(ImageError, match=r"^big.jpg: file is 2.0 MB, over the 1 MB upload limit"):
        check_upload("big.jpg", b"\0" * 2_000_000, small)


# ------------------------------------------------------------------------------------------------ enrollment
def test_enroll_problems_require_consent_giver_photos_and_a_valid_id():
    from dashboard.enrollment import enroll_problems

    assert enroll_problems("w-1", "agreed to access logging", "Ann", 2) == []
    problems = " | ".join(enroll_problems("w-1", "  ", "", 0))
    assert "consent text" in problems and "who gave consent" in problems
    assert "your name" not in problems  # who records it is the signed-in account, not typed text
    assert "at least one photo" in problems
    assert "reserved" in enroll_problems("demo-ana", "x", "y", 1)[0]
    assert "invalid" in enroll_problems("bad id!", "x", "y", 1)[0]


def test_enroll_worker_refuses_without_consent_and_writes_nothing(settings, faces_dir):
    from dashboard.enrollment import enroll_worker

    class NoEngine:  # never reached: consent is checked first
        def enroll(self, *args, **kwargs):
            raise AssertionError("engine must not be called without consent")

    photo = sorted((faces_dir / "madonna").glob("train__*.jpg"))[0]
    outcome = enroll_worker(NoEngine(), settings, "w-1", None, [(photo.name, photo.read_bytes())], "", "Ann",
                            Actor.signed_in("hr", "hr"))
    assert not outcome.ok and "consent" in outcome.message
    assert not settings.gallery_path.exists() and not settings.audit_log_path.exists()


def test_enroll_worker_with_real_photos_gives_verdicts_thumbnails_and_audit(settings, faces_dir, weights_home):
    from core.audit import read_audit_log
    from core.engine import FaceEngine
    from dashboard.enrollment import enroll_worker

    paths = sorted((faces_dir / "mindy_kaling").glob("train__*.jpg"))[:4]
    assert paths, f"shared photos missing in {faces_dir}"
    photos = [(p.name, p.read_bytes()) for p in paths] + [("junk.jpg", b"not an image")]
    settings = settings.model_copy(update={"deepface_home": weights_home})
    outcome = enroll_worker(FaceEngine(settings), settings, "w-mindy", "Mindy", photos, "access logging", "Mindy K",
                            Actor.signed_in("hr", "hr"))
    assert outcome.ok, outcome.message
    assert len(outcome.verdicts) == 5 and outcome.accepted >= 1
    junk = next(v for v in outcome.verdicts if v.name == "junk.jpg")
    assert not junk.accepted and "not an image" in junk.reason
    assert set(outcome.thumbnails) == {p.name for p in paths}  # junk has no thumbnail
    import io

    from PIL import Image

    assert max(Image.open(io.BytesIO(next(iter(outcome.thumbnails.values())))).size) <= 200
    record = read_audit_log(settings)[-1]
    assert record["action"] == "enroll" and record["subject"] == "w-mindy" and record["consent_given_by"] == "Mindy K"


def test_erase_needs_the_typed_worker_id(settings):
    from core.errors import FaceDashError
    from dashboard.enrollment import erase

    with pytest.raises(FaceDashError, match="type the worker id 'w-1' exactly"):
        erase(settings, "w-1", "w-2", "hr")


# ------------------------------------------------------------------------------------------------ demo data
def test_demo_frame_is_synthetic_labelled_and_deterministic():
    from core.demo import DEMO_SOURCE, DEMO_WORKERS, demo_frame

    now = pd.Timestamp("2026-03-13T18:00:00Z")
    frame = demo_frame(days=14, now=now, seed=3)
    assert set(frame["source"]) == {DEMO_SOURCE} and set(frame["worker_id"]) == set(DEMO_WORKERS)
    assert frame["time"].max() <= now and frame["time"].min() >= now - pd.Timedelta(days=15)
    scores = frame[list(EMOTIONS)].to_numpy()
    assert np.allclose(scores.sum(axis=1), 1.0) and (scores >= 0).all()
    assert set(frame["emotion_model"]) == {"demo"} and set(frame["recognition_model"]) == {"demo"}
    assert (frame["time"].dt.weekday < 6).all()  # nobody on Sundays
    pd.testing.assert_frame_equal(frame, demo_frame(days=14, now=now, seed=3))


def test_load_and_remove_demo_touch_only_demo_rows(settings):
    from core.demo import DEMO_WORKERS, demo_frame, load_demo, remove_demo
    from core.timeline.store import TimelineStore

    store = TimelineStore.from_settings(settings)
    real = demo_frame(days=2).head(15).assign(worker_id="w-real", source="live")
    store.append(real)
    written = load_demo(store, days=7)
    again = load_demo(store, days=7)  # replaces, never doubles
    assert written > 100 and store.count() == again + 15
    assert set(store.workers()) == {*DEMO_WORKERS, "w-real"}
    assert remove_demo(store) == again
    assert store.workers() == ["w-real"] and store.count() == 15


# ------------------------------------------------------------------------------------------------ evaluation
def test_evaluation_loader_schema_checks(tmp_path):
    from dashboard.evaluation import load_results, per_class_frame, provenance

    assert load_results(tmp_path / "missing").emotion == {}
    good = {"backend": "fer", "dataset": "FER-2013", "split": "PrivateTest", "n": 10, "computed_at": "2026-01-02T03:04:05Z",
            "accuracy": 0.5, "labels": list(EMOTIONS), "confusion": np.eye(7, dtype=int).tolist(),
            "per_class": {e: {"precision": 1, "recall": 1, "f1": 1, "specificity": 1, "support": 1} for e in EMOTIONS},
            "roc": {e: {"fpr": [0, 1], "tpr": [0, 1], "auc": 0.5} for e in EMOTIONS},
            "valence": {"accuracy": 0.6, "labels": ["positive", "negative", "neutral"], "confusion": np.eye(3).tolist()}}
    (tmp_path / "emotion_fer.json").write_text(json.dumps(good))
    (tmp_path / "emotion_bad.json").write_text(json.dumps({**good, "confusion": [[1, 2], [3, 4]]}))
    (tmp_path / "identity.json").write_text("[1, 2]")
    files = load_results(tmp_path)
    assert list(files.emotion) == ["fer"]
    assert sorted(files.problems) == ["emotion_bad.json: 'confusion' should be 7x7 like 'labels'",
                                      "identity.json: expected a JSON object, got list"]
    assert provenance(good) == "FER-2013 PrivateTest, 10 faces, computed 2026-01-02 03:04 UTC"
    table = per_class_frame(good)
    assert list(table["class"]) == list(EMOTIONS) and table["auc"].eq(0.5).all()


# ------------------------------------------------------------------------------------------------ charts/tables
def test_chart_builders_accept_query_results_including_empty_ones(settings):
    from core.demo import demo_frame
    from core.timeline import queries
    from core.timeline.store import TimelineStore
    from dashboard.components import charts

    store = TimelineStore.from_settings(settings)
    empty_timeline = queries.worker_timeline(store, "w-x", resolution="hour")
    assert len(charts.emotion_timeline(empty_timeline, "hour").data) == 7
    store.append(demo_frame(days=3, now="2026-03-13T18:00:00Z"))
    timeline = queries.worker_timeline(store, "demo-ana", resolution="hour")
    fig = charts.emotion_timeline(timeline, "hour", "Emotion timeline: Ana")
    assert [t.name for t in fig.data] == list(EMOTIONS)
    # nights without observations become all-zero buckets (a visible gap, not a line bridging the night)
    assert len(fig.data[0].x) > len(timeline)
    stacked = np.sum([np.asarray(t.y, float) for t in fig.data], axis=0)
    assert np.isclose(stacked, 1.0).sum() == len(timeline) and (stacked == 0).sum() == len(fig.data[0].x) - len(timeline)
    heat = charts.weekday_hour_heatmap(queries.weekday_hour_heatmap(store, "demo-ana"))
    assert np.asarray(heat.data[0].z).shape == (7, 24)
    assert charts.label_distribution(queries.label_distribution(store)).data[0].x == tuple(EMOTIONS)
    valence = charts.valence_chart(queries.smoothed_valence(store, "demo-ana", resolution="hour", window="4h"), "4h")
    assert len(valence.data) == 2
    team = charts.team_valence(queries.team_summary(store), {"demo-ana": "Ana"})
    assert "Ana" in team.data[0].y


def test_faces_table_hides_emotion_when_disabled():
    import datetime as dt

    from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation
    from dashboard.components.tables import faces_table

    face = DetectedFace(Box(1, 2, 50, 50), 0.99, np.zeros((50, 50, 3), np.uint8))
    emotion = EmotionResult((0.1, 0, 0, 0.8, 0.05, 0.05, 0), "fer")
    known = Observation(dt.datetime.now(dt.UTC), "upload", face, IdentityMatch("w-1", 0.03, 0.07, "Dlib", "cosine", "w-1"), emotion)
    unknown = Observation(dt.datetime.now(dt.UTC), "upload", face,
                          IdentityMatch(None, 0.2, 0.07, "Dlib", "cosine", "w-1"), emotion)
    on = faces_table([known, unknown], {"w-1": "Ann"}, emotion_enabled=True)
    assert list(on["name"]) == ["Ann", "unknown"] and list(on["emotion"]) == ["happy", "happy"]
    assert on["nearest"].tolist() == ["", "Ann"]
    off = faces_table([known], {"w-1": "Ann"}, emotion_enabled=False)
    assert "emotion" not in off.columns and "valence" not in off.columns


def test_privacy_notice_states_purpose_and_retention(settings):
    from dashboard.components.privacy import notice_text

    assert "Emotion analysis is off" in notice_text(settings, "upload")
    on = settings.model_copy(update={"emotion_enabled": True, "emotion_purpose": "medical",
                                     "emotion_purpose_text": "detect distress of patients' carers"})
    text = notice_text(on, "live")
    assert "**medical** purpose" in text and "distress" in text and f"{settings.retention_days} days" in text
