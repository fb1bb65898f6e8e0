"""Sign-in for the dashboard: the router calls :func:`gate`, which returns the signed-in actor or shows the
first-admin setup / sign-in page and stops. Pages call :func:`page_actor` with the permission they need.

Two ways, chosen by ``Settings.auth_mode`` (docs/security.md):

- ``accounts``: built-in accounts (core/auth/accounts.py). With no account yet, only the setup page is reachable,
  and it needs the one-time token of ``python -m core users setup-link`` (printed by ``make run``). Failed sign-ins
  are throttled per account and per client (core/auth/throttle.py). The password form clears itself.
- ``oidc``: Streamlit's ``st.login`` with the ``[auth]`` secrets; the role comes from ``Settings.oidc_roles``.

A session holds the account name and role; it is signed out after ``session_idle_minutes`` without a page run,
and it re-reads the account on every run (a disabled account or a changed role takes effect at once).
Every decision is a core service; this module only draws forms and keeps the session.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import streamlit as st

from core.auth import oidc
from core.auth.roles import ROLE_DESCRIPTIONS, Permission
from core.auth.throttle import SignInThrottle
from core.config import Settings
from core.errors import ConfigError, FaceDashError
from core.services import users
from core.services.actor import Actor
from core.services.users import Session

log = logging.getLogger(__name__)

SESSION_KEY = "facedash_session"
LAST_SEEN_KEY = "facedash_last_seen"
NOTICE_KEY = "facedash_signin_notice"


@st.cache_resource(show_spinner=False)
def throttle(free_attempts: int, base_delay_s: float) -> SignInThrottle:
    """One throttle per process (and setting): failures count across every browser session."""
    return SignInThrottle(free_attempts=free_attempts, base_delay_s=base_delay_s)


@st.cache_resource(show_spinner=False)
def _setup_link_logged(data_dir: str, _settings: Settings) -> bool:
    """With no account and no pending token: issue one and print the link on the server console (once per process)."""
    from core.auth.setup import SETUP_TOKEN_HOURS, issue_setup_token, pending_token_expiry, setup_link

    if pending_token_expiry(_settings) is None and _settings.setup_token is None:
        link = setup_link(_settings.public_url, issue_setup_token(_settings))
        log.warning("No account exists yet. Create the first admin at %s (valid %d h, once).", link, SETUP_TOKEN_HOURS)
    return True


def client_address() -> str:
    try:
        address = st.context.ip_address
    except Exception:  # no connection (AppTest)
        return "local"
    return address if isinstance(address, str) and address else "local"


def _end_session(settings: Settings, reason: str) -> None:
    session = st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(LAST_SEEN_KEY, None)
    if isinstance(session, Session):
        try:
            users.sign_out(settings, session.actor, reason)
        except FaceDashError as exc:
            log.warning("sign-out of %s could not be audited: %s", session.username, exc)


def current_actor(settings: Settings) -> Actor | None:
    """The signed-in actor, or None (never signed in, idle too long, account disabled or removed)."""
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, Session):
        return None
    now = time.monotonic()
    if now - st.session_state.get(LAST_SEEN_KEY, now) > settings.session_idle_minutes * 60:
        _end_session(settings, "idle timeout")
        st.session_state[NOTICE_KEY] = f"Signed out after {settings.session_idle_minutes} minutes without activity."
        return None
    if session.provider == "accounts":
        role = users.current_role(settings, session.username)
        if role is None:
            _end_session(settings, "account disabled or removed")
            st.session_state[NOTICE_KEY] = "Your account was disabled or removed."
            return None
        if role != session.role:
            session = Session(session.username, role, session.signed_in_at)
            st.session_state[SESSION_KEY] = session
    st.session_state[LAST_SEEN_KEY] = now
    return session.actor


def gate(settings: Settings) -> Actor:
    """The signed-in actor; otherwise the setup or sign-in page is shown and the run stops here."""
    if settings.auth_mode == "oidc":
        return _oidc_gate(settings)
    actor = current_actor(settings)
    if actor is not None:
        return actor
    if users.needs_setup(settings):
        _setup_link_logged(str(settings.data_dir), settings)
        _only_page(lambda: _setup_page(settings), "Create the first admin", ":material/admin_panel_settings:")
    _only_page(lambda: _sign_in_page(settings), "Sign in", ":material/login:")
    raise AssertionError("unreachable")  # _only_page stops the run


def _only_page(render, title: str, icon: str) -> None:
    """Show ``render`` whatever address was opened, and stop. It also answers at every page's address (hidden
    aliases): a link to /history opens the sign-in form there, with no "page not found", and once signed in the
    same address opens History (when the role may)."""
    from dashboard.navigation import PAGE_PERMISSIONS

    aliases = [st.Page(render, title=title, icon=icon, url_path=Path(path).stem) for path in PAGE_PERMISSIONS]
    st.navigation([st.Page(render, title=title, icon=icon, default=True), *aliases], position="hidden").run()
    st.stop()


def _start(settings: Settings, session: Session) -> None:
    st.session_state[SESSION_KEY] = session
    st.session_state[LAST_SEEN_KEY] = time.monotonic()
    st.session_state.pop(NOTICE_KEY, None)


def _sign_in_page(settings: Settings) -> None:
    st.title("Sign in to FaceDash")
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.info(notice, icon=":material/info:")
    with st.form("sign_in", clear_on_submit=True):
        username = st.text_input("User name", key="signin_user", autocomplete="username")
        password = st.text_input("Password", type="password", key="signin_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            session = users.sign_in(settings, throttle(settings.signin_free_attempts, settings.signin_base_delay_s),
                                    username, password,
                                    client_address(), now=time.monotonic())
        except FaceDashError as exc:
            st.error(str(exc), icon=":material/lock:")
            return
        _start(settings, session)
        st.rerun()
    st.caption("Workers' biometric and emotion data: every sign-in and action is recorded in the audit log. "
               "Forgot your password? An admin sets a new one (`python -m core users passwd NAME`).")


def _setup_page(settings: Settings) -> None:
    st.title("Create the first admin")
    token = st.query_params.get("setup", "")
    if not token:
        st.info("No account exists yet. Open the one-time setup link that the server printed when it started, or "
                "run `python -m core users setup-link` on the server for a new one.", icon=":material/key:")
        token = st.text_input("Setup token", type="password", key="setup_token")
    with st.form("setup_admin"):
        username = st.text_input("Admin user name", key="setup_user", placeholder="e.g. ada")
        password = st.text_input("Password", type="password", key="setup_password",
                                 help="At least 12 characters, not containing the user name.")
        again = st.text_input("Password again", type="password", key="setup_again")
        submitted = st.form_submit_button("Create admin and sign in", type="primary")
    if not submitted:
        return
    if password != again:
        st.error("The two passwords differ.", icon=":material/error:")
        return
    try:
        admin = users.create_first_admin(settings, token, username.strip().lower(), password, client_address())
    except FaceDashError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.query_params.clear()  # the token leaves the address bar (and the browser history's next entry)
    _start(settings, Session(admin.name, "admin", time.monotonic()))
    st.rerun()


def _oidc_gate(settings: Settings) -> Actor:
    from dashboard.settings import read_streamlit_secrets

    if "auth" not in read_streamlit_secrets():
        raise ConfigError("auth_mode is 'oidc' but the secrets (.streamlit/secrets.toml, or the app's secrets on "
                          "Community Cloud) have no [auth] table: add the identity provider there "
                          "(docs/security.md), or set auth_mode to 'accounts'")
    user = st.user
    if not user.is_logged_in:
        def login_page() -> None:
            st.title("Sign in to FaceDash")
            st.button("Sign in with your organisation's account", type="primary", key="oidc_login",
                      on_click=st.login, args=(settings.oidc_provider,) if settings.oidc_provider else ())
        _only_page(login_page, "Sign in", ":material/login:")
    info = user.to_dict()
    role = oidc.role_for(info, settings.oidc_roles)
    name = oidc.username_for(info)
    if role is None or not name:
        def no_access() -> None:
            st.title("No access")
            st.error(f"{name or 'This account'} has no role in FaceDash: ask an admin to add you to oidc_roles.",
                     icon=":material/block:")
            st.button("Sign out", on_click=st.logout, key="oidc_logout")
        _only_page(no_access, "No access", ":material/block:")
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, Session) or session.username != name or session.role != role:
        session = Session(name, str(role), time.monotonic(), provider="oidc")
        users.record_external_sign_in(settings, session, client_address())
        _start(settings, session)
    return session.actor


def account_box(settings: Settings, actor: Actor) -> None:
    """Sidebar: who is signed in, with which role, and the sign-out button."""
    st.caption(f"Signed in as **{actor.name}** ({actor.role}: {ROLE_DESCRIPTIONS.get(actor.role or '', '')})")
    if settings.auth_mode == "accounts":
        with st.popover("Change my password", icon=":material/password:"):
            _own_password_form(settings, actor)
    if st.button("Sign out", key="sign_out", icon=":material/logout:"):
        if settings.auth_mode == "oidc":
            _end_session(settings, "signed out")
            st.logout()
        _end_session(settings, "signed out")
        st.session_state[NOTICE_KEY] = "You are signed out."
        st.rerun()


def _own_password_form(settings: Settings, actor: Actor) -> None:
    with st.form("own_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password", key="own_current",
                                autocomplete="current-password")
        new = st.text_input("New password", type="password", key="own_new", autocomplete="new-password",
                            help="At least 12 characters, not containing your user name.")
        again = st.text_input("New password again", type="password", key="own_again", autocomplete="new-password")
        if not st.form_submit_button("Change password"):
            return
    if new != again:
        st.error("The two new passwords differ.", icon=":material/error:")
        return
    try:
        users.change_own_password(settings, actor, current, new)
    except FaceDashError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.success("Password changed.", icon=":material/check_circle:")


def page_actor(permission: Permission) -> Actor:
    """The signed-in actor, when they hold ``permission``; otherwise a refusal is shown and the page stops."""
    from dashboard import resources

    actor = current_actor(resources.settings())
    if actor is None:
        st.error("Sign in first.", icon=":material/lock:")
        st.stop()
    assert actor is not None
    if not actor.can(permission):
        st.error(f"Your role ({actor.role}) cannot open this page.", icon=":material/block:")
        st.stop()
    return actor
