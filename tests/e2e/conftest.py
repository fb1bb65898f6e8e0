"""Fixtures for browser end-to-end tests: tools, a fake camera file, an enrolled data folder, the app, Chromium.

Recipe (checked on this kind of machine): ../shared/notes/webrtc-e2e.md. Chromium is Debian's /usr/bin/chromium,
driven by Playwright for Python (never `playwright install`). Missing tools are installed by
scripts/install_e2e_deps.sh (apt-get chromium ffmpeg; pip playwright==1.65.2 pytest-playwright==0.10.0).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
INSTALL_SCRIPT = ROOT / "scripts" / "install_e2e_deps.sh"

#: The person in bbaf2n.mp4, enrolled before the app starts.
E2E_WORKER, E2E_NAME = "grid-s1", "Grid Speaker"
E2E_ENROLL_FRAMES = (0, 18, 37, 55, 74)  # the gallery keeps those that are not near-duplicates


def _tools_missing() -> list[str]:
    missing = [tool for tool in ("chromium", "ffmpeg") if shutil.which(tool) is None]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright")
    return missing


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    """Chromium, ffmpeg and Playwright: present, or installed now by scripts/install_e2e_deps.sh."""
    missing = _tools_missing()
    if missing:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT), sys.executable], capture_output=True, text=True,
                                timeout=900)
        still = _tools_missing()
        assert not still, (
            f"e2e tools missing: {still}; {INSTALL_SCRIPT.name} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} not found (apt-get install chromium)"


@pytest.fixture(scope="session")
def fake_camera(e2e_tools, shared_data, tmp_path_factory) -> Path:
    """bbaf2n.mp4 as a .y4m for Chromium's fake camera, retimed to 25 frames/s (its timestamps are broken)."""
    target = tmp_path_factory.mktemp("camera") / "face.y4m"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(shared_data / "video" / "bbaf2n.mp4"), "-an",
         "-vf", "setpts=N/25/TB", "-fps_mode", "passthrough", "-r", "25", "-pix_fmt", "yuv420p", str(target)],
        check=True, timeout=120,
    )
    assert target.stat().st_size > 5_000_000, "the y4m should hold all 75 frames (about 12 MB)"
    return target


@pytest.fixture(scope="session")
def enrolled_data_dir(shared_data, tmp_path_factory) -> Path:
    """A fresh data folder in which the person of bbaf2n.mp4 is enrolled (frames far apart, core API)."""
    import cv2

    from core.config import load_settings
    from core.engine import FaceEngine
    from core.gallery import Consent
    from core.video import read_frames

    data_dir = tmp_path_factory.mktemp("e2e-data")
    frames, _ = read_frames(shared_data / "video" / "bbaf2n.mp4")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEDASH_DATA_DIR", str(data_dir))
        engine = FaceEngine(load_settings(data_dir=data_dir, detector="opencv", recognition_model="Dlib"),
                            load_emotion=False)
        photos = [(f"frame{i}.jpg", cv2.imencode(".jpg", frames[i])[1].tobytes()) for i in E2E_ENROLL_FRAMES]
        report = engine.enroll(E2E_WORKER, photos, Consent("e2e test of the live page", E2E_NAME, "pytest"),
                               name=E2E_NAME)
    assert report.accepted, [v.reason for v in report.verdicts]
    return data_dir


@pytest.fixture(scope="session")
def enrolled_person() -> tuple[str, str]:
    """(worker id, display name) of the person enrolled in ``enrolled_data_dir``."""
    return E2E_WORKER, E2E_NAME


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The account the live-page test signs in with (a manager: camera and recording).
LIVE_USER = "line-lead"


class App:
    def __init__(self, process: subprocess.Popen, url: str, log_path: Path, status_file: Path, data_dir: Path):
        self.process, self.url, self.log_path, self.status_file, self.data_dir = (
            process, url, log_path, status_file, data_dir)
        self.user = LIVE_USER

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@pytest.fixture
def live_app(enrolled_data_dir, tmp_path) -> App:
    """The real app (router streamlit_app.py) on a free port, with the e2e data folder, a status file and a manager
    account (``App.user``, password tests.accounts.PASSWORD)."""
    from tests.accounts import make_account

    make_account(enrolled_data_dir, LIVE_USER, "manager")
    port = _free_port()
    status_file = tmp_path / "live-status.json"
    log_path = tmp_path / "streamlit.log"
    env = {
        **os.environ,
        "FACEDASH_DATA_DIR": str(enrolled_data_dir),
        "FACEDASH_DETECTOR": "opencv",
        "FACEDASH_RECOGNITION_MODEL": "Dlib",
        "FACEDASH_EMOTION_ENABLED": "true",
        "FACEDASH_EMOTION_PURPOSE": "safety",
        "FACEDASH_EMOTION_PURPOSE_TEXT": "fatigue alerts for machine operators (e2e test)",
        "FACEDASH_EMOTION_BACKEND": "fer",
        "FACEDASH_OBSERVATION_INTERVAL_S": "1",
        "FACEDASH_ICE_SERVERS": "[]",
        "FACEDASH_LIVE_STATUS_FILE": str(status_file),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # other work in the tree must not trigger reruns
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    app = App(process, url, log_path, status_file, enrolled_data_dir)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"streamlit exited with {process.returncode}:\n{app.log_tail()}"
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            assert time.monotonic() < deadline, f"streamlit not healthy after 120 s:\n{app.log_tail()}"
            time.sleep(0.5)
        yield app
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the app's process group (streamlit and its analysis child), then SIGKILL what is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@pytest.fixture
def chromium_page(fake_camera):
    """A headless Chromium page whose camera plays the fake-camera file."""
    from playwright.sync_api import sync_playwright

    args = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera}",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


@pytest.fixture
def process_groups():
    """Processes a test starts with ``start_new_session=True``: each group is stopped (``_stop_group``) at the end."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        _stop_group(process)


@pytest.fixture
def plain_chromium_page(e2e_tools):
    """A headless Chromium page without a camera (pages that need no fake camera file)."""
    from playwright.sync_api import sync_playwright

    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()
