"""Users and API keys page: accounts (add, role, password, disable) and API keys (create, shown once; revoke).

Each form calls a service (core/services/users.py, core/services/keys.py), which checks the admin's permission and
writes the audit line; this module only draws the forms and tables.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.auth.roles import ROLE_DESCRIPTIONS, ROLES, SCOPES
from core.config import Settings
from core.errors import FaceDashError
from core.services import keys, users
from core.services.actor import Actor
from dashboard import resources

NEW_KEY = "accounts_new_key"


def accounts_table(settings: Settings, actor: Actor) -> list[str]:
    """The accounts as a table; returns their names."""
    found = users.list_users(settings, actor)
    st.dataframe(pd.DataFrame([{**a.public(), "state": "disabled" if a.disabled else "active"} for a in found],
                              columns=["username", "role", "state", "created_at", "created_by",
                                       "password_changed_at"]), hide_index=True)
    st.caption(" · ".join(f"**{role}**: {ROLE_DESCRIPTIONS[role]}" for role in ROLES) + " (each role includes "
               "the ones before it; docs/security.md has the full matrix)")
    return [a.username for a in found]


def add_account_form(settings: Settings, actor: Actor) -> None:
    with st.form("add_account", clear_on_submit=True):
        c1, c2 = st.columns(2)
        username = c1.text_input("User name", key="add_user_name")
        role = c2.selectbox("Role", ROLES, key="add_user_role")
        password = c1.text_input("Password", type="password", key="add_user_password",
                                 help="At least 12 characters; tell it to the person, who can change it.")
        again = c2.text_input("Password again", type="password", key="add_user_again")
        if st.form_submit_button("Add account", type="primary"):
            if password != again:
                st.error("The two passwords differ.", icon=":material/error:")
            else:
                resources.run_action(lambda: _added(users.add_user(settings, actor, username.strip().lower(), role,
                                                                   password)))


def _added(account) -> str:
    return f"Added {account.username} ({account.role})."


def change_account_form(settings: Settings, actor: Actor, names: list[str]) -> None:
    if not names:
        return
    with st.form("change_account"):
        c1, c2, c3 = st.columns([2, 1, 2])
        who = c1.selectbox("Account", names, key="change_user")
        role = c2.selectbox("Role", ROLES, key="change_role")
        password = c3.text_input("New password (optional)", type="password", key="change_password")
        b1, b2, b3, b4 = st.columns(4)
        if b1.form_submit_button("Set role"):
            resources.run_action(lambda: f"{who} is now {users.set_role(settings, actor, who, role).role}.")
        if b2.form_submit_button("Set password"):
            resources.run_action(lambda: f"Password of {users.set_password(settings, actor, who, password).username} "
                                         "changed.")
        if b3.form_submit_button("Disable"):
            resources.run_action(lambda: f"{users.set_disabled(settings, actor, who, True).username} is disabled.")
        if b4.form_submit_button("Enable"):
            resources.run_action(lambda: f"{users.set_disabled(settings, actor, who, False).username} is enabled.")


def keys_section(settings: Settings, actor: Actor) -> None:
    new = st.session_state.pop(NEW_KEY, None)
    if new:
        st.warning("Copy the new key now: it is stored only as a hash and cannot be shown again.",
                   icon=":material/key:")
        st.code(new, language=None)
    found = keys.list_keys(settings, actor)
    st.dataframe(pd.DataFrame([k.public() for k in found], columns=["key_id", "name", "scopes", "state",
                                                                      "created_at", "created_by", "expires_at",
                                                                      "revoked_at", "revoked_by"]),
                 hide_index=True)
    with st.form("create_key", clear_on_submit=True):
        c1, c2, c3 = st.columns([2, 3, 1])
        name = c1.text_input("Name (who or what uses it)", key="key_name")
        scopes = c2.multiselect("Scopes", list(SCOPES), key="key_scopes")
        days = c3.number_input("Expires in days (0 = never)", 0, 3650, 90, key="key_days")
        if st.form_submit_button("Create key", type="primary"):
            try:
                created = keys.create_key(settings, actor, name, scopes, int(days) or None)
            except FaceDashError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.session_state[NEW_KEY] = created.secret
                st.rerun()
    active = [k.key_id for k in found if k.state() == "active"]
    if active:
        c1, c2 = st.columns([2, 1])
        target = c1.selectbox("Revoke key", active, key="revoke_key",
                              format_func=lambda i: f"{i} ({next(k.name for k in found if k.key_id == i)})")
        if c2.button("Revoke", key="revoke_button", icon=":material/block:"):
            resources.run_action(lambda: f"Revoked {keys.revoke_key(settings, actor, target).key_id}.")
