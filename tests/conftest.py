"""Shared fixtures: real data from ../shared/data, one engine per test session, temporary data folders."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# aiortc's libsrtp binding must load before TensorFlow, or the process segfaults (see dashboard/__init__.py);
# this one pytest process runs engine tests (TensorFlow) and live-page tests (aiortc) in any order.
import pylibsrtp  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FACES = SHARED_DATA / "faces" / "5-celebrity-faces"
PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"test data folder {SHARED_DATA} is missing: the tests need ../shared/data beside the repo")
    return SHARED_DATA


@pytest.fixture(scope="session")
def faces_dir(shared_data) -> Path:
    return shared_data / "faces" / "5-celebrity-faces"


def photos(person: str, split: str) -> list[Path]:
    found = sorted((FACES / person).glob(f"{split}__*"))
    assert found, f"no {split} photos for {person} in {FACES}"
    return found


@pytest.fixture(scope="session")
def weights_home(tmp_path_factory) -> Path:
    """A DeepFace home shared by the session, with only the offline weights (as on a fresh machine)."""
    return tmp_path_factory.mktemp("deepface_home")


@pytest.fixture(scope="session")
def engine_settings_factory(weights_home):
    from core.config import load_settings

    def make(data_dir: Path, **overrides):
        return load_settings(data_dir=data_dir, deepface_home=weights_home, **overrides)

    return make


@pytest.fixture(scope="session")
def engine(tmp_path_factory, engine_settings_factory):
    """One loaded FaceEngine (opencv + Dlib + fer) for the session, on an empty gallery."""
    from core.engine import FaceEngine

    data_dir = tmp_path_factory.mktemp("engine_data")
    settings = engine_settings_factory(data_dir, emotion_enabled=True, emotion_purpose="safety")
    return FaceEngine(settings)


@pytest.fixture(scope="session")
def enrolled_gallery(tmp_path_factory, engine):
    """The five people enrolled from their train__ photos, in a gallery folder kept for the session."""
    from core.gallery import Consent, Gallery

    folder = tmp_path_factory.mktemp("gallery5")
    gallery = Gallery(folder)
    reports = {}
    for person in PEOPLE:
        data = [(p.name, p.read_bytes()) for p in photos(person, "train")]
        reports[person] = gallery.enroll(person, data, Consent("test enrollment", person, "pytest"),
                                         engine.detector, engine.embedder)
    return gallery, reports


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder`` (to assert that a failed command changed nothing)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@contextlib.contextmanager
def api_server(data: Path, log_path: Path, weights_home: Path, **settings: str):
    """``python -m core serve`` (the real uvicorn process) on ``data``; yields its base URL, stops it afterwards.

    ``settings``: extra FACEDASH_* variables (``FACEDASH_API_KEY="..."``); an API key from the caller's environment
    is not passed on unless given here.
    """
    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "FACEDASH_DATA_DIR": str(data),
           "FACEDASH_DEEPFACE_HOME": str(weights_home)}
    env.pop("FACEDASH_API_KEY", None)
    env.update(settings)
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=REPO, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 180
            while True:
                try:
                    if requests.get(f"{base}/health", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    pass
                assert server.poll() is None, log_path.read_text(errors="replace")[-3000:]
                assert time.time() < deadline, "API server did not start in 180 s:\n" + log_path.read_text(
                    errors="replace")[-3000:]
                time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            server.wait(30)


#: Settings a developer's environment might hold that would change what a dashboard test sees.
DASHBOARD_ENV = ("FACEDASH_EMOTION_ENABLED", "FACEDASH_EMOTION_PURPOSE", "FACEDASH_EMOTION_PURPOSE_TEXT",
                 "FACEDASH_RETENTION_DAYS", "FACEDASH_IDENTITY_THRESHOLD", "FACEDASH_STORE_URI", "FACEDASH_GALLERY_DIR",
                 "FACEDASH_AUTH_MODE", "FACEDASH_SESSION_IDLE_MINUTES", "FACEDASH_LIVE_ANALYSIS")


@pytest.fixture
def app_data_dir(tmp_path, monkeypatch, weights_home) -> Path:
    """A fresh data folder (FACEDASH_DATA_DIR) and fresh Streamlit caches, for tests that run the dashboard."""
    import streamlit as st

    from core.config import get_settings

    folder = tmp_path / "data"
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(folder))
    monkeypatch.setenv("FACEDASH_DEEPFACE_HOME", str(weights_home))
    for name in DASHBOARD_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield folder
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture()
def site_data(monkeypatch, tmp_path, weights_home, enrolled_gallery) -> Path:
    """A data folder whose gallery holds the five enrolled people; settings come from the environment, as users
    run the CLI."""
    data = tmp_path / "data"
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(data))
    monkeypatch.setenv("FACEDASH_DEEPFACE_HOME", str(weights_home))
    from core.config import get_settings

    get_settings.cache_clear()
    return data
