"""One settings object for the whole engine.

Every field can be overridden by an environment variable with the prefix ``FACEDASH_`` (e.g.
``FACEDASH_DETECTOR=mtcnn``, ``FACEDASH_EMOTION_ENABLED=true``) or a ``.env`` file. The dashboard
additionally maps ``st.secrets`` onto the same variables (dashboard/settings.py), so there is one source
of truth. Secrets (storage credentials, TURN passwords) are never stored in the repository.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict, SettingsError

from core.errors import ConfigError
from core.fileio import atomic_write

ENV_PREFIX = "FACEDASH_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The command that inspects the stored files and repairs what it can (core/services/health.py).
REPAIR_COMMAND = "python -m core check --repair"
#: A saved settings file larger than this is refused unread (it holds a few dozen short values).
MAX_OVERRIDES_BYTES = 1 << 20
_IGNORE_OVERRIDES_FILE: ContextVar[bool] = ContextVar("facedash_ignore_overrides_file", default=False)

#: Purposes for which EU AI Act Art. 5(1)(f) allows emotion inference at a workplace.
EmotionPurpose = Literal["medical", "safety"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True, validate_default=True,
        allow_inf_nan=False,  # every number is finite: an infinite threshold would name every face
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # precedence: explicit arguments > environment > .env > <data_dir>/settings.json (saved by the dashboard's
        # settings page) > defaults
        if _IGNORE_OVERRIDES_FILE.get():
            return init_settings, env_settings, dotenv_settings, file_secret_settings
        return (init_settings, env_settings, dotenv_settings,
                InitSettingsSource(settings_cls, read_overrides()), file_secret_settings)

    # --- where data lives -------------------------------------------------------------------------
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Root folder for gallery, store, audit log.")
    gallery_dir: Path | None = Field(None, description="Enrolled workers; default <data_dir>/gallery.")
    store_uri: str | None = Field(
        None, description="Timeline store: a folder or an fsspec URI (s3://, gs://); default <data_dir>/timeline."
    )
    deepface_home: Path | None = Field(
        None, description="DeepFace looks for weights in <deepface_home>/.deepface/weights; default: $DEEPFACE_HOME or ~."
    )

    # --- backends ---------------------------------------------------------------------------------
    detector: str = Field("opencv", description="Face detector backend (see core.detectors registry).")
    recognition_model: str = Field(
        "auto", description="Embedding model: 'auto' (the strongest with weights present: Facenet512, else Dlib), "
        "'Dlib', 'Facenet512', 'ArcFace', 'VGG-Face', 'SFace' (all but Dlib download their weights)."
    )
    emotion_backend: str = Field(
        "auto", description="Emotion backend: 'auto' (own model if shipped, else fer), 'fer', 'deepface', 'own'."
    )
    distance_metric: Literal["cosine", "euclidean", "euclidean_l2"] = Field(
        "cosine", description="Distance between face embeddings (DeepFace's definitions)."
    )
    identity_threshold: float | None = Field(
        None, gt=0, description="Override of the identity threshold; else the gallery's calibrated value, else DeepFace's."
    )
    identity_template: Literal["nearest", "mean"] = Field(
        "mean", description="How a face is compared with a worker's enrollment photos: the nearest photo, or the "
        "mean of their vectors (measured on lfw-dev: docs/identity.md)."
    )
    identity_margin: float | None = Field(
        None, ge=0, description="A face whose two nearest workers' distances differ by less than this is left "
        "'unknown (ambiguous)'; unset = the model's calibrated default (docs/identity.md), 0 = off."
    )
    identity_vote_window: int = Field(
        5, ge=1, le=50, description="Video and live camera: a face is named by a vote over its last this many analysed "
        "frames (1 = decide on each frame alone)."
    )
    identity_vote_min: int = Field(
        3, ge=1, le=50, description="Votes a worker needs within the window before a video or live face is named "
        "(until then it shows as unknown and nothing is stored for a worker)."
    )

    # --- detection quality ------------------------------------------------------------------------
    detector_min_confidence: float = Field(
        0.9, ge=0, le=1, description="Faces below this detector confidence are ignored (detectors with calibrated scores)."
    )
    min_face_size: int = Field(40, ge=8, description="Smallest face side in pixels that is analysed.")
    enroll_min_face_size: int = Field(60, ge=8, description="Smallest face side accepted for enrollment photos.")
    enroll_min_sharpness: float = Field(
        15.0, ge=0, description="Minimum variance of the Laplacian of the face crop (blur gate) for enrollment."
    )
    enroll_max_yaw_degrees: float = Field(
        35.0, gt=0, le=90, description="Enrollment refuses faces turned further than this (yaw from 5 landmarks)."
    )

    # --- input limits -----------------------------------------------------------------------------
    max_image_pixels: int = Field(40_000_000, gt=0, description="Larger images are refused (decompression bombs).")
    max_upload_mb: int = Field(200, gt=0, description="Largest accepted upload (photo or video).")
    max_video_seconds: float = Field(600, gt=0, description="Longest accepted video (measured while decoding).")
    max_analysis_pixels: int = Field(
        4_000_000, ge=100_000, description="Larger images are searched for faces downscaled to this many pixels "
        "(boxes are still given in the image's own pixels): bounds the CPU time of one photo.")
    max_video_frame_pixels: int = Field(
        1920 * 1080, ge=100_000, description="Video frames larger than this are downscaled right after decoding "
        "(analysis, annotation and the annotated video).")
    max_request_seconds: float = Field(
        900, gt=0, description="A video analysis that runs longer than this stops with a clear error.")

    # --- privacy ----------------------------------------------------------------------------------
    emotion_enabled: bool = Field(False, description="Emotion inference is off unless enabled for a stated purpose.")
    emotion_purpose: EmotionPurpose | None = Field(None, description="Declared purpose: 'medical' or 'safety'.")
    emotion_purpose_text: str = Field("", description="The purpose in words, shown on every page that analyses faces.")
    retention_days: int = Field(365, ge=1, le=36_500, description="Timeline rows older than this are deleted.")
    emotion_smoothing_frames: int = Field(
        5, ge=1, le=50, description="Video and live camera: a face's emotion is the mean of its last this many "
        "analysed frames (1 = each frame alone)."
    )
    observation_interval_s: float = Field(5.0, gt=0, description="Live page: at most one stored row per worker per this.")

    # --- HTTP API ---------------------------------------------------------------------------------
    api_receive_timeout_s: float = Field(
        30, gt=0, le=3600, description="HTTP API: each part of a request body must arrive within this many seconds "
        "(slow clients are answered 408).")
    api_key: SecretStr | None = Field(
        None, description="Earlier versions' single API key: migrated into an API key with every scope when the "
        "API starts (prefer `python -m core keys create`)."
    )

    # --- sign-in and access (docs/security.md) -------------------------------------------------------
    auth_mode: Literal["accounts", "oidc"] = Field(
        "accounts", description="Dashboard sign-in: 'accounts' (built-in accounts, `python -m core users`) or "
        "'oidc' (Streamlit's st.login with the [auth] secrets; roles from oidc_roles).")
    oidc_provider: str | None = Field(
        None, description="OIDC: the provider's name under [auth.<name>] in the secrets (unset: the [auth] table).")
    oidc_roles: dict[str, Literal["viewer", "manager", "hr", "admin"]] = Field(
        default_factory=dict, description="OIDC: who gets which role, as JSON: an e-mail, '@domain' or "
        "'group:<name>' -> viewer|manager|hr|admin (an e-mail wins over a group, a group over a domain).")
    session_idle_minutes: int = Field(
        30, ge=1, le=1440, description="A dashboard session idle this long is signed out.")
    signin_free_attempts: int = Field(
        5, ge=1, le=100, description="Failed sign-ins allowed per account before each further try waits (2 s, "
        "doubling up to 15 min).")
    signin_base_delay_s: float = Field(
        2.0, ge=0.1, le=600, description="The first wait after the free failed sign-ins; it doubles with each further "
        "failure, up to 15 minutes.")
    setup_token: SecretStr | None = Field(
        None, description="One-time token for creating the first admin where nobody reads the console (a secret "
        "on Community Cloud); ignored once an account exists.")
    public_url: str = Field(
        "http://localhost:8501", description="The dashboard's address, for the first-admin setup link.")
    api_rate_limit_per_minute: int = Field(
        120, ge=1, le=100_000, description="HTTP API: requests per minute per key (bursts up to the same number); "
        "more are answered 429.")

    # --- live camera ------------------------------------------------------------------------------
    ice_servers: list[dict] = Field(default_factory=list, description="WebRTC ICE servers (TURN on Community Cloud).")
    live_analysis: Literal["process", "thread"] = Field(
        "process", description="Live page: run the models in a child process (default: the camera callback never "
        "waits for the GIL-heavy model calls) or in a thread of the dashboard process (lower memory)."
    )
    live_detector: str = Field(
        "blazeface", description="Live page: the face detector run on every analysed frame (see core.detectors; "
        "chosen by benchmarks/bench_detectors.py, docs/detectors.md). Photos, videos and the API use `detector`."
    )
    live_detect_side: int = Field(
        320, ge=96, le=4096, description="Live page: frames are downscaled so their longest side is at most this "
        "many pixels before detection (boxes are mapped back); faces are identified on the full frame."
    )
    live_identity_recheck_s: float = Field(
        3.0, ge=0.2, le=600, description="Live page: a face whose name is decided is identified again this often "
        "(seconds); new faces and faces whose vote is still open are identified on every analysed frame."
    )
    live_emotion_interval_s: float = Field(
        0.2, ge=0, le=60, description="Live page: each face's emotion is estimated at most this often (seconds; "
        "0 = every analysed frame); the shown emotion is the mean of its last estimates."
    )
    live_status_file: Path | None = Field(
        None, description="Live page: if set, the analysis worker writes its statistics here as JSON (tests, "
        "monitoring)."
    )

    # --- evaluation -------------------------------------------------------------------------------
    eval_data_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data", description="Read-only evaluation data sets (FER-2013, faces, "
        "videos): default ../shared/data next to the repository."
    )

    @field_validator("detector", "live_detector", "emotion_backend")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("ice_servers", "oidc_roles", mode="before")
    @classmethod
    def _parse_json(cls, value, info: ValidationInfo):
        if isinstance(value, str):
            return json.loads(value) if value.strip() else ([] if info.field_name == "ice_servers" else {})
        return value

    @model_validator(mode="after")
    def _vote_fits_window(self) -> Settings:
        if self.identity_vote_min > self.identity_vote_window:
            raise ValueError(
                f"identity_vote_min ({self.identity_vote_min}) cannot exceed identity_vote_window "
                f"({self.identity_vote_window})"
            )
        return self

    @model_validator(mode="after")
    def _purpose_required(self) -> Settings:
        if self.emotion_enabled and self.emotion_purpose is None:
            raise ValueError(
                "emotion_enabled=true needs emotion_purpose set to 'medical' or 'safety' "
                "(EU AI Act Art. 5(1)(f) bans emotion inference at work for any other purpose)"
            )
        return self

    # --- derived paths ----------------------------------------------------------------------------
    @property
    def gallery_path(self) -> Path:
        return self.gallery_dir or self.data_dir / "gallery"

    @property
    def timeline_uri(self) -> str:
        return self.store_uri or str(self.data_dir / "timeline")

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def auth_dir(self) -> Path:
        """Accounts, API keys (hashes only) and the first-admin setup token."""
        return self.data_dir / "auth"

    @property
    def evaluation_dir(self) -> Path:
        return self.data_dir / "evaluation"

    @property
    def deepface_weights_dir(self) -> Path:
        home = self.deepface_home or Path(os.environ.get("DEEPFACE_HOME", str(Path.home())))
        return home / ".deepface" / "weights"

    @property
    def emotion_active(self) -> bool:
        return self.emotion_enabled and self.emotion_purpose is not None


def overrides_file() -> Path:
    """The dashboard's saved settings: ``<data_dir>/settings.json`` (data_dir from the environment or default)."""
    return Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR", str(PROJECT_ROOT / "data"))) / "settings.json"


class SettingsFileError(ConfigError):
    """The saved settings file is corrupt or holds values Settings refuses; ``check --repair`` sets it aside."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{file_label(path)} is corrupt ({problem}): run `{REPAIR_COMMAND}` to set it aside "
                         "(the defaults then apply), or correct it")


def file_label(path: Path) -> str:
    """``path`` relative to the data folder where it lies inside it (as messages name stored files), else in full."""
    try:
        return Path(path).relative_to(overrides_file().parent).as_posix()
    except ValueError:
        return str(path)


def read_overrides(path: Path | None = None) -> dict[str, Any]:
    """The saved settings as a dict ({} when there is no file, or an empty one); SettingsFileError when the file
    cannot be read, is not JSON, or is not a JSON object."""
    path = path or overrides_file()
    try:
        if path.stat().st_size > MAX_OVERRIDES_BYTES:
            raise SettingsFileError(path, f"larger than {MAX_OVERRIDES_BYTES // (1 << 20)} MiB")
        text = path.read_bytes().decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except UnicodeDecodeError:
        raise SettingsFileError(path, "not UTF-8 text") from None
    except OSError as exc:
        raise SettingsFileError(path, f"unreadable: {exc.strerror or exc}") from None
    if not text.strip():
        return {}  # as pydantic-settings' JSON source did: an empty file means no saved settings
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise SettingsFileError(path, "not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise SettingsFileError(path, f"not a JSON object of settings but {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@contextmanager
def ignoring_overrides_file() -> Iterator[None]:
    """Build settings without the saved settings file inside this block (``check`` runs so when it is corrupt)."""
    token = _IGNORE_OVERRIDES_FILE.set(True)
    try:
        yield
    finally:
        _IGNORE_OVERRIDES_FILE.reset(token)


def overrides_file_problem() -> SettingsFileError | None:
    """What is wrong with the saved settings file, or None (also when there is none)."""
    try:
        load_settings()
    except SettingsFileError as exc:
        return exc
    except ConfigError:  # the environment is wrong as well: judge the file by itself
        try:
            read_overrides()
        except SettingsFileError as exc:
            return exc
    return None


def save_overrides(changes: dict, path: Path | None = None) -> Path:
    """Validate ``changes`` against Settings, then merge them into the overrides file atomically."""
    path = path or overrides_file()
    current = read_overrides(path)  # a corrupt file is a SettingsFileError: nothing is written then
    merged = {**current, **changes}
    load_settings(**merged)  # raises ConfigError naming the bad field; nothing is written then
    atomic_write(path, json.dumps(merged, indent=2, default=str))
    get_settings.cache_clear()
    return path


_SOURCE_FIELD = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def _parse_error(exc: SettingsError) -> ConfigError:
    """pydantic-settings could not decode a variable (a JSON-valued one such as FACEDASH_ICE_SERVERS)."""
    cause = exc.__cause__
    reason = (f"not valid JSON ({cause}); this setting takes a JSON value" if isinstance(cause, ValueError)
              else f"cannot be read ({cause or exc})")
    found = _SOURCE_FIELD.search(str(exc))
    if found is None:
        return ConfigError(f"bad configuration: {reason}")
    where = " (in .env)" if found["source"].startswith("DotEnv") else ""
    return ConfigError(f"bad configuration: {ENV_PREFIX}{found['field'].upper()}{where}: {reason}")


def _problems(exc: ValidationError) -> str:
    """Each error as the variable that sets the field (FACEDASH_RETENTION_DAYS: ...)."""
    return "; ".join(f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
                     for err in exc.errors())


def load_settings(**overrides) -> Settings:
    """Build settings from the environment plus explicit overrides; a bad value is one clear ConfigError.

    A bad saved settings file is a :class:`SettingsFileError` naming it (and the repair command); a bad
    environment variable names the variable."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        raise _parse_error(exc) from None
    except ValidationError as exc:
        error = exc
    if not _IGNORE_OVERRIDES_FILE.get() and (saved := read_overrides()):
        try:  # the saved file took part: if the settings are valid without it, the file is what is wrong
            with ignoring_overrides_file():
                Settings(**overrides)
        except ValidationError as exc:
            error = exc  # the environment or the arguments are wrong (name those first)
        except SettingsError as exc:
            raise _parse_error(exc) from None
        else:
            own = [err for err in error.errors() if err["loc"] and str(err["loc"][0]) in saved]
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
                                 for err in (own or error.errors()))
            raise SettingsFileError(overrides_file(), f"invalid values: {problems}") from None
    raise ConfigError(f"bad configuration: {_problems(error)}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
