"""Users and API keys (admins): accounts and roles, API keys with scopes (shown once), revocation."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import accounts, auth, resources

settings = resources.settings()
actor = auth.page_actor(Permission.USERS)
st.title("Users and API keys")
resources.flash()

st.subheader("Accounts")
names = accounts.accounts_table(settings, actor)
with st.expander("Add an account", icon=":material/person_add:"):
    accounts.add_account_form(settings, actor)
with st.expander("Change an account", icon=":material/manage_accounts:"):
    accounts.change_account_form(settings, actor, names)
if settings.auth_mode == "oidc":
    st.info("Sign-in uses the identity provider (auth_mode = oidc); roles come from the oidc_roles setting. The "
            "accounts above are used only with auth_mode = accounts.", icon=":material/info:")

st.subheader("API keys")
if actor.can(Permission.API_KEYS):
    accounts.keys_section(settings, actor)
