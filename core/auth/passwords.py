"""Passwords: argon2id (memory-hard) hashes, never the password itself; one set of rules for every front-end.

The hasher uses argon2-cffi's defaults (RFC 9106 "low memory" profile: 64 MiB, 3 passes, 4 lanes), about 50 ms
per check on this 2-core machine: cheap for a person signing in, expensive for someone guessing offline.
Verification is constant-time in the password; an unknown account is checked against a dummy hash so that the
answer takes as long as for a real one (no account enumeration by timing).
"""

from __future__ import annotations

from functools import lru_cache

from core.errors import FaceDashError

MIN_LENGTH = 12
MAX_LENGTH = 256  # long enough for any passphrase; bounds the hashing work a request can ask for


class PasswordError(FaceDashError):
    """A new password breaks the rules (too short, too long, the user name, control characters)."""


@lru_cache(maxsize=1)
def _hasher():
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not-a-password-of-anyone")


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be used, or None."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "a password may not contain control characters"
    if username and username.lower() in password.lower():
        return "a password may not contain the user name"
    if len(set(password)) < 5:
        return "a password needs at least 5 different characters"
    return None


def hash_password(password: str, username: str = "") -> str:
    problem = password_problem(password, username)
    if problem:
        raise PasswordError(problem)
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; with ``stored_hash=None`` a dummy check of equal cost."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        password = ""
    try:
        return _hasher().verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with older parameters (rehash it at the next successful sign-in)."""
    return _hasher().check_needs_rehash(stored_hash)
