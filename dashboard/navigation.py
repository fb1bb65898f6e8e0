"""The app's pages and sections for ``st.navigation`` (the router, streamlit_app.py, calls :func:`pages`).

Each page names the permission it needs (core/auth/roles.py); a signed-in role sees only the pages it may open
(the others are not in the navigation, so their addresses lead nowhere), and each page checks again
(:func:`dashboard.auth.page_actor`). The start page is the first one the role may open, in this order: Live camera
(when pages/live.py exists), Analyze upload, History.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.auth.roles import Permission
from core.services.actor import Actor

ROOT = Path(__file__).resolve().parent.parent
LIVE = "pages/live.py"
ANALYZE = "pages/analyze.py"
HISTORY = "pages/history.py"

#: The page a new session opens on; None = the first of START_ORDER the role may open.
#: (Tests set it so that AppTest runs the router on the page under test without opening the camera page.)
START_PAGE: str | None = None
START_ORDER = (LIVE, ANALYZE, HISTORY)

P = Permission
_PAGES: dict[str, list[tuple[str, str, str, Permission]]] = {
    "Capture": [
        (LIVE, "Live camera", ":material/videocam:", P.LIVE),
        (ANALYZE, "Analyze upload", ":material/upload_file:", P.ANALYZE),
    ],
    "People": [
        ("pages/workers.py", "Workers", ":material/badge:", P.WORKERS_WRITE),
        (HISTORY, "History", ":material/monitoring:", P.TEAM_HISTORY),
    ],
    "System": [
        ("pages/evaluation.py", "Model evaluation", ":material/analytics:", P.EVALUATION),
        ("pages/settings.py", "Settings and privacy", ":material/settings:", P.SETTINGS),
        ("pages/users.py", "Users and API keys", ":material/group:", P.USERS),
        ("pages/audit.py", "Audit log", ":material/policy:", P.AUDIT),
    ],
}
PAGE_PERMISSIONS: dict[str, Permission] = {path: perm for entries in _PAGES.values() for path, _, _, perm in entries}


def allowed_paths(actor: Actor, root: Path = ROOT) -> list[str]:
    """The page files ``actor`` may open (and that exist), in navigation order."""
    return [path for entries in _PAGES.values() for path, _, _, perm in entries
            if actor.can(perm) and (root / path).is_file()]


def start_page(actor: Actor, root: Path = ROOT) -> str | None:
    allowed = allowed_paths(actor, root)
    if START_PAGE is not None and START_PAGE in allowed:
        return START_PAGE
    return next((path for path in START_ORDER if path in allowed), allowed[0] if allowed else None)


def pages(actor: Actor, root: Path = ROOT) -> dict[str, list]:
    """Sections of st.Page objects the actor may open; pages whose file is missing (e.g. the live page) are left
    out."""
    default = start_page(actor, root)
    allowed = set(allowed_paths(actor, root))
    out: dict[str, list] = {}
    for section, entries in _PAGES.items():
        present = [st.Page(path, title=title, icon=icon, default=path == default)
                   for path, title, icon, _ in entries if path in allowed]
        if present:
            out[section] = present
    return out
