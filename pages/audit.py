"""Audit log (admins): every audited action, who did it through which front-end; filters and CSV export."""

import streamlit as st

from core.auth.roles import Permission
from dashboard import audit_view, auth, resources

settings = resources.settings()
actor = auth.page_actor(Permission.AUDIT)
st.title("Audit log")
st.caption("One line per action: sign-ins (also failed and throttled ones), enrollments, erasures, settings, "
           "exports, accounts and API keys. No biometric data is ever written here.")
audit_view.show(settings, actor)
