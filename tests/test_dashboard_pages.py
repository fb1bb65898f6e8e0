"""The dashboard's pages through Streamlit's AppTest (the real scripts, the real engine, a temp data folder).

The engine (TensorFlow, detector, Dlib) loads once per pytest process: DeepFace keeps its models in a module-level
cache and ``st.cache_resource`` persists across AppTest runs in one process. Each test gets its own data folder
(FACEDASH_DATA_DIR) and fresh Streamlit caches.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import get_settings, load_settings
from core.services.actor import Actor
from tests.accounts import sign_in

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 180


@pytest.fixture
def data_dir(app_data_dir) -> Path:
    """A fresh data folder and fresh Streamlit caches (conftest's ``app_data_dir``)."""
    return app_data_dir


@pytest.fixture
def emotion_on(monkeypatch, data_dir) -> Path:
    monkeypatch.setenv("FACEDASH_EMOTION_ENABLED", "true")
    monkeypatch.setenv("FACEDASH_EMOTION_PURPOSE", "safety")
    monkeypatch.setenv("FACEDASH_EMOTION_PURPOSE_TEXT", "fatigue of machine operators")
    get_settings.cache_clear()
    return data_dir


@pytest.fixture(autouse=True)
def _start_page(monkeypatch):
    """AppTest opens the app on dashboard.navigation.START_PAGE (set by :func:`page`), never on the camera page."""
    from dashboard import navigation

    monkeypatch.setattr(navigation, "START_PAGE", navigation.ANALYZE)


def page(path: str, user: str = "test-admin", role: str = "admin") -> AppTest:
    """Run the app (router + ``path`` as the start page) signed in as ``user`` with ``role``, like a browser
    opening that page after signing in."""
    from dashboard import navigation

    navigation.START_PAGE = path  # restored by the _start_page fixture's monkeypatch
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    return sign_in(at, get_settings().data_dir, user, role).run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_titles(at: AppTest) -> list[str]:
    titles = []
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles


def photos(faces_dir: Path, person: str, split: str = "train", n: int = 5) -> list[Path]:
    found = sorted((faces_dir / person).glob(f"{split}__*.jpg"))[:n]
    assert found, f"no {split} photos of {person} in {faces_dir}"
    return found


def enroll_direct(person: str, faces_dir: Path, worker_id: str | None = None) -> str:
    """Enroll through the dashboard's enroll function (the one the page calls)."""
    from core.engine import FaceEngine
    from dashboard.enrollment import enroll_worker

    settings = get_settings()
    engine = FaceEngine(settings)
    outcome = enroll_worker(engine, settings, worker_id or person, person.replace("_", " ").title(),
                            [(p.name, p.read_bytes()) for p in photos(faces_dir, person, n=8)],
                            "recognition on site cameras for access logging", person,
                            Actor.signed_in("test-admin", "hr"))
    assert outcome.ok, outcome.message
    return worker_id or person


# ------------------------------------------------------------------------------------------------ router
def test_router_renders_analyze_page_with_empty_state(data_dir):
    at = ok(page("pages/analyze.py"))
    assert [t.value for t in at.title] == ["Analyze an upload"]
    assert any("Upload a **photo**" in i.value for i in at.info)
    assert at.file_uploader(key="upload_file").allowed_type  # photo and video suffixes
    assert any("Emotion analysis: **off**" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/evaluation.py").run()  # navigating through the router to another page
    assert [t.value for t in ok(at).title] == ["Model evaluation"]


def test_navigation_defaults_to_live_camera_only_when_its_page_exists(tmp_path, monkeypatch):
    from dashboard import navigation

    monkeypatch.setattr(navigation, "START_PAGE", None)
    (tmp_path / "pages").mkdir()
    for section in navigation._PAGES.values():
        for path, _, _, _ in section:
            if path != navigation.LIVE:
                (tmp_path / path).write_text("")
    admin, viewer = Actor.signed_in("a", "admin"), Actor.signed_in("v", "viewer")
    assert navigation.start_page(admin, tmp_path) == navigation.ANALYZE
    (tmp_path / navigation.LIVE).write_text("")
    assert navigation.start_page(admin, tmp_path) == navigation.LIVE
    assert navigation.start_page(viewer, tmp_path) == navigation.HISTORY  # the first page a viewer may open


def test_router_stops_with_a_clear_message_on_bad_settings(data_dir, monkeypatch):
    monkeypatch.setenv("FACEDASH_EMOTION_ENABLED", "true")  # without a purpose: refused by the settings
    get_settings.cache_clear()
    at = ok(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    assert [t.value for t in at.title] == ["FaceDash cannot start"]
    assert any("cannot start" in e.value and "emotion_purpose" in e.value.lower() for e in at.error)


# ------------------------------------------------------------------------------------------------ analyze
def test_analyze_photo_shows_annotated_image_and_face_table(emotion_on, faces_dir):
    enroll_direct("ben_afflek", faces_dir)
    probe = photos(faces_dir, "ben_afflek", "val", 3)
    at = page("pages/analyze.py", "hr-analyst", "manager")
    at.checkbox(key="upload_save").check()
    ok(at.run())
    at.file_uploader(key="upload_file").set_value((probe[0].name, probe[0].read_bytes(), "image/jpeg"))
    ok(at.run())
    assert at.image, "annotated image expected"
    table = at.dataframe[0].value
    assert {"name", "distance", "threshold", "emotion", "valence"} <= set(table.columns)
    assert len(table) >= 1
    assert "Ben Afflek" in set(table["name"]), table
    from core.timeline.store import TimelineStore

    rows = TimelineStore.from_settings(get_settings()).read()
    known = int((table["worker id"].notna() & (table["worker id"] != "")).sum())
    assert len(rows) == known >= 1 and set(rows["source"]) == {"upload"}  # recognised workers only
    assert set(rows["worker_id"]) == {"ben_afflek"}
    assert rows["happy"].notna().all()  # emotion was on: scores stored
    from core.audit import read_audit_log

    stored = [r for r in read_audit_log(get_settings()) if r["action"] == "observations_stored"]
    assert len(stored) == 1 and stored[0]["actor"] == "hr-analyst" and stored[0]["via"] == "dashboard"
    ok(at.run())  # a rerun does not store the same result twice
    assert len(TimelineStore.from_settings(get_settings()).read()) == known


def test_analyze_photo_without_emotion_shows_no_emotion(data_dir, faces_dir):
    probe = photos(faces_dir, "elton_john", "val", 1)[0]
    at = page("pages/analyze.py")
    at.file_uploader(key="upload_file").set_value((probe.name, probe.read_bytes(), "image/jpeg"))
    ok(at.run())
    table = at.dataframe[0].value
    assert "emotion" not in table.columns and "valence" not in table.columns
    assert set(table["name"]) == {"unknown"}  # nobody enrolled


@pytest.mark.parametrize("name,data,expected", [
    ("broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "broken.jpg: "),
    ("empty.png", b"", "empty.png: file is empty"),
    ("notes.jpg", b"hello, I am text", "notes.jpg: not an image"),
])
def test_analyze_bad_upload_names_the_file_and_problem(data_dir, name, data, expected):
    at = page("pages/analyze.py")
    at.file_uploader(key="upload_file").set_value((name, data, "image/jpeg"))
    ok(at.run())
    assert any(e.value.startswith(expected) for e in at.error), [e.value for e in at.error]
    assert not at.image


def test_analyze_video_shows_progress_result_and_presence_chart(data_dir, shared_data):
    video = shared_data / "video" / "id2_vcd_swwp2s.mp4"
    assert video.is_file(), video
    at = page("pages/analyze.py")
    at.slider(key="upload_every_n").set_value(10)
    at.file_uploader(key="upload_file").set_value((video.name, video.read_bytes(), "video/mp4"))
    ok(at.run())
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Frames"]) >= 30 and int(metrics["Analysed frames"]) >= 3
    assert at.get("video"), "annotated video player expected"
    assert any(b.label == "Download annotated video" for b in at.get("download_button"))
    assert "Who was seen when" in plotly_titles(at)


# ------------------------------------------------------------------------------------------------ workers
def test_workers_page_empty_state_and_enroll_button_needs_consent(data_dir, faces_dir):
    at = ok(page("pages/workers.py", "hr-admin", "hr"))
    assert any("No workers enrolled yet" in i.value for i in at.info)
    pics = photos(faces_dir, "madonna", n=2)
    at.text_input(key="enroll_id").set_value("w-1")
    at.file_uploader(key="enroll_photos").set_value([(p.name, p.read_bytes(), "image/jpeg") for p in pics])
    ok(at.run())
    button = at.button(key="enroll_button")
    assert button.disabled, "enrolling without consent must be impossible"
    assert any("consent" in c.value for c in at.caption)


def test_enroll_through_workers_page_with_upload_and_camera_snapshot(data_dir, faces_dir):
    pics = photos(faces_dir, "jerry_seinfeld", n=5)
    at = page("pages/workers.py", "hr-admin", "hr")
    at.text_input(key="enroll_id").set_value("w-jerry")
    at.text_input(key="enroll_name").set_value("Jerry")
    at.file_uploader(key="enroll_photos").set_value([(p.name, p.read_bytes(), "image/jpeg") for p in pics[:4]])
    at.text_area(key="enroll_consent").set_value("Recognition at the site entrance for access logging.")
    at.text_input(key="enroll_given_by").set_value("Jerry Seinfeld")
    at.toggle(key="enroll_use_camera").set_value(True)
    ok(at.run())
    at.camera_input(key="enroll_camera").set_value(("shot.jpg", pics[4].read_bytes(), "image/jpeg"))
    ok(at.run())
    assert not at.button(key="enroll_button").disabled
    at.button(key="enroll_button").click()
    ok(at.run())
    assert any(s.value.startswith("Enrolled w-jerry") for s in at.success), [e.value for e in at.error]
    verdict_captions = [c.value for c in at.caption if "accepted**" in c.value or "rejected**" in c.value]
    assert len(verdict_captions) == 5  # 4 uploads + 1 snapshot, each with a verdict
    assert any("camera-1.jpg" in c for c in verdict_captions)
    assert len(at.image) >= 4  # thumbnails
    table = at.dataframe[0].value
    assert list(table["worker id"]) == ["w-jerry"] and table["photos"].iloc[0] >= 1
    audit = [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()]
    assert any(a["action"] == "enroll" and a["subject"] == "w-jerry" and a["actor"] == "hr-admin" for a in audit)


def test_enroll_with_unusable_photos_shows_each_reason(data_dir):
    from core.images import encode_jpeg

    blank = encode_jpeg(np.full((300, 300, 3), 128, np.uint8))
    at = page("pages/workers.py", "hr-admin", "hr")
    at.text_input(key="enroll_id").set_value("w-2")
    at.file_uploader(key="enroll_photos").set_value([("wall.jpg", blank, "image/jpeg"),
                                                      ("junk.jpg", b"not an image", "image/jpeg")])
    at.text_area(key="enroll_consent").set_value("access logging")
    at.text_input(key="enroll_given_by").set_value("W Two")
    ok(at.run())
    at.button(key="enroll_button").click()
    ok(at.run())
    assert any(e.value.startswith("Not enrolled") for e in at.error)
    captions = " ".join(c.value for c in at.caption)
    assert "no face found" in captions and "not an image" in captions
    assert any("No workers enrolled yet" in i.value for i in at.info)  # nothing was written


def test_rename_and_erase_worker_with_confirmation(data_dir, faces_dir):
    worker = enroll_direct("madonna", faces_dir, "w-mad")
    from core.demo import demo_frame
    from core.timeline.store import TimelineStore

    rows = demo_frame(days=2, now="2026-01-10T12:00:00Z").head(20).assign(worker_id=worker, source="live")
    TimelineStore.from_settings(get_settings()).append(rows)
    at = page("pages/workers.py", "hr-admin", "hr")
    table = at.dataframe[0].value
    assert table["observations"].iloc[0] == 20 and table["last seen"].notna().all()
    at.text_input(key="rename_name").set_value("Madonna C.")
    ok(at.run())
    at.button(key="rename_button").click()
    ok(at.run())
    assert at.dataframe[0].value["name"].iloc[0] == "Madonna C."
    assert at.button(key="erase_button").disabled  # not confirmed yet
    at.text_input(key="erase_confirm").set_value("w-ma")
    ok(at.run())
    assert at.button(key="erase_button").disabled  # wrong id typed
    at.text_input(key="erase_confirm").set_value(worker)
    ok(at.run())
    at.button(key="erase_button").click()
    ok(at.run())
    assert any("Erased w-mad" in s.value and "20 timeline row(s)" in s.value for s in at.success)
    assert TimelineStore.from_settings(get_settings()).count() == 0
    audit = [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()]
    assert [(a["action"], a["actor"], a["via"]) for a in audit][-2:] == [
        ("rename", "hr-admin", "dashboard"), ("erase_worker", "hr-admin", "dashboard")]  # the signed-in account


# ------------------------------------------------------------------------------------------------ history
def test_history_empty_state_then_demo_data_without_emotion_shows_presence_only(data_dir):
    at = ok(page("pages/history.py"))
    assert any("No observations yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.button(key="history_demo_load").click()
    ok(at.run())
    assert any("synthetic observations" in s.value for s in at.success)
    titles = plotly_titles(at)
    assert any(t.startswith("Presence: Team") for t in titles), titles
    assert not any("Emotion" in t or "Valence" in t for t in titles), titles
    assert any("Emotion analysis is off" in i.value for i in at.info)
    assert not [b for b in at.get("download_button") if b.label == "Download CSV"]  # prepared first, audited
    at.button(key="hist_export_prepare").click()
    ok(at.run())
    export = [b for b in at.get("download_button") if b.label == "Download CSV"]
    assert export
    exported = [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()
                if '"timeline_export"' in line]
    assert len(exported) == 1 and exported[0]["actor"] == "test-admin" and exported[0]["rows"] > 100
    at.button(key="history_demo_remove").click()
    ok(at.run())
    assert any("No observations yet" in i.value for i in at.info)


def test_history_charts_from_real_observations_with_emotion(emotion_on, faces_dir):
    from core.engine import FaceEngine
    from core.images import load_image
    from core.timeline.store import TimelineStore

    worker = enroll_direct("elton_john", faces_dir, "w-elton")
    settings = get_settings()
    engine = FaceEngine(settings)
    store = TimelineStore.from_settings(settings)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=3)
    stored = 0
    for n, path in enumerate(photos(faces_dir, "elton_john", "val", 5) + photos(faces_dir, "elton_john", "train", 6)):
        observations = engine.analyze(load_image(path), source="live", when=start + dt.timedelta(hours=7 * n))
        stored += store.append([o for o in observations if o.identity.worker_id == worker])
    assert stored >= 5, "expected the enrolled worker to be recognised in most photos"

    at = ok(page("pages/history.py"))
    titles = plotly_titles(at)
    for expected in ("Emotion timeline: Team (hour)", "Valence over time: Team", "Label distribution: Team",
                     "Mean valence by weekday and hour", "Valence mix per worker"):
        assert expected in titles, titles
    at.selectbox(key="hist_scope").set_value(worker)
    at.selectbox(key="hist_resolution").set_value("day")
    ok(at.run())
    titles = plotly_titles(at)
    assert "Emotion timeline: Elton John (day)" in titles, titles
    assert "Valence mix per worker" not in titles
    assert int(at.metric[0].value.replace(",", "")) == stored


# ------------------------------------------------------------------------------------------------ evaluation
def _emotion_result(backend: str = "fer") -> dict:
    from core.types import EMOTIONS

    rng = np.random.default_rng(0)
    confusion = (np.eye(7) * 80 + rng.integers(0, 10, (7, 7))).astype(int).tolist()
    per_class = {e: {"precision": 0.6, "recall": 0.5, "f1": 0.55, "specificity": 0.9, "support": 100} for e in EMOTIONS}
    roc = {e: {"fpr": [0, 0.2, 1], "tpr": [0, 0.7, 1], "auc": 0.8} for e in EMOTIONS}
    return {"backend": backend, "dataset": "FER-2013", "split": "PrivateTest", "n": 3589,
            "computed_at": "2026-11-20T10:00:00+00:00", "accuracy": 0.655, "labels": list(EMOTIONS),
            "confusion": confusion, "per_class": per_class, "roc": roc, "seconds_per_face": 0.0004,
            "valence": {"accuracy": 0.74, "labels": ["positive", "negative", "neutral"],
                        "confusion": [[50, 5, 5], [6, 40, 4], [3, 3, 30]]}}


def _identity_result() -> dict:
    thresholds = np.linspace(0, 0.2, 11)
    return {"model": "Dlib", "metric": "cosine", "dataset": "5-celebrity-faces", "computed_at": "2026-11-20T10:00:00Z",
            "top1_accuracy": 0.96, "threshold": 0.07, "threshold_source": "calibrated", "auc": 0.99, "eer": 0.03,
            "genuine": [0.03, 0.04, 0.05, 0.06], "impostor": [0.12, 0.15, 0.2, 0.09],
            "far_frr": [{"threshold": float(t), "far": float(t * 2), "frr": float(1 - t * 5)} for t in thresholds],
            "roc": {"fpr": [0, 0.05, 1], "tpr": [0, 0.95, 1]}}


def test_evaluation_page_empty_state_names_the_commands(data_dir):
    at = ok(page("pages/evaluation.py"))
    infos = " ".join(i.value for i in at.info)
    assert "python -m core.evaluation emotion" in infos and "python -m core.evaluation identity" in infos


def test_evaluation_page_shows_results_and_reports_bad_files(data_dir):
    folder = get_settings().evaluation_dir
    folder.mkdir(parents=True)
    (folder / "emotion_fer.json").write_text(json.dumps(_emotion_result()))
    (folder / "identity.json").write_text(json.dumps(_identity_result()))
    (folder / "emotion_own.json").write_text("{ not json")
    broken = _emotion_result("deepface")
    del broken["confusion"]
    (folder / "emotion_deepface.json").write_text(json.dumps(broken))
    (folder / "emotion_summary.json").write_text(json.dumps({"backends": {}}))  # an index, not a backend
    at = ok(page("pages/evaluation.py"))
    errors = [e.value for e in at.error]
    assert any("emotion_own.json: not readable JSON" in e for e in errors), errors
    assert any("emotion_deepface.json: missing key(s) confusion" in e for e in errors), errors
    assert len(errors) == 2
    assert at.selectbox(key="eval_backend").options == ["fer"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy (7 classes)"] == "65.5%" and metrics["Top-1 accuracy"] == "96.0%"
    assert len(at.get("plotly_chart")) == 6  # confusion, ROC, valence confusion; FAR/FRR, ROC, histograms
    assert any("FER-2013 PrivateTest, 3,589 faces, computed 2026-11-20 10:00 UTC" in c.value for c in at.caption)
    per_class = at.dataframe[1].value
    assert list(per_class.columns[:4]) == ["class", "precision", "recall", "f1"]


def test_evaluation_page_shows_the_open_set_report_and_names_a_broken_one(data_dir):
    """The committed lfw-dev report (benchmarks/bench_identity.py) renders: headline metrics, 3 figures, the table."""
    folder = get_settings().evaluation_dir
    folder.mkdir(parents=True)
    report = json.loads((ROOT / "data" / "evaluation" / "openset_lfw.json").read_text())
    (folder / "openset_lfw.json").write_text(json.dumps(report))
    at = ok(page("pages/evaluation.py"))
    metrics = {m.label: m.value for m in at.metric}
    shipped = next(r for r in report["results"] if r["path"] == "chip" and "curve" in r["heldout"])
    assert metrics["Rank-1"] == f"{shipped['heldout']['rank1']:.1%}"
    assert metrics["Named at FAR 1%"] == f"{shipped['heldout']['dir_at_far_0.01']:.1%}"
    assert metrics["Named at FAR 0.1%"] == f"{shipped['all']['dir_at_far_0.001']:.1%}"
    assert len(at.get("plotly_chart")) == 3  # DIR-FAR curves, histogram, FAR/FRR
    table = at.dataframe[-1].value
    assert set(table["embedding"]) == {"crop", "chip"} and len(table) == len(report["results"])
    (folder / "openset_lfw.json").write_text(json.dumps({"results": []}))
    at = ok(page("pages/evaluation.py"))
    assert any("openset_lfw.json: expected an object with a non-empty 'results' list" in e.value for e in at.error)


# ------------------------------------------------------------------------------------------------ settings
def test_settings_page_shows_backends_and_why(data_dir):
    at = ok(page("pages/settings.py"))
    backends = at.dataframe[0].value
    assert set(backends["component"]) >= {"Recognition model", "Emotion model", "Identity threshold"}
    recognition = backends.set_index("component").loc["Recognition model"]
    assert recognition["in use"] in ("Dlib", "VGG-Face") and recognition["why"]
    assert backends.set_index("component").loc["Emotion model", "in use"] == "off"
    assert any("Article 5(1)(f)" in m.value for m in at.markdown)
    assert any("named once 3 of its last 5 identifications agree" in c.value for c in at.caption)
    assert any("Live camera detector: blazeface on frames downscaled to 320 px" in c.value
               and "the measured default" in c.value for c in at.caption)


def test_settings_enabling_emotion_requires_purpose_then_saves_and_reloads(data_dir):
    at = page("pages/settings.py", "dpo", "admin")
    at.toggle(key="set_emotion").set_value(True)
    at.button(key="FormSubmitter:privacy_form-Save privacy settings").click()
    ok(at.run())
    assert any("choose the purpose" in e.value for e in at.error)
    assert not (data_dir / "settings.json").exists()  # nothing saved

    at.radio(key="set_purpose").set_value("safety")
    at.text_area(key="set_purpose_text").set_value("detect fatigue of forklift drivers")
    at.number_input(key="set_retention").set_value(30)
    at.button(key="FormSubmitter:privacy_form-Save privacy settings").click()
    ok(at.run())
    assert any("emotion analysis ON for a safety purpose" in s.value for s in at.success), [e.value for e in at.error]
    saved = json.loads((data_dir / "settings.json").read_text())
    assert saved["emotion_enabled"] is True and saved["emotion_purpose"] == "safety" and saved["retention_days"] == 30
    assert load_settings().emotion_active
    backends = at.dataframe[0].value.set_index("component")
    assert backends.loc["Emotion model", "in use"] != "off"  # the engine was rebuilt with the emotion model
    fresh = ok(page("pages/analyze.py"))  # a new session sees the saved settings
    assert any("Emotion analysis: **on (safety)**" in c.value for c in fresh.sidebar.caption)
    assert fresh.expander[0].label == "Privacy notice: emotion analysis ON (safety)"
    audit = [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()]
    changes = [r for r in audit if r["action"] == "settings_privacy"]
    assert len(changes) == 1 and changes[0]["actor"] == "dpo" and changes[0]["via"] == "dashboard"


def test_settings_run_retention_and_demo_buttons(data_dir):
    from core.demo import demo_frame
    from core.timeline.store import TimelineStore

    old = demo_frame(days=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).head(10)
    TimelineStore.from_settings(get_settings()).append(old.assign(worker_id="w-old", source="live"))
    at = page("pages/settings.py", "dpo", "admin")  # start-up retention already removed the 400-day-old rows
    assert TimelineStore.from_settings(get_settings()).count() == 0
    at.button(key="settings_demo_load").click()
    ok(at.run())
    assert TimelineStore.from_settings(get_settings()).count() > 100
    at.button(key="run_retention").click()
    ok(at.run())
    assert any("Retention applied: 0 row(s)" in s.value for s in at.success)
    at.button(key="settings_demo_remove").click()
    ok(at.run())
    assert TimelineStore.from_settings(get_settings()).count() == 0
