"""Test helpers for signed-in work: real accounts (argon2id hashes in the data folder's accounts file), API keys,
and a signed-in AppTest session (the same Session object the sign-in form stores)."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

PASSWORD = "correct-horse-battery-staple"


@lru_cache(maxsize=1)
def _hash() -> str:
    from core.auth.passwords import hash_password

    return hash_password(PASSWORD)


def make_account(data_dir: Path, username: str, role: str, disabled: bool = False):
    """An account with :data:`PASSWORD` in ``<data_dir>/auth`` (kept if it exists, its role set)."""
    from core.auth.accounts import Account, AccountStore

    store = AccountStore(Path(data_dir) / "auth")
    if store.get(username) is None:
        return store.add(Account(username, role, _hash(), disabled=disabled, created_by="pytest"))
    return store.update(username, role=role, disabled=disabled)


def sign_in(at, data_dir: Path, username: str = "test-admin", role: str = "admin"):
    """Put a signed-in session for ``username`` (created with ``role``) into an AppTest before it runs."""
    from core.services.users import Session
    from dashboard.auth import LAST_SEEN_KEY, SESSION_KEY

    make_account(data_dir, username, role)
    at.session_state[SESSION_KEY] = Session(username, role, time.monotonic())
    at.session_state[LAST_SEEN_KEY] = time.monotonic()
    return at


def make_key(data_dir: Path, name: str = "test-client", scopes=("identify", "analyze", "store", "workers:read",
                                                                 "workers:write"), expires_at=None) -> str:
    """A new API key (the key itself) in ``<data_dir>/auth``."""
    from core.auth.api_keys import ApiKeyStore

    return ApiKeyStore(Path(data_dir) / "auth").create(name, scopes, "pytest", expires_at)[1]
