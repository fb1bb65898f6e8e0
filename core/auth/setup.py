"""The first admin: with no account yet, nothing is reachable but a setup page that needs a one-time token.

``issue_setup_token`` makes a random token (shown once: the console prints it as a link, ``make run`` does so
before the app starts) and keeps only its SHA-256 in ``<data_dir>/auth/setup.json``; the token works once, for
``SETUP_TOKEN_HOURS``, and only while there is no account. On Streamlit Community Cloud, where nobody reads the
console first, the ``setup_token`` secret can serve instead. There is no default password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from core.errors import FaceDashError
from core.fileio import atomic_write

FILE_NAME = "setup.json"
SETUP_TOKEN_HOURS = 24


class SetupTokenError(FaceDashError):
    """The setup token is missing, wrong, used or expired."""

    http_status = 401


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def setup_file(settings) -> Path:
    return Path(settings.auth_dir) / FILE_NAME


def issue_setup_token(settings, now: dt.datetime | None = None) -> str:
    """A new one-time token (any earlier one stops working); the caller shows it once."""
    now = now or dt.datetime.now(dt.UTC)
    token = secrets.token_urlsafe(24)
    record = {"sha256": _digest(token).hex(), "created_at": now.isoformat(timespec="seconds"),
              "expires_at": (now + dt.timedelta(hours=SETUP_TOKEN_HOURS)).isoformat(timespec="seconds")}
    atomic_write(setup_file(settings), json.dumps(record), mode=0o600)
    return token


def pending_token_expiry(settings, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the issued token expires, or None when there is no usable one."""
    try:
        record = json.loads(setup_file(settings).read_text())
        expires = dt.datetime.fromisoformat(record["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return expires if expires > (now or dt.datetime.now(dt.UTC)) else None


def token_matches(settings, token: str, now: dt.datetime | None = None) -> bool:
    """True when ``token`` is the issued, unexpired token or the configured ``setup_token`` secret."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    given = _digest(token)
    configured = getattr(settings, "setup_token", None)
    if configured is not None and hmac.compare_digest(given, _digest(configured.get_secret_value())):
        return True
    if pending_token_expiry(settings, now) is None:
        return False
    try:
        stored = bytes.fromhex(json.loads(setup_file(settings).read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return hmac.compare_digest(given, stored)


def discard_setup_token(settings) -> None:
    setup_file(settings).unlink(missing_ok=True)


def setup_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/?setup={token}"
