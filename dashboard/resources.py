"""Things loaded once per process (``st.cache_resource``) and cached queries (``st.cache_data``).

- :func:`engine` builds the :class:`core.engine.FaceEngine` (TensorFlow, detector, embedder, emotion model) once
  per settings and warms it up under a spinner (about 10 s the first time).
- :func:`store` opens the :class:`core.timeline.store.TimelineStore` once per store URI.
- :func:`startup` runs the retention service once per process (the app calls it on every run; it is cached).
- The ``q_*`` functions wrap core.timeline.queries with ``st.cache_data``. Their cache key includes
  :func:`data_version`, a fingerprint of the store's files: every append, erasure, retention run or compaction
  writes a file with a new unique name, so any change (from any process) gives a new key and fresh results.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pandas as pd
import streamlit as st

from core.config import Settings
from dashboard.settings import current_settings

log = logging.getLogger(__name__)

ENGINE_SPINNER = "Loading the face models (TensorFlow, detector, recognition, emotion): about 10 s the first time..."


# ------------------------------------------------------------------------------------------ settings / engine
def ensure_router() -> None:
    """Make sure this run goes through the router (streamlit_app.py), not a bare ``pages/*.py`` file.

    Streamlit treats an app with a ``pages/`` folder as a "v1" multipage app until ``st.navigation`` has run once
    in the process; until then a session opened on a deep link (``/history`` right after a restart) would run
    pages/history.py alone: no router, no retention, the automatic page list. Every page calls this (through
    :func:`settings`): in that case it switches Streamlit to st.navigation mode and reruns, which runs the router
    with the same page. Under the router the flag is already off (st.navigation clears it), so this does nothing;
    the router itself must not call it. (Renaming the folder, e.g. to ``app_pages/``, would make this unnecessary.)
    """
    from streamlit import config

    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without the v1 fallback
        return
    # AppTest resets the flag before every run (so its reruns execute the page file directly); a rerun here
    # would swallow the test's button clicks, and there is no server process to switch over.
    if PagesManager.uses_pages_directory and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def settings() -> Settings:
    """Current settings (st.secrets applied). A bad value raises core.errors.ConfigError."""
    ensure_router()
    return current_settings()


def _settings_key(s: Settings) -> str:
    return s.model_dump_json()


@st.cache_resource(show_spinner=ENGINE_SPINNER, max_entries=2)
def _load_engine(key: str, _settings: Settings):
    from core.engine import FaceEngine

    engine = FaceEngine(_settings)
    warm_up = getattr(engine.detector, "warm_up", None)
    if callable(warm_up):
        warm_up()  # builds TensorFlow and the detector now, not on the first uploaded photo
    engine.ensure_gallery_embeddings()
    log.info("face engine loaded: %s", engine.backend_report().as_dict())
    return engine


def engine(s: Settings | None = None):
    """The shared FaceEngine for the current settings (loaded once per process and settings)."""
    s = s or settings()
    return _load_engine(_settings_key(s), s)


def workers(s: Settings, actor):
    """Enrolled workers, without loading any model (listing is cheap: the gallery's index file)."""
    from core.services.workers import list_workers

    return list_workers(s, actor)


def display_names(s: Settings, actor) -> dict[str, str]:
    from core.services.workers import display_names as names

    return names(s, actor)


# ------------------------------------------------------------------------------------------ timeline store
@st.cache_resource(show_spinner=False, max_entries=4)
def _open_store(uri: str, _settings: Settings):
    from core.services.timeline import open_store

    return open_store(_settings)


def store(s: Settings | None = None):
    s = s or settings()
    return _open_store(s.timeline_uri, s)


@st.cache_resource(show_spinner="Applying the retention rule...", max_entries=4)
def _retention_once(uri: str, days: int, _settings: Settings) -> dict:
    from core.services.actor import Actor
    from core.services.timeline import apply_retention

    deleted = apply_retention(_settings, Actor.system("dashboard-startup"), days)
    return {"rows_deleted": deleted, "retention_days": days}


def startup(s: Settings | None = None) -> dict:
    """Once per process (and store/retention setting): delete rows older than the retention period."""
    s = s or settings()
    return _retention_once(s.timeline_uri, s.retention_days, s)


def data_version(s: Settings | None = None) -> str:
    """A fingerprint of the store's visible files; changes whenever any process writes or deletes rows."""
    paths = sorted(store(s).file_paths())
    return hashlib.sha1("\n".join(paths).encode()).hexdigest()[:16]


def clear_data_caches() -> None:
    """After this session wrote to the store or the gallery (the fingerprint covers other sessions)."""
    st.cache_data.clear()


def reload_everything() -> None:
    """After settings were saved: drop cached models/stores/queries so the next run rebuilds them."""
    from core.config import get_settings

    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


# ------------------------------------------------------------------------------------------ cached queries
# Every wrapper takes the store URI and data version as its first arguments (the cache key) and the Settings
# as an unhashed argument (used only to open the store).


@st.cache_data(show_spinner=False, max_entries=64)
def q_workers(uri: str, version: str, _s: Settings) -> list[str]:
    return _open_store(uri, _s).workers()


@st.cache_data(show_spinner=False, max_entries=64)
def q_stats(uri: str, version: str, _s: Settings) -> dict:
    return _open_store(uri, _s).stats()


@st.cache_data(show_spinner=False, max_entries=64)
def q_team_summary(uri: str, version: str, _s: Settings, start: Any = None, end: Any = None) -> pd.DataFrame:
    from core.timeline import queries

    return queries.team_summary(_open_store(uri, _s), start, end)


@st.cache_data(show_spinner=False, max_entries=64)
def q_timeline(uri: str, version: str, _s: Settings, workers: tuple[str, ...], start: Any, end: Any,
               resolution: str, tz: str) -> pd.DataFrame:
    """Mean scores / counts per bucket for one worker or (several ids) the team."""
    from core.timeline import queries

    who: Any = workers[0] if len(workers) == 1 else list(workers)
    return queries.worker_timeline(_open_store(uri, _s), who, start, end, resolution, tz=tz)


@st.cache_data(show_spinner=False, max_entries=64)
def q_valence(uri: str, version: str, _s: Settings, workers: tuple[str, ...], start: Any, end: Any,
              resolution: str, window: str, tz: str) -> pd.DataFrame:
    from core.timeline import queries

    return queries.smoothed_valence(_open_store(uri, _s), list(workers), start, end, resolution=resolution,
                                    window=window, tz=tz)


@st.cache_data(show_spinner=False, max_entries=64)
def q_distribution(uri: str, version: str, _s: Settings, workers: tuple[str, ...], start: Any, end: Any) -> pd.DataFrame:
    from core.timeline import queries

    return queries.label_distribution(_open_store(uri, _s), list(workers), start, end)


@st.cache_data(show_spinner=False, max_entries=64)
def q_heatmap(uri: str, version: str, _s: Settings, workers: tuple[str, ...], start: Any, end: Any,
              tz: str) -> pd.DataFrame:
    from core.timeline import queries

    return queries.weekday_hour_heatmap(_open_store(uri, _s), list(workers), start, end, tz=tz)


@st.cache_data(show_spinner=False, max_entries=16)
def q_rows(uri: str, version: str, _s: Settings, workers: tuple[str, ...] | None, start: Any, end: Any) -> pd.DataFrame:
    return _open_store(uri, _s).read(list(workers) if workers is not None else None, start, end)


def run_action(action, reload: bool = False) -> None:
    """Run a state-changing action; on success clear the caches (``reload``: also the models, after a settings
    change), keep its message for the next run and rerun; on a FaceDashError show it (nothing was changed)."""
    from core.errors import FaceDashError

    try:
        message = action()
    except FaceDashError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if reload:
        reload_everything()
    else:
        clear_data_caches()
    st.session_state["action_message"] = message
    st.rerun()


def flash() -> None:
    """Show (once) the message of the action that caused this rerun."""
    message = st.session_state.pop("action_message", None)
    if message:
        st.success(message, icon=":material/check_circle:")
