"""API keys for the HTTP API: random, shown once, stored only as a SHA-256 hash, with scopes and an optional expiry.

A key reads ``fdk_<id>_<secret>``: the id finds the record, the secret (32 random bytes) is compared by hash in
constant time. A random 256-bit secret needs no slow hash (nothing to guess); passwords do (core.auth.passwords).
``<data_dir>/auth/api_keys.json`` keeps id, name, scopes, dates and the hash; revoked keys stay listed (the audit
trail names them) but never authenticate again. The single ``FACEDASH_API_KEY`` setting of earlier versions is
migrated into one such key (all scopes, named ``FACEDASH_API_KEY``) the first time the API starts with it set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.auth.accounts import AuthStoreError, JsonRecords, now_iso
from core.auth.roles import SCOPES, check_scopes
from core.errors import FaceDashError

FILE_NAME = "api_keys.json"
KEY_PREFIX = "fdk_"
LEGACY_ID = "legacy-env"
MAX_KEY_LENGTH = 200


class ApiKeyError(FaceDashError):
    """No key, an unknown key, a revoked or expired one (HTTP 401)."""

    http_status = 401


class UnknownKeyError(FaceDashError):
    http_status = 404


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    sha256: str
    created_at: str
    created_by: str
    expires_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None

    def state(self, now: dt.datetime | None = None) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and dt.datetime.fromisoformat(self.expires_at) <= (now or dt.datetime.now(dt.UTC)):
            return "expired"
        return "active"

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("sha256")
        out["scopes"] = list(self.scopes)
        out["state"] = self.state()
        return out


class ApiKeyStore:
    def __init__(self, folder: Path) -> None:
        self.records = JsonRecords(Path(folder) / FILE_NAME, "keys")

    @classmethod
    def from_settings(cls, settings) -> ApiKeyStore:
        return cls(settings.auth_dir)

    @staticmethod
    def _key(key_id: str, record: dict) -> ApiKey:
        try:
            return ApiKey(key_id=key_id, name=str(record["name"]), scopes=tuple(record["scopes"]),
                          sha256=str(record["sha256"]), created_at=str(record["created_at"]),
                          created_by=str(record.get("created_by", "")), expires_at=record.get("expires_at"),
                          revoked_at=record.get("revoked_at"), revoked_by=record.get("revoked_by"))
        except (KeyError, TypeError) as exc:
            raise AuthStoreError(f"{FILE_NAME}: key {key_id!r} is corrupt ({exc}); restore it from a backup") from None

    def keys(self) -> list[ApiKey]:
        return [self._key(k, r) for k, r in sorted(self.records.read().items(), key=lambda kv: kv[1].get("created_at", ""))]

    def get(self, key_id: str) -> ApiKey:
        record = self.records.read().get(key_id)
        if record is None:
            raise UnknownKeyError(f"there is no API key with id {str(key_id)[:40]!r}")
        return self._key(key_id, record)

    def _put(self, key: ApiKey, must_be_new: bool) -> ApiKey:
        def edit(records: dict[str, dict]) -> ApiKey:
            if must_be_new and key.key_id in records:
                raise AuthStoreError(f"API key id {key.key_id} exists already")
            record = asdict(key)
            record.pop("key_id")
            record["scopes"] = list(key.scopes)
            records[key.key_id] = record
            return key

        return self.records.change(edit)

    def create(self, name: str, scopes, created_by: str, expires_at: dt.datetime | None = None) -> tuple[ApiKey, str]:
        """A new key; returns the record and the key itself (the only time it exists in clear)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        plain = f"{KEY_PREFIX}{key_id}_{secret}"
        key = ApiKey(key_id, name, check_scopes(scopes), _digest(plain), now_iso(), created_by,
                     expires_at.astimezone(dt.UTC).isoformat(timespec="seconds") if expires_at else None)
        return self._put(key, must_be_new=True), plain

    def import_legacy(self, plain: str, created_by: str) -> ApiKey | None:
        """Keep the old single key working as a key with every scope; None when it is already imported."""
        digest = _digest(plain)
        existing = self.records.read().get(LEGACY_ID)
        if existing is not None and existing.get("sha256") == digest:
            return None
        key = ApiKey(LEGACY_ID, "FACEDASH_API_KEY", tuple(SCOPES), digest, now_iso(), created_by)
        return self._put(key, must_be_new=False)

    def revoke(self, key_id: str, revoked_by: str) -> ApiKey:
        key = self.get(key_id)
        if key.revoked_at:
            return key
        return self._put(replace(key, revoked_at=now_iso(), revoked_by=revoked_by), must_be_new=False)

    def authenticate(self, presented: str | None, now: dt.datetime | None = None) -> ApiKey:
        """The active key matching ``presented``; ApiKeyError saying why not (missing, unknown, revoked, expired)."""
        if not presented:
            raise ApiKeyError("missing X-API-Key header")
        if len(presented) > MAX_KEY_LENGTH:
            raise ApiKeyError("wrong API key")
        records = self.records.read()
        digest = _digest(presented)
        candidates = []
        if presented.startswith(KEY_PREFIX) and presented.count("_") >= 2:
            key_id = presented[len(KEY_PREFIX):].split("_", 1)[0]
            if key_id in records:
                candidates.append(key_id)
        if LEGACY_ID in records:
            candidates.append(LEGACY_ID)
        for key_id in candidates:
            key = self._key(key_id, records[key_id])
            if hmac.compare_digest(digest, key.sha256):
                state = key.state(now)
                if state == "revoked":
                    raise ApiKeyError(f"this API key ({key.name}) was revoked on {key.revoked_at}")
                if state == "expired":
                    raise ApiKeyError(f"this API key ({key.name}) expired on {key.expires_at}")
                return key
        raise ApiKeyError("wrong API key")


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute on average, bursts up to the same number."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> float:
        """0 when the request may go ahead (one token taken), else the seconds until the next token."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate
