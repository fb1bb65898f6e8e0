"""Sign-in, roles and the admin pages through Streamlit's AppTest (the real router and pages, real accounts).

Role x page: every page is tried by every role. A page a role may not open is not registered with st.navigation
for it (AppTest.switch_page cannot find it, as a browser's address leads nowhere), and the page's own guard
refuses it when run directly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.roles import ROLES
from core.config import get_settings
from tests.accounts import PASSWORD, make_account, sign_in

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 180

#: page -> (title, the lowest role that may open it), as docs/security.md documents them.
PAGES = {
    "pages/live.py": ("Live camera", "manager"),
    "pages/analyze.py": ("Analyze an upload", "manager"),
    "pages/workers.py": ("Workers", "hr"),
    "pages/history.py": ("History", "viewer"),
    "pages/evaluation.py": ("Model evaluation", "viewer"),
    "pages/settings.py": ("Settings and privacy", "admin"),
    "pages/users.py": ("Users and API keys", "admin"),
    "pages/audit.py": ("Audit log", "admin"),
}


@pytest.fixture
def data_dir(app_data_dir, monkeypatch) -> Path:
    """conftest's ``app_data_dir``, the app opening on Analyze upload, and no real camera component."""
    from dashboard import navigation, webrtc

    monkeypatch.setattr(navigation, "START_PAGE", navigation.ANALYZE)
    # the camera component needs a browser: a stand-in that says "not playing" (tests/e2e drive the real one)
    monkeypatch.setattr(webrtc, "webrtc_streamer",
                        lambda **kw: SimpleNamespace(state=SimpleNamespace(playing=False, signalling=False)))
    return app_data_dir


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def audit(data_dir: Path, action: str) -> list[dict]:
    path = data_dir / "audit.log"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["action"] == action] if path.exists() else []


def fill_sign_in(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="signin_user").set_value(user)
    at.text_input(key="signin_password").set_value(password)
    at.button(key="FormSubmitter:sign_in-Sign in").click()
    return ok(at.run())


# ------------------------------------------------------------------------------------------------ role x page
@pytest.mark.parametrize("role", ROLES)
def test_role_page_matrix(data_dir, role, monkeypatch):
    """Each page opened through the router, as a browser opens its address, by each role."""
    from dashboard import navigation

    for path, (title, lowest) in PAGES.items():
        monkeypatch.setattr(navigation, "START_PAGE", path)
        at = ok(sign_in(app(), data_dir, f"{role}-1", role).run())
        if ROLES.index(role) >= ROLES.index(lowest):
            assert titles(at)[:1] == [title], (role, path, titles(at), [e.value for e in at.error])
        else:
            assert title not in titles(at), (role, path)
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(path)  # not registered for this role: its address leads nowhere


@pytest.mark.parametrize("path", [p for p, (_, lowest) in PAGES.items() if lowest != "viewer"])
def test_each_page_guards_itself(data_dir, path):
    """Run directly (not through the router's navigation), a page still refuses a role below its own."""
    at = sign_in(AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT), data_dir, "v-1", "viewer").run()
    ok(at)
    assert any("cannot open this page" in e.value for e in at.error), [e.value for e in at.error]
    assert titles(at) == []


def test_nothing_is_reachable_before_sign_in(data_dir):
    make_account(data_dir, "ada", "admin")
    at = ok(app().run())
    assert titles(at) == ["Sign in to FaceDash"]
    for path in PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(path)


# ------------------------------------------------------------------------------------------------ setup, sign-in
def test_first_admin_through_the_setup_link(data_dir):
    from core.auth.setup import issue_setup_token

    at = ok(app().run())
    assert titles(at) == ["Create the first admin"]  # no account: nothing else
    token = issue_setup_token(get_settings())
    at = app()
    at.query_params["setup"] = token
    ok(at.run())
    at.text_input(key="setup_user").set_value("ada")
    at.text_input(key="setup_password").set_value(PASSWORD)
    at.text_input(key="setup_again").set_value(PASSWORD)
    at.button(key="FormSubmitter:setup_admin-Create admin and sign in").click()
    ok(at.run())
    assert titles(at) == ["Analyze an upload"], [e.value for e in at.error]
    assert "setup" not in at.query_params  # the token left the address
    assert any("Signed in as **ada** (admin" in c.value for c in at.sidebar.caption)
    assert [(r["actor"], r["outcome"]) for r in audit(data_dir, "setup_admin")] == [("ada", "done")]
    again = app()
    again.query_params["setup"] = token
    assert titles(ok(again.run())) == ["Sign in to FaceDash"]  # used: an account exists, only sign-in is left


def test_wrong_password_then_throttled(data_dir):
    make_account(data_dir, "bob", "manager")
    at = ok(app().run())
    for attempt in range(5):
        fill_sign_in(at, "bob", f"not-the-password-{attempt}")
        assert any("wrong user name or password" in e.value for e in at.error), attempt
    fill_sign_in(at, "bob", PASSWORD)  # the right password, but the account is held now
    assert any("too many failed sign-ins: try again in" in e.value for e in at.error)
    assert titles(at) == ["Sign in to FaceDash"]
    failed = [r.get("error") for r in audit(data_dir, "sign_in")]
    assert failed == ["wrong password"] * 5 + ["throttled"]
    assert PASSWORD not in (data_dir / "audit.log").read_text()

    make_account(data_dir, "carol", "manager")
    fill_sign_in(ok(app().run()), "carol", PASSWORD)  # another account is not held
    assert [r["actor"] for r in audit(data_dir, "sign_in") if r["outcome"] == "done"] == ["carol"]


def resumed(session_state: dict) -> AppTest:
    """A new run of the router with a browser session's state (as the next page view of that session)."""
    at = app()
    for key, value in session_state.items():
        at.session_state[key] = value
    return ok(at.run())


def test_idle_session_is_signed_out(data_dir, monkeypatch):
    from dashboard.auth import LAST_SEEN_KEY, SESSION_KEY

    monkeypatch.setenv("FACEDASH_SESSION_IDLE_MINUTES", "10")
    get_settings.cache_clear()
    at = ok(sign_in(app(), data_dir, "dora", "manager").run())
    assert titles(at) == ["Analyze an upload"]
    session = at.session_state[SESSION_KEY]
    assert titles(resumed({SESSION_KEY: session, LAST_SEEN_KEY: time.monotonic() - 9 * 60})) == ["Analyze an upload"]
    idle = resumed({SESSION_KEY: session, LAST_SEEN_KEY: time.monotonic() - 11 * 60})
    assert titles(idle) == ["Sign in to FaceDash"]
    assert any("Signed out after 10 minutes without activity" in i.value for i in idle.info)
    assert [(r["actor"], r["reason"]) for r in audit(data_dir, "sign_out")] == [("dora", "idle timeout")]


def test_disabling_or_demoting_an_account_takes_effect_on_the_next_page(data_dir):
    from core.services import users
    from core.services.actor import Actor
    from dashboard import navigation
    from dashboard.auth import LAST_SEEN_KEY, SESSION_KEY

    navigation.START_PAGE = "pages/workers.py"
    at = ok(sign_in(app(), data_dir, "erin", "hr").run())
    assert titles(at) == ["Workers"]
    state = {SESSION_KEY: at.session_state[SESSION_KEY], LAST_SEEN_KEY: time.monotonic()}
    users.set_role(get_settings(), Actor.operator("root"), "erin", "viewer")
    assert titles(resumed(state)) == ["History"]  # Workers is gone from her navigation
    users.set_disabled(get_settings(), Actor.operator("root"), "erin", True)
    gone = resumed(state)
    assert titles(gone) == ["Sign in to FaceDash"] and any("disabled" in i.value for i in gone.info)
    assert audit(data_dir, "sign_out")[-1]["reason"] == "account disabled or removed"


# ------------------------------------------------------------------------------------------------ admin pages
def test_users_page_adds_an_account_and_shows_a_new_key_once(data_dir):
    at = ok(sign_in(app(), data_dir, "ada", "admin").run())
    ok(at.switch_page("pages/users.py").run())
    at.text_input(key="add_user_name").set_value("Frank")
    at.selectbox(key="add_user_role").set_value("viewer")
    at.text_input(key="add_user_password").set_value(PASSWORD)
    at.text_input(key="add_user_again").set_value(PASSWORD)
    at.button(key="FormSubmitter:add_account-Add account").click()
    ok(at.run())
    assert any("Added frank (viewer)" in s.value for s in at.success), [e.value for e in at.error]
    accounts = at.dataframe[0].value
    assert set(accounts["username"]) == {"ada", "frank"} and "password_hash" not in accounts.columns

    at.text_input(key="key_name").set_value("door-camera")
    at.multiselect(key="key_scopes").set_value(["identify"])
    at.button(key="FormSubmitter:create_key-Create key").click()
    ok(at.run())
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("fdk_")
    assert shown[0] not in (data_dir / "auth" / "api_keys.json").read_text()
    ok(at.run())
    assert not at.code  # shown once
    lines = audit(data_dir, "api_key_create")
    assert len(lines) == 1 and lines[0]["actor"] == "ada" and lines[0]["scopes"] == ["identify"]
    assert shown[0] not in (data_dir / "audit.log").read_text()
    at.button(key="revoke_button").click()
    ok(at.run())
    assert [r["actor"] for r in audit(data_dir, "api_key_revoke")] == ["ada"]


def test_audit_page_filters_and_its_export_is_audited(data_dir):
    from dashboard import navigation

    make_account(data_dir, "ada", "admin")
    fill_sign_in(ok(app().run()), "ada", "wrong-password-1")
    navigation.START_PAGE = "pages/audit.py"
    at = ok(sign_in(app(), data_dir, "ada", "admin").run())
    fill_sign_in(ok(app().run()), "ada", PASSWORD)
    table = at.dataframe[0].value
    assert titles(at) == ["Audit log"] and {"sign_in", "retention"} <= set(table["action"])
    at.selectbox(key="audit_outcome").set_value("failed")
    ok(at.run())
    failed = at.dataframe[0].value
    assert list(failed["action"]) == ["sign_in"] and list(failed["subject"]) == ["ada"]
    at.button(key="audit_export_prepare").click()
    ok(at.run())
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    assert [(r["actor"], r["rows"]) for r in audit(data_dir, "audit_export")] == [("ada", 1)]


def test_a_viewer_sees_team_charts_only(data_dir):
    from core.services import timeline
    from core.services.actor import Actor

    timeline.load_demo(get_settings(), Actor.operator("root"))  # four demo workers
    at = ok(sign_in(app(), data_dir, "vic", "viewer").run())
    assert titles(at) == ["History"]
    assert at.selectbox(key="hist_scope").options == ["Team (all workers)"]
    assert not at.get("download_button") and not [b for b in at.button if b.key == "hist_export_prepare"]
    manager = ok(sign_in(app(), data_dir, "max", "manager").run())
    ok(manager.switch_page("pages/history.py").run())
    assert len(manager.selectbox(key="hist_scope").options) == 5  # the team and each demo worker
    assert not [b for b in manager.button if b.key == "hist_export_prepare"]  # exports are HR's


# ------------------------------------------------------------------------------------------------ OIDC
AUTH_SECRETS = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-secret",
                "client_id": "facedash", "client_secret": "not-a-secret",
                "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}


@pytest.fixture
def oidc(data_dir, monkeypatch):
    monkeypatch.setenv("FACEDASH_AUTH_MODE", "oidc")
    monkeypatch.setenv("FACEDASH_OIDC_ROLES", '{"ada@corp.example": "admin", "@corp.example": "viewer"}')
    get_settings.cache_clear()
    return data_dir


def oidc_app(user: dict) -> AppTest:
    at = app()
    at.secrets["auth"] = AUTH_SECRETS
    at.user = user
    return ok(at.run())


def test_oidc_users_get_their_mapped_role(oidc):
    at = oidc_app({"is_logged_in": True, "email": "ada@corp.example", "email_verified": True})
    assert titles(at) == ["Analyze an upload"]
    assert any("Signed in as **ada@corp.example** (admin" in c.value for c in at.sidebar.caption)
    viewer = oidc_app({"is_logged_in": True, "email": "carl@corp.example"})
    assert titles(viewer) == ["History"]
    lines = audit(oidc, "sign_in")
    assert [(r["actor"], r["provider"]) for r in lines] == [("ada@corp.example", "oidc"), ("carl@corp.example", "oidc")]


def test_oidc_unmapped_or_signed_out_users_reach_nothing(oidc):
    stranger = oidc_app({"is_logged_in": True, "email": "eve@elsewhere.example"})
    assert titles(stranger) == ["No access"] and any("has no role" in e.value for e in stranger.error)
    signed_out = oidc_app({"is_logged_in": False})
    assert titles(signed_out) == ["Sign in to FaceDash"]
    assert [b.label for b in signed_out.button] == ["Sign in with your organisation's account"]


def test_oidc_without_auth_secrets_says_what_is_missing(oidc):
    at = app()
    at.user = {"is_logged_in": True, "email": "ada@corp.example"}
    ok(at.run())
    assert titles(at) == ["FaceDash cannot start"]
    assert any("no [auth] table" in e.value for e in at.error)
