"""API-key use-cases: create (the key is shown once), revoke, list, and authenticate a request's key.

Policies: only ``api_keys.manage`` creates, revokes or lists keys; names are short printable text; an expiry lies
in the future; creation and revocation are audited (name, scopes, expiry; never the key). The old single
``FACEDASH_API_KEY`` is migrated into a key with every scope (audited once).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from core.audit import audit
from core.auth.api_keys import ApiKey, ApiKeyStore
from core.auth.roles import Permission, check_scopes
from core.errors import FaceDashError
from core.services.access import require
from core.services.actor import Actor
from core.services.limits import MAX_NAME, check_text

log = logging.getLogger(__name__)
MAX_EXPIRY_DAYS = 3650


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the key itself: shown to its creator once, stored nowhere


def create_key(settings, actor: Actor, name: str, scopes, expires_days: int | None = None) -> NewKey:
    require(settings, actor, Permission.API_KEYS, "create API keys")
    name = check_text("the key's name (who or what uses it)", name, MAX_NAME)
    scopes = check_scopes(scopes)
    expires = None
    if expires_days is not None:
        if isinstance(expires_days, bool) or not isinstance(expires_days, int) or not 1 <= expires_days <= MAX_EXPIRY_DAYS:
            raise FaceDashError(f"a key's lifetime is a whole number of days from 1 to {MAX_EXPIRY_DAYS} "
                                f"(got {expires_days!r})")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days)
    key, secret = ApiKeyStore.from_settings(settings).create(name, scopes, actor.name, expires)
    audit(settings, "api_key_create", actor, key.key_id, name=name, scopes=list(scopes), expires_at=key.expires_at)
    return NewKey(key, secret)


def revoke_key(settings, actor: Actor, key_id: str) -> ApiKey:
    require(settings, actor, Permission.API_KEYS, "revoke API keys")
    key = ApiKeyStore.from_settings(settings).revoke(str(key_id), actor.name)
    audit(settings, "api_key_revoke", actor, key.key_id, name=key.name)
    return key


def list_keys(settings, actor: Actor) -> list[ApiKey]:
    require(settings, actor, Permission.API_KEYS, "list API keys")
    return ApiKeyStore.from_settings(settings).keys()


def authenticate(settings, presented: str | None) -> tuple[ApiKey, Actor]:
    """The key a request presents and the actor it acts as; ApiKeyError (401) saying why not."""
    key = ApiKeyStore.from_settings(settings).authenticate(presented)
    return key, Actor.api_key(key.name, key.scopes)


def migrate_legacy_key(settings) -> ApiKey | None:
    """Turn ``FACEDASH_API_KEY`` into a stored key with every scope (once; audited)."""
    if settings.api_key is None:
        return None
    key = ApiKeyStore.from_settings(settings).import_legacy(settings.api_key.get_secret_value(), "system")
    if key is not None:
        audit(settings, "api_key_create", Actor.system("migration"), key.key_id, name=key.name,
              scopes=list(key.scopes), migrated_from="FACEDASH_API_KEY")
        log.warning("FACEDASH_API_KEY was migrated into API key %s with every scope; create keys with narrower "
                    "scopes (`python -m core keys create`) and unset it", key.key_id)
    return key
