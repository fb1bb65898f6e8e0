"""Settings for the dashboard: ``st.secrets`` -> ``FACEDASH_*`` environment variables -> core Settings.

Streamlit Community Cloud keeps deployment configuration in ``st.secrets`` (``.streamlit/secrets.toml`` locally).
Core reads its settings from ``FACEDASH_*`` environment variables, so this module copies the secrets there
*before* core's settings are loaded; there is one source of truth (core.config.Settings) and core never imports
Streamlit. An environment variable that is already set wins over a secret (so a local override still works).

Recognised secrets (see ``.streamlit/secrets.toml.example``):

- ``[facedash]`` table: any Settings field in lower case (``store_uri``, ``retention_days``, ``ice_servers`` ...)
  -> ``FACEDASH_<FIELD>``. Lists and tables are passed as JSON.
- top-level ``FACEDASH_*`` keys -> the same variable.
- ``[storage]`` table: credentials for the timeline store's fsspec backend, exported as given
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``,
  ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS`` ...).
- ``[gcp_service_account]`` table: a Google service-account key; written to a private temporary file whose path
  becomes ``GOOGLE_APPLICATION_CREDENTIALS`` (for ``gs://`` stores).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from core.config import ENV_PREFIX, Settings, get_settings

log = logging.getLogger(__name__)

#: benchmarks/bench_detectors.py's results: the measured choice of the live camera's detector (docs/detectors.md)
DETECTOR_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "detectors.json"

#: Credential variables the ``[storage]`` secrets table may set (anything else there is ignored with a warning).
STORAGE_VARIABLES = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
    "AWS_ENDPOINT_URL", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
}


def _plain(value):
    """st.secrets values are AttrDict-like mappings; turn them into plain dicts/lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _as_env_value(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def secrets_to_env(secrets: Mapping, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Compute (and apply to ``environ``) the variables the secrets define. Returns what was set.

    Variables already present in ``environ`` are left alone (the environment wins).
    """
    environ = os.environ if environ is None else environ
    secrets = _plain(secrets)
    wanted: dict[str, str] = {}
    for key, value in secrets.items():
        if key.upper().startswith(ENV_PREFIX) and not isinstance(value, dict):
            wanted[key.upper()] = _as_env_value(value)
    for key, value in (secrets.get("facedash") or {}).items():
        if key not in Settings.model_fields:
            log.warning("secrets [facedash].%s is not a setting; ignored", key)
            continue
        wanted[f"{ENV_PREFIX}{key.upper()}"] = _as_env_value(value)
    for key, value in (secrets.get("storage") or {}).items():
        if key.upper() not in STORAGE_VARIABLES:
            log.warning("secrets [storage].%s is not a known storage credential variable; ignored", key)
            continue
        wanted[key.upper()] = _as_env_value(value)
    account = secrets.get("gcp_service_account")
    if isinstance(account, dict) and "GOOGLE_APPLICATION_CREDENTIALS" not in environ:
        fd, path = tempfile.mkstemp(prefix="facedash-gcp-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(account, handle)
        os.chmod(path, 0o600)
        wanted["GOOGLE_APPLICATION_CREDENTIALS"] = path
    applied = {}
    for key, value in wanted.items():
        if key not in environ:
            environ[key] = value
            applied[key] = value
    return applied


def read_streamlit_secrets() -> dict:
    """``st.secrets`` as a plain dict, or ``{}`` when there is no secrets file (the normal local case)."""
    import streamlit as st

    try:
        return _plain(st.secrets.to_dict()) if len(st.secrets) else {}
    except Exception:  # no secrets.toml anywhere: Streamlit raises; that is fine, the env and defaults apply
        return {}


def apply_secrets() -> dict[str, str]:
    """Copy st.secrets into the environment once, before core settings are read. Returns the variables set."""
    applied = secrets_to_env(read_streamlit_secrets())
    if applied:
        log.info("settings from st.secrets: %s", ", ".join(sorted(applied)))
        get_settings.cache_clear()
    return applied


def current_settings() -> Settings:
    """The settings in force now (secrets applied first). Raises core.errors.ConfigError on a bad value."""
    apply_secrets()
    return get_settings()


def env_overridden(field: str) -> str | None:
    """The environment variable that fixes ``field`` (so a value saved on the Settings page would not apply)."""
    name = f"{ENV_PREFIX}{field.upper()}"
    return name if name in os.environ else None


def overrides_path() -> Path:
    from core.config import overrides_file

    return overrides_file()


def live_detector_note(settings: Settings, results: Path = DETECTOR_RESULTS) -> str:
    """One line for the Settings page: the live camera's detector, and whether it is the measured recommendation."""
    in_use = (f"Live camera detector: {settings.live_detector} on frames downscaled to {settings.live_detect_side} px "
              f"(photos, videos and the API use {settings.detector})")
    try:
        recommendation = json.loads(results.read_text())["recommendation"]
        chosen, numbers = recommendation["recommended"], recommendation["recommended_numbers"]
        measured = (f"{numbers['video_median_ms']:.0f} ms per frame on 2 cores, video recall "
                    f"{numbers['video_recall']:.2f}, {numbers['video_false_per_frame']:.2f} false boxes per frame")
    except (OSError, ValueError, KeyError, TypeError):
        return f"{in_use}; see docs/detectors.md."
    name, _, side = chosen.partition("@")
    if name == settings.live_detector and (not side or int(side) == settings.live_detect_side):
        return (f"{in_use}: the measured default, the best recall of the detectors fast enough for live video "
                f"({measured}; docs/detectors.md).")
    return f"{in_use}; the measured recommendation is {chosen} ({measured}; docs/detectors.md)."
