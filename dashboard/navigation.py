"""The app's pages and sections for ``st.navigation`` (the router, streamlit_app.py, calls :func:`pages`).

The Live camera page (pages/live.py) is the default when it exists; otherwise Analyze upload.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
LIVE = "pages/live.py"
ANALYZE = "pages/analyze.py"

#: The page a new session opens on; None = Live camera when pages/live.py exists, else Analyze upload.
#: (Tests set it so that AppTest runs the router on the page under test without opening the camera page.)
START_PAGE: str | None = None

_PAGES = {
    "Capture": [
        (LIVE, "Live camera", ":material/videocam:"),
        (ANALYZE, "Analyze upload", ":material/upload_file:"),
    ],
    "People": [
        ("pages/workers.py", "Workers", ":material/badge:"),
        ("pages/history.py", "History", ":material/monitoring:"),
    ],
    "System": [
        ("pages/evaluation.py", "Model evaluation", ":material/analytics:"),
        ("pages/settings.py", "Settings and privacy", ":material/settings:"),
    ],
}


def start_page(root: Path = ROOT) -> str:
    if START_PAGE is not None:
        return START_PAGE
    return LIVE if (root / LIVE).is_file() else ANALYZE


def pages(root: Path = ROOT) -> dict[str, list]:
    """Sections of st.Page objects; pages whose file is missing (e.g. the live page) are left out."""
    default = start_page(root)
    out: dict[str, list] = {}
    for section, entries in _PAGES.items():
        present = [st.Page(path, title=title, icon=icon, default=path == default)
                   for path, title, icon in entries if (root / path).is_file()]
        if present:
            out[section] = present
    return out
