"""The live page's Streamlit wiring through AppTest (router + pages/live.py; no browser, no camera).

streamlit-webrtc's widget needs a real server session and a browser (under AppTest it fails on the mocked
runtime), so here it is replaced by a stand-in that records the arguments the page passes; the real widget, with
real frames, is tested in tests/e2e/test_live_browser.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import get_settings
from core.live import EngineAnalyzer, LiveProcessor, ProcessAnalyzer
from tests.accounts import sign_in

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def webrtc_calls(monkeypatch) -> list[dict]:
    from dashboard import webrtc

    calls: list[dict] = []

    def stand_in(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(state=SimpleNamespace(playing=False, signalling=False))

    monkeypatch.setattr(webrtc, "webrtc_streamer", stand_in)
    return calls


@pytest.fixture
def live_page_env(tmp_path, monkeypatch, webrtc_calls):
    from dashboard import navigation

    monkeypatch.setenv("FACEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEDASH_OBSERVATION_INTERVAL_S", "2")
    monkeypatch.setenv("FACEDASH_EMOTION_ENABLED", "true")
    monkeypatch.setenv("FACEDASH_EMOTION_PURPOSE", "safety")
    monkeypatch.setenv("FACEDASH_EMOTION_PURPOSE_TEXT", "fatigue alerts at the press line")
    monkeypatch.delenv("FACEDASH_LIVE_ANALYSIS", raising=False)
    monkeypatch.setattr(navigation, "START_PAGE", navigation.LIVE)
    get_settings.cache_clear()
    st.cache_resource.clear()
    yield
    get_settings.cache_clear()
    st.cache_resource.clear()  # releases the cached ProcessAnalyzer (closes it)


def tmp_data() -> Path:
    return get_settings().data_dir


def test_a_viewer_gets_no_camera(live_page_env, webrtc_calls):
    """The camera page is not in a viewer's navigation: the router opens the viewer's first page (History)."""
    at = sign_in(AppTest.from_file(APP, default_timeout=120), tmp_data(), "watcher", "viewer").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "History" and not webrtc_calls and "live_processor" not in at.session_state


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "info", "caption") for e in at.get(kind))


def test_live_page_notice_processor_and_recording_toggle(live_page_env, webrtc_calls, monkeypatch):
    ice = [{"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "c"}]
    monkeypatch.setenv("FACEDASH_ICE_SERVERS", '[{"urls": ["turn:turn.example.com:3478"], "username": "u", '
                                               '"credential": "c"}]')
    get_settings.cache_clear()
    at = sign_in(AppTest.from_file(APP, default_timeout=120), tmp_data(), "lead", "manager").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Live camera"
    page = texts(at)
    assert "Faces in this camera stream are analysed on the server" in page
    assert "**safety** purpose: _fatigue alerts at the press line_" in page
    assert "Recording: one row per worker every 2 s" in page
    assert "**Faces now:** no face in view" in page
    assert "models in a separate process" in page

    processor = at.session_state["live_processor"]
    assert isinstance(processor, LiveProcessor) and processor.recording and processor.recorder.interval_s == 2
    assert isinstance(processor.analyzer, ProcessAnalyzer)
    assert processor.analyzer.pid is None, "no analysis process starts before the camera does"
    assert not processor.analyzer.loading and not processor.analyzer.ready

    (call,) = webrtc_calls
    assert call["rtc_configuration"] == {"iceServers": ice}
    assert call["video_frame_callback"] == processor.recv and call["on_video_ended"] == processor.on_ended
    assert call["media_stream_constraints"]["audio"] is False and call["async_processing"] is True

    toggle = at.toggle(key="live_recording")
    assert toggle.value is True
    toggle.set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["live_processor"] is processor, "one processor per session, kept across reruns"
    assert processor.recording is False
    assert "Recording paused: nothing is stored" in texts(at)


def test_live_page_thread_mode_uses_the_shared_engine(live_page_env, monkeypatch):
    monkeypatch.setenv("FACEDASH_LIVE_ANALYSIS", "thread")
    at = sign_in(AppTest.from_file(APP, default_timeout=180), tmp_data(), "lead", "manager").run()
    assert not at.exception, [e.value for e in at.exception]
    processor = at.session_state["live_processor"]
    assert isinstance(processor.analyzer, EngineAnalyzer), type(processor.analyzer)
    assert type(processor.analyzer.engine).__name__ == "FaceEngine" and processor.analyzer.emotion_enabled
    assert "models in this process" in texts(at)
    at.toggle(key="live_recording").set_value(False).run()  # a rerun wraps the engine again: same analyzer kept
    assert at.session_state["live_processor"].analyzer is processor.analyzer


def test_live_page_names_a_bad_analysis_mode(live_page_env, monkeypatch):
    """FACEDASH_LIVE_ANALYSIS is a Settings field: a bad value is refused with the other settings, and the router
    shows that ConfigError (naming the variable) instead of any page."""
    monkeypatch.setenv("FACEDASH_LIVE_ANALYSIS", "gpu")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "FaceDash cannot start"
    errors = [e.value for e in at.error]
    assert any("FACEDASH_LIVE_ANALYSIS" in e and "'process' or 'thread'" in e for e in errors), errors
    assert "live_processor" not in at.session_state
