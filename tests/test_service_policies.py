"""One policy, whichever front-end is used: the same photo analysed and stored through the CLI, the HTTP API (a
real uvicorn process) and the dashboard's Analyze page (AppTest) gives the same stored rows - none for the unknown
face - and the same audit line; enroll / rename / erase from the CLI and the dashboard write the same audit fields.

Before the service layer these disagreed: the upload page stored a row for the unknown face too, the CLI audited
enrollment as ``worker=`` and the dashboard as ``subject=``, and only the CLI logged the consent text whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import requests
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.audit import read_audit_log
from core.cli import main
from core.config import get_settings, load_settings
from core.gallery import Gallery
from core.services.actor import Actor
from core.timeline import TimelineStore
from tests.accounts import make_key, sign_in
from tests.conftest import REPO, api_server, photos

ROW_FIELDS_THAT_DIFFER = ["obs_id", "time", "source"]  # when and through which front-end: by design
AUDIT_FIELDS_THAT_DIFFER = {"time", "host", "pid", "via", "actor", "source"}
EMOTION_ENV = {"FACEDASH_EMOTION_ENABLED": "true", "FACEDASH_EMOTION_PURPOSE": "safety",
               "FACEDASH_EMOTION_PURPOSE_TEXT": "fatigue of machine operators"}


@pytest.fixture(scope="module")
def group_photo(tmp_path_factory) -> Path:
    """An enrolled worker (Mindy Kaling) beside a person who is not enrolled here (Elton John)."""
    known = cv2.imread(str(photos("mindy_kaling", "val")[0]))
    stranger = cv2.imread(str(photos("elton_john", "val")[0]))
    height = max(known.shape[0], stranger.shape[0])

    def pad(image):
        return cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))

    path = tmp_path_factory.mktemp("policy") / "group.jpg"
    cv2.imwrite(str(path), np.hstack([pad(known), pad(stranger)]))
    return path


def make_data_dir(root: Path, enrolled_gallery) -> Path:
    data = root / "data"
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    Gallery(data / "gallery").erase("elton_john")  # a stranger to this site
    return data


@pytest.fixture
def front_end_env(monkeypatch, weights_home):
    def use(data: Path) -> None:
        monkeypatch.setenv("FACEDASH_DATA_DIR", str(data))
        monkeypatch.setenv("FACEDASH_DEEPFACE_HOME", str(weights_home))
        for key, value in EMOTION_ENV.items():
            monkeypatch.setenv(key, value)
        for key in ("FACEDASH_STORE_URI", "FACEDASH_GALLERY_DIR", "FACEDASH_IDENTITY_THRESHOLD"):
            monkeypatch.delenv(key, raising=False)
        get_settings.cache_clear()
        st.cache_data.clear()
        st.cache_resource.clear()

    yield use
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


def store_via_cli(data: Path, photo: Path, capsys) -> None:
    code = main(["analyze", str(photo), "--save", "--actor", "hr", "--json", "-q"])
    assert code == 0, capsys.readouterr().err


def store_via_api(data: Path, photo: Path, weights_home: Path) -> None:
    key = make_key(data, "hr", ("analyze", "store"))
    with api_server(data, data.parent / "server.log", weights_home, **EMOTION_ENV) as base:
        with open(photo, "rb") as handle:
            response = requests.post(f"{base}/v1/analyze", files={"image": (photo.name, handle)},
                                     params={"store": "true"}, headers={"X-API-Key": key}, timeout=300)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["stored"] == 1 and answer["not_stored_unknown"] == 1


def store_via_dashboard(data: Path, photo: Path) -> None:
    from dashboard import navigation

    navigation.START_PAGE = navigation.ANALYZE
    at = sign_in(AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180), data, "hr", "hr").run()
    at.checkbox(key="upload_save").check()
    at.run()
    at.file_uploader(key="upload_file").set_value((photo.name, photo.read_bytes(), "image/jpeg"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def stored_rows(data: Path) -> pd.DataFrame:
    with TimelineStore.from_settings(load_settings(data_dir=data)) as store:
        rows = store.read()
    return rows.drop(columns=ROW_FIELDS_THAT_DIFFER).sort_values("worker_id").reset_index(drop=True)


def audit_lines(data: Path, action: str) -> list[dict]:
    return [r for r in read_audit_log(load_settings(data_dir=data)) if r["action"] == action]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in AUDIT_FIELDS_THAT_DIFFER}


def test_cli_api_and_dashboard_store_the_same_rows_and_audit_line(tmp_path, enrolled_gallery, group_photo,
                                                                  front_end_env, weights_home, capsys):
    folders = {name: make_data_dir(tmp_path / name, enrolled_gallery) for name in ("cli", "api", "dashboard")}
    front_end_env(folders["cli"])
    store_via_cli(folders["cli"], group_photo, capsys)
    store_via_api(folders["api"], group_photo, weights_home)
    front_end_env(folders["dashboard"])
    store_via_dashboard(folders["dashboard"], group_photo)

    rows = {name: stored_rows(folder) for name, folder in folders.items()}
    for name, frame in rows.items():
        assert list(frame["worker_id"]) == ["mindy_kaling"], (name, frame["worker_id"].tolist())  # no unknown row
    pd.testing.assert_frame_equal(rows["cli"], rows["api"], check_exact=False, atol=1e-5)
    pd.testing.assert_frame_equal(rows["cli"], rows["dashboard"], check_exact=False, atol=1e-5)

    lines = {name: audit_lines(folder, "observations_stored") for name, folder in folders.items()}
    assert all(len(found) == 1 for found in lines.values()), lines
    first = {name: found[0] for name, found in lines.items()}
    assert comparable(first["cli"]) == comparable(first["api"]) == comparable(first["dashboard"])
    assert comparable(first["cli"])["rows"] == 1 and comparable(first["cli"])["not_stored_unknown"] == 1
    assert {(r["actor"], r["via"], r["source"]) for r in first.values()} == {
        ("hr", "cli", "cli"), ("hr", "api", "api"), ("hr", "dashboard", "upload")}  # the account, the key's name


def test_enroll_rename_erase_write_the_same_audit_fields_from_cli_and_dashboard(tmp_path, enrolled_gallery,
                                                                               front_end_env, capsys):
    from core.engine import FaceEngine
    from dashboard import enrollment

    pictures = photos("elton_john", "train")[:3]
    consent = "recognition at the site entrance for access logging"
    cli_data = make_data_dir(tmp_path / "cli", enrolled_gallery)
    front_end_env(cli_data)
    assert main(["enroll", "--worker", "w-elton", "--name", "Elton", "--consent", consent, "--consent-by",
                 "Elton J", "--actor", "hr", "-q", *map(str, pictures)]) == 0
    assert main(["workers", "rename", "--worker", "w-elton", "--new-name", "Sir Elton", "--actor", "hr"]) == 0
    assert main(["workers", "erase", "--worker", "w-elton", "--actor", "hr"]) == 0
    capsys.readouterr()

    dash_data = make_data_dir(tmp_path / "dashboard", enrolled_gallery)
    hr = Actor.signed_in("hr", "hr")  # the signed-in account, as the Workers page passes it
    front_end_env(dash_data)
    settings = get_settings()
    outcome = enrollment.enroll_worker(FaceEngine(settings), settings, "w-elton", "Elton",
                                       [(p.name, p.read_bytes()) for p in pictures], consent, "Elton J", hr)
    assert outcome.ok, outcome.message
    enrollment.rename_worker(settings, "w-elton", "Sir Elton", hr)
    enrollment.erase(settings, "w-elton", "w-elton", hr)

    for action in ("enroll", "rename", "erase_worker"):
        cli, dash = audit_lines(cli_data, action), audit_lines(dash_data, action)
        assert len(cli) == len(dash) == 1, (action, cli, dash)
        assert comparable(cli[0]) == comparable(dash[0]), action
        assert (cli[0]["actor"], cli[0]["via"], dash[0]["actor"], dash[0]["via"]) == ("hr", "cli", "hr", "dashboard")
    enrolled = audit_lines(cli_data, "enroll")[0]
    assert enrolled["subject"] == "w-elton" and enrolled["consent_text"] == consent
    assert enrolled["photos_accepted"] >= 1 and enrolled["recognition_model"].startswith("Dlib@")
