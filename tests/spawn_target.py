"""A model-process stand-in for tests/test_live_parts.py: importable, light, reports what the child had to import."""

from __future__ import annotations

import sys


def report_main(conn, settings_values: dict) -> None:
    """Say whether the child re-ran the parent's main script (``__mp_main__``) and whether Streamlit got imported."""
    main = sys.modules.get("__mp_main__")
    conn.send(("ready", {"mp_main_file": getattr(main, "__file__", None), "streamlit": "streamlit" in sys.modules}))
    conn.close()
