"""Account use-cases: the first admin, sign-in and sign-out, and managing users (add, password, role, disable).

Policies decided here: only ``users.manage`` may change accounts (the CLI's operator has it); an admin cannot
demote or disable the last active admin, nor themselves; every sign-in, failed sign-in (with the reason), sign-out,
role change and account change writes one audit line; a failed sign-in says only "wrong user name or password"
(never which), and a throttled one is refused before any password is checked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from core.audit import audit
from core.auth import passwords
from core.auth.accounts import Account, AccountError, AccountStore, check_username, now_iso
from core.auth.roles import Permission, check_role
from core.auth.setup import discard_setup_token, token_matches
from core.auth.throttle import SignInThrottle
from core.errors import FaceDashError
from core.services.access import require
from core.services.actor import Actor, Channel

log = logging.getLogger(__name__)
FAILED_SIGN_IN = "wrong user name or password"


class SignInError(FaceDashError):
    """Sign-in refused: wrong credentials, a disabled account, or too many failures (``wait_s`` > 0)."""

    http_status = 401

    def __init__(self, message: str, wait_s: float = 0.0) -> None:
        super().__init__(message)
        self.wait_s = wait_s


@dataclass(frozen=True)
class Session:
    """A signed-in person as a front-end keeps it: who, with which role, since when (monotonic seconds)."""

    username: str
    role: str
    signed_in_at: float
    via: Channel = "dashboard"
    provider: str = "accounts"

    @property
    def actor(self) -> Actor:
        return Actor.signed_in(self.username, self.role, self.via)


def needs_setup(settings) -> bool:
    """True while there is no account (the dashboard then shows only the first-admin setup)."""
    return AccountStore.from_settings(settings).is_empty()


def create_first_admin(settings, token: str, username: str, password: str, client: str = "") -> Actor:
    """With the one-time setup token, create the first admin account (once); returns the new admin as an actor."""
    if not token_matches(settings, token):
        audit(settings, "setup_admin", Actor("anonymous", "dashboard"), None, outcome="failed", client=client[:100],
              error="wrong, used or expired setup token")
        raise SignInError("the setup link is wrong, used or expired: run `python -m core users setup-link` on the "
                          "server for a new one")
    username = check_username(username)
    digest = passwords.hash_password(password, username)
    store = AccountStore.from_settings(settings)
    store.add(Account(username, "admin", digest, created_at=now_iso(), created_by="setup",
                      password_changed_at=now_iso()), only_if_empty=True)
    discard_setup_token(settings)
    admin = Actor.signed_in(username, "admin")
    audit(settings, "setup_admin", admin, username, client=client[:100])
    log.info("first admin %s created", username)
    return admin


def sign_in(settings, throttle: SignInThrottle, username: str, password: str, client: str,
            via: Channel = "dashboard", now: float = 0.0) -> Session:
    """Check the credentials; audited either way. SignInError (with ``wait_s`` when throttled) on failure."""
    name = (username or "").strip().lower()[:64]
    client = (client or "unknown")[:100]
    wait = throttle.wait_seconds(name, client)
    anonymous = Actor("anonymous", via)
    if wait > 0:
        audit(settings, "sign_in", anonymous, name or None, outcome="failed", client=client, error="throttled",
              wait_s=round(wait, 1))
        raise SignInError(f"too many failed sign-ins: try again in {math.ceil(wait)} s", wait_s=wait)
    account = AccountStore.from_settings(settings).get(name)
    ok = passwords.verify_password(account.password_hash if account else None, password)
    if not ok or account is None or account.disabled:
        reason = "unknown account" if account is None else ("disabled" if account.disabled and ok else "wrong password")
        throttle.failed(name, client)
        audit(settings, "sign_in", anonymous, name or None, outcome="failed", client=client, error=reason,
              failures=throttle.failures(name))
        raise SignInError(FAILED_SIGN_IN if reason != "disabled" else "this account is disabled: ask an admin")
    throttle.succeeded(name, client)
    if passwords.needs_rehash(account.password_hash):
        AccountStore.from_settings(settings).update(name, password_hash=passwords.hash_password(password, name))
    session = Session(name, account.role, now, via)
    audit(settings, "sign_in", session.actor, name, client=client)
    return session


def record_external_sign_in(settings, session: Session, client: str) -> None:
    """An identity provider signed the user in (OIDC): audit it like a built-in sign-in."""
    audit(settings, "sign_in", session.actor, session.username, client=(client or "unknown")[:100],
          provider=session.provider)


def sign_out(settings, actor: Actor, reason: str = "signed out") -> None:
    audit(settings, "sign_out", actor, actor.name, reason=reason[:100])


def current_role(settings, username: str) -> str | None:
    """The account's role now (None when it was removed or disabled): a session re-checks it on every page."""
    account = AccountStore.from_settings(settings).get(username)
    return None if account is None or account.disabled else account.role


# ------------------------------------------------------------------------------------------------ managing
def list_users(settings, actor: Actor) -> list[Account]:
    require(settings, actor, Permission.USERS, "list the accounts")
    return AccountStore.from_settings(settings).accounts()


def add_user(settings, actor: Actor, username: str, role: str, password: str) -> Account:
    require(settings, actor, Permission.USERS, "add accounts", username)
    username, role = check_username(username), check_role(role)
    digest = passwords.hash_password(password, username)
    account = AccountStore.from_settings(settings).add(Account(username, role, digest, created_at=now_iso(),
                                                               created_by=actor.name, password_changed_at=now_iso()))
    discard_setup_token(settings)  # an account exists: the first-admin link must not work any more
    audit(settings, "user_add", actor, username, role=role)
    return account


def change_own_password(settings, actor: Actor, current: str, new: str) -> Account:
    """A signed-in person changes their own password, proving the current one first (audited)."""
    account = AccountStore.from_settings(settings).get(actor.name)
    if account is None or not passwords.verify_password(account.password_hash, current):
        audit(settings, "user_password", actor, actor.name, outcome="failed", error="wrong current password")
        raise SignInError("the current password is wrong; nothing was changed")
    return _store_password(settings, actor, actor.name, new)


def set_password(settings, actor: Actor, username: str, password: str) -> Account:
    """An admin (or the operator) sets an account's password without knowing the old one."""
    require(settings, actor, Permission.USERS, "set other accounts' passwords", username)
    return _store_password(settings, actor, username, password)


def _store_password(settings, actor: Actor, username: str, password: str) -> Account:
    store = AccountStore.from_settings(settings)
    store.require(username)
    account = store.update(username, password_hash=passwords.hash_password(password, username),
                           password_changed_at=now_iso())
    audit(settings, "user_password", actor, username)
    return account


def _active_admins(store: AccountStore) -> list[str]:
    return [a.username for a in store.accounts() if a.role == "admin" and not a.disabled]


def set_role(settings, actor: Actor, username: str, role: str) -> Account:
    require(settings, actor, Permission.USERS, "change roles", username)
    role = check_role(role)
    store = AccountStore.from_settings(settings)
    before = store.require(username)
    if before.role == "admin" and role != "admin" and _active_admins(store) == [username]:
        raise AccountError(f"{username} is the last active admin: make another admin first")
    account = store.update(username, role=role)
    audit(settings, "user_role", actor, username, role=role, previous_role=before.role)
    return account


def set_disabled(settings, actor: Actor, username: str, disabled: bool) -> Account:
    require(settings, actor, Permission.USERS, "disable or enable accounts", username)
    store = AccountStore.from_settings(settings)
    before = store.require(username)
    if disabled and username == actor.name:
        raise AccountError("you cannot disable your own account")
    if disabled and before.role == "admin" and _active_admins(store) == [username]:
        raise AccountError(f"{username} is the last active admin: make another admin first")
    account = store.update(username, disabled=bool(disabled))
    audit(settings, "user_disable" if disabled else "user_enable", actor, username)
    return account
