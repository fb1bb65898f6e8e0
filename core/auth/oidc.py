"""Users signed in through an identity provider (Streamlit's ``st.login`` / OIDC) get a role from a mapping.

``Settings.oidc_roles`` maps who to a role, most specific first::

    {"ada@example.com": "admin", "group:hr-team": "hr", "@example.com": "viewer"}

- an exact e-mail address wins;
- else the highest role among the user's groups (the ``groups`` claim, where the provider sends one);
- else the e-mail's domain (``@example.com``).
A user who matches nothing, or whose provider says the e-mail is not verified, gets no role: no access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.auth.roles import ROLES


def role_for(user: Mapping[str, Any], mapping: Mapping[str, str]) -> str | None:
    email = str(user.get("email") or "").strip().lower()
    if not email or user.get("email_verified") is False:
        return None
    table = {str(k).strip().lower(): v for k, v in mapping.items() if v in ROLES}
    if email in table:
        return table[email]
    groups = user.get("groups") or []
    if isinstance(groups, str):
        groups = [groups]
    found = [table[f"group:{str(g).strip().lower()}"] for g in groups if f"group:{str(g).strip().lower()}" in table]
    if found:
        return max(found, key=ROLES.index)
    domain = "@" + email.rsplit("@", 1)[-1] if "@" in email else None
    return table.get(domain) if domain else None


def username_for(user: Mapping[str, Any]) -> str:
    """The audit log's actor for an identity-provider user: the e-mail address."""
    return str(user.get("email") or "").strip().lower()
