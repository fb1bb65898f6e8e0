"""Accounts, passwords, throttling, the setup token and API keys (core/auth/), on real files in a temp folder."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from core.auth import oidc, passwords
from core.auth.accounts import Account, AccountError, AccountStore, AuthStoreError
from core.auth.api_keys import ApiKeyError, ApiKeyStore, RateLimiter
from core.auth.roles import ROLE_PERMISSIONS, ROLES, Permission, RoleError, check_scopes, scope_permissions
from core.auth.setup import issue_setup_token, token_matches
from core.auth.throttle import SignInThrottle
from core.config import load_settings
from core.services import users
from core.services.actor import Actor
from tests.accounts import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


def test_passwords_are_argon2id_and_checked_in_constant_form():
    digest = passwords.hash_password(PASSWORD)
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    assert passwords.verify_password(digest, PASSWORD)
    assert not passwords.verify_password(digest, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)  # unknown account: a dummy check, never True
    assert not passwords.verify_password("not-a-hash", PASSWORD)
    for bad, why in (("short", "at least 12"), ("x" * 300, "at most 256"), ("aaaaaaaaaaaaaaaa", "5 different"),
                     ("ada-lovelace-1815", "user name"), ("tab\tinside-password", "control")):
        assert why in (passwords.password_problem(bad, "ada") or ""), bad


def test_roles_are_cumulative_and_scopes_known():
    for lower, higher in zip(ROLES, ROLES[1:]):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]
    assert ROLE_PERMISSIONS["admin"] == frozenset(Permission)
    assert scope_permissions(["identify", "store"]) == {Permission.IDENTIFY, Permission.STORE}
    with pytest.raises(RoleError, match="unknown scope 'admin'"):
        check_scopes(["identify", "admin"])
    with pytest.raises(RoleError, match="at least one scope"):
        check_scopes([" "])


def test_accounts_file_is_private_atomic_and_refuses_duplicates(tmp_path):
    store = AccountStore(tmp_path)
    store.add(Account("ada", "admin", passwords.hash_password(PASSWORD)))
    with pytest.raises(AccountError, match="taken"):
        store.add(Account("ada", "viewer", "x"))
    with pytest.raises(AccountError, match="first-admin setup was done"):
        store.add(Account("bob", "admin", "x"), only_if_empty=True)
    with pytest.raises(AccountError, match="user name"):
        store.add(Account("Bad Name", "viewer", "x"))
    with pytest.raises(RoleError):
        store.update("ada", role="root")
    path = tmp_path / "accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text() and "$argon2id$" in path.read_text()
    path.write_text("{not json")
    with pytest.raises(AuthStoreError, match="accounts.json is corrupt"):
        store.get("ada")


def _add_many(folder: str, prefix: str) -> None:
    store = AccountStore(Path(folder))
    for n in range(15):
        store.add(Account(f"{prefix}{n}", "viewer", "hash"))


def test_concurrent_writers_lose_no_account(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add_many, args=(str(tmp_path), p)) for p in ("a", "b", "c")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    assert len(AccountStore(tmp_path).accounts()) == 45


def test_throttle_free_tries_then_doubling_delay_then_forgotten():
    clock = Clock()
    throttle = SignInThrottle(free_attempts=5, base_delay_s=2, max_delay_s=900, forget_after_s=3600, clock=clock)
    for _ in range(4):
        throttle.failed("ada", "10.0.0.1")
        assert throttle.wait_seconds("ada", "10.0.0.1") == 0
    throttle.failed("ada", "10.0.0.1")
    assert throttle.wait_seconds("ada", "10.0.0.1") == 2
    assert throttle.wait_seconds("ada", "10.9.9.9") == 2  # the account is held from every client
    clock.now += 2
    throttle.failed("ada", "10.0.0.1")
    assert throttle.wait_seconds("ada", "10.0.0.1") == 4
    for _ in range(20):
        throttle.failed("ada", "10.0.0.1")
    assert throttle.wait_seconds("ada", "10.0.0.1") == 900  # capped
    assert throttle.wait_seconds("bob", "10.0.0.2") == 0  # another account from another client is free
    clock.now += 900 + 3601
    assert throttle.wait_seconds("ada", "10.0.0.1") == 0
    throttle.failed("ada", "x")
    throttle.succeeded("ada", "x")
    assert throttle.failures("ada") == 0


def test_throttle_per_client_holds_a_spray_over_many_accounts():
    clock = Clock()
    throttle = SignInThrottle(free_attempts=5, client_free_attempts=20, clock=clock)
    for n in range(20):
        throttle.failed(f"user{n}", "10.6.6.6")
    assert throttle.wait_seconds("someone-else", "10.6.6.6") > 0
    assert throttle.wait_seconds("someone-else", "10.1.1.1") == 0


def test_setup_token_works_once_and_only_its_own(settings):
    token = issue_setup_token(settings)
    assert token not in (settings.auth_dir / "setup.json").read_text()
    assert token_matches(settings, token) and not token_matches(settings, token + "x")
    assert not token_matches(settings, token, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=25))  # expired
    with pytest.raises(users.SignInError, match="setup link"):
        users.create_first_admin(settings, "guess", "ada", PASSWORD)
    admin = users.create_first_admin(settings, token, "ada", PASSWORD)
    assert admin.role == "admin" and not users.needs_setup(settings)
    assert not (settings.auth_dir / "setup.json").exists()
    with pytest.raises(users.SignInError):
        users.create_first_admin(settings, token, "eve", PASSWORD)  # used
    second = issue_setup_token(settings)
    with pytest.raises(AccountError, match="first-admin setup was done"):
        users.create_first_admin(settings, second, "eve", PASSWORD)  # an account exists
    actions = [(r["action"], r["outcome"]) for r in map(json.loads, settings.audit_log_path.read_text().splitlines())]
    assert actions == [("setup_admin", "failed"), ("setup_admin", "done"), ("setup_admin", "failed")]


def test_sign_in_audits_success_failure_and_throttling(settings):
    users.add_user(settings, Actor.operator("root"), "ada", "hr", PASSWORD)
    throttle = SignInThrottle(free_attempts=3, clock=Clock())
    session = users.sign_in(settings, throttle, "Ada", PASSWORD, "10.0.0.5")
    assert (session.username, session.role) == ("ada", "hr")
    for _ in range(3):
        with pytest.raises(users.SignInError, match="wrong user name or password"):
            users.sign_in(settings, throttle, "ada", "wrong-password-123", "10.0.0.5")
    with pytest.raises(users.SignInError, match="try again in 2 s") as refused:
        users.sign_in(settings, throttle, "ada", PASSWORD, "10.0.0.5")  # the right password is not even checked
    assert refused.value.wait_s == 2
    with pytest.raises(users.SignInError, match="wrong user name or password"):
        users.sign_in(settings, throttle, "nobody", PASSWORD, "10.0.0.7")  # the same words for an unknown account
    users.set_disabled(settings, Actor.operator("root"), "ada", True)
    with pytest.raises(users.SignInError):
        users.sign_in(settings, SignInThrottle(), "ada", PASSWORD, "10.0.0.5")
    lines = [json.loads(x) for x in settings.audit_log_path.read_text().splitlines() if '"sign_in"' in x]
    assert [(r["outcome"], r.get("error")) for r in lines] == [
        ("done", None), ("failed", "wrong password"), ("failed", "wrong password"), ("failed", "wrong password"),
        ("failed", "throttled"), ("failed", "unknown account"), ("failed", "disabled")]
    assert lines[0]["actor"] == "ada" and lines[1]["actor"] == "anonymous" and lines[1]["subject"] == "ada"
    assert PASSWORD not in settings.audit_log_path.read_text() and "wrong-password-123" not in \
        settings.audit_log_path.read_text()


def test_the_last_admin_stays(settings):
    root = Actor.operator("root")
    users.add_user(settings, root, "ada", "admin", PASSWORD)
    with pytest.raises(AccountError, match="last active admin"):
        users.set_role(settings, root, "ada", "viewer")
    with pytest.raises(AccountError, match="your own account"):
        users.set_disabled(settings, Actor.signed_in("ada", "admin"), "ada", True)
    users.add_user(settings, root, "bob", "admin", PASSWORD)
    assert users.set_role(settings, root, "ada", "viewer").role == "viewer"


def test_api_keys_are_stored_as_hashes_with_scopes_expiry_and_revocation(tmp_path):
    store = ApiKeyStore(tmp_path)
    key, secret = store.create("door-camera", ["identify"], "ada")
    assert secret.startswith(f"fdk_{key.key_id}_") and secret not in (tmp_path / "api_keys.json").read_text()
    assert store.authenticate(secret).key_id == key.key_id
    for bad, why in ((None, "missing"), ("", "missing"), ("fdk_nope_x", "wrong"), (secret[:-1] + ("B" if secret[-1] != "B" else "C"), "wrong"),
                     ("x" * 5000, "wrong")):
        with pytest.raises(ApiKeyError, match=why):
            store.authenticate(bad)
    old, old_secret = store.create("batch", ["analyze"], "ada", dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    with pytest.raises(ApiKeyError, match="expired"):
        store.authenticate(old_secret, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    store.revoke(key.key_id, "ada")
    with pytest.raises(ApiKeyError, match="revoked"):
        store.authenticate(secret)
    assert [k.state() for k in store.keys()] == ["revoked", "active"]
    assert store.import_legacy("old-single-key", "system") is not None
    assert store.import_legacy("old-single-key", "system") is None  # once
    assert store.authenticate("old-single-key").scopes == ("identify", "analyze", "store", "workers:read",
                                                           "workers:write")


def test_rate_limiter_allows_a_burst_then_the_rate():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert all(limiter.acquire("k") == 0 for _ in range(60))
    assert limiter.acquire("k") == pytest.approx(1.0)
    assert limiter.acquire("other") == 0
    clock.now += 1
    assert limiter.acquire("k") == 0 and limiter.acquire("k") > 0


@pytest.mark.parametrize("user,role", [
    ({"email": "ada@corp.example", "email_verified": True}, "admin"),
    ({"email": "bob@corp.example", "groups": ["HR-Team", "x"]}, "hr"),
    ({"email": "carl@corp.example"}, "viewer"),
    ({"email": "eve@elsewhere.example"}, None),
    ({"email": "ada@corp.example", "email_verified": False}, None),
    ({}, None),
])
def test_identity_provider_users_get_roles_from_the_mapping(user, role):
    mapping = {"ada@corp.example": "admin", "group:hr-team": "hr", "@corp.example": "viewer", "x@y": "root"}
    assert oidc.role_for(user, mapping) == role


def test_settings_take_the_role_mapping_as_json(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDASH_OIDC_ROLES", '{"@corp.example": "viewer"}')
    assert load_settings(data_dir=tmp_path).oidc_roles == {"@corp.example": "viewer"}
    monkeypatch.setenv("FACEDASH_OIDC_ROLES", '{"@corp.example": "root"}')
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="OIDC_ROLES"):
        load_settings(data_dir=tmp_path)
    assert os.environ["FACEDASH_OIDC_ROLES"]


def test_people_change_their_own_password_only_with_the_current_one(settings):
    users.add_user(settings, Actor.operator("root"), "ada", "viewer", PASSWORD)
    ada = Actor.signed_in("ada", "viewer")
    with pytest.raises(users.SignInError, match="current password is wrong"):
        users.change_own_password(settings, ada, "not-it-at-all", "a-brand-new-passphrase")
    users.change_own_password(settings, ada, PASSWORD, "a-brand-new-passphrase")
    assert users.sign_in(settings, SignInThrottle(), "ada", "a-brand-new-passphrase", "x").role == "viewer"
    from core.services.access import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):  # without users.manage: not even for their own account
        users.set_password(settings, ada, "ada", "yet-another-passphrase")
    outcomes = [r["outcome"] for r in map(json.loads, settings.audit_log_path.read_text().splitlines())
                if r["action"] == "user_password"]
    assert outcomes == ["failed", "done"]
