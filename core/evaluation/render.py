"""Notebook rendering of Plotly figures and their static PNG export (kaleido plus a Chrome/Chromium, probed once
per process): where static export works, each figure is saved both interactive and as a PNG, so the notebooks read
the same on GitHub; elsewhere they fall back to ``notebook_connected``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.fileio import atomic_write

log = logging.getLogger(__name__)


def configure_plotly_renderer(prefer_static: bool = True) -> str:
    """Pick the notebook renderer: a static PNG plus the interactive figure (``plotly_mimetype+png``) when kaleido
    can export here, which keeps notebooks small and readable where no JavaScript runs (GitHub); else
    ``notebook_connected`` (plotly.js loaded from the CDN when the notebook is opened)."""
    import plotly.io as pio

    renderer = "notebook_connected"
    if prefer_static and static_export_available():
        renderer = "plotly_mimetype+png"
        png = pio.renderers["png"]
        png.width, png.height, png.scale = 900, 520, 1
    pio.renderers.default = renderer
    log.info("plotly renderer: %s", renderer)
    return renderer


_STATIC_EXPORT: bool | None = None


def static_export_available(timeout_s: float = 60.0) -> bool:
    """True when plotly can write PNGs here (kaleido plus a Chrome/Chromium). Starts one export browser, reused.

    Checked once per process; a missing package or browser, or a browser that does not answer within
    ``timeout_s``, means False (the notebooks then use the interactive renderer only)."""
    global _STATIC_EXPORT
    if _STATIC_EXPORT is not None:
        return _STATIC_EXPORT
    _STATIC_EXPORT = False
    try:
        import kaleido
        from choreographer.browsers.chromium import Chromium
    except ImportError as exc:
        log.info("static plotly export unavailable here (%s)", exc)
        return False
    browser = Chromium.find_browser(skip_local=False)
    if not browser or not (Path(browser).is_file() and os.access(browser, os.X_OK)):
        log.info("static plotly export unavailable here: no Chrome/Chromium found (found %r)", browser)
        return False

    import atexit
    import threading
    import warnings

    import plotly.graph_objects as go
    import plotly.io as pio

    outcome: list[bool] = []

    def probe() -> None:
        try:
            warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
            kaleido.start_sync_server(silence_warnings=True)
            atexit.register(kaleido.stop_sync_server, silence_warnings=True)
            pio.to_image(go.Figure(), format="png", width=10, height=10)
            outcome.append(True)
        except Exception as exc:  # any failure of the export browser means "no static export here"
            log.info("static plotly export unavailable here (%s: %s)", type(exc).__name__, exc)

    worker = threading.Thread(target=probe, name="kaleido-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("static plotly export: %s did not answer within %.0f s; not using it", browser, timeout_s)
    _STATIC_EXPORT = bool(outcome)
    return _STATIC_EXPORT


def export_figures(figures: dict, folder: Path, width: int = 900, height: int = 520) -> list[Path]:
    """Write ``{name: figure}`` as ``<folder>/<name>.png`` (atomic); nothing, with a log line, without kaleido."""
    if not static_export_available():
        log.warning("not exporting %d figure(s): static export (kaleido + Chromium) is not available", len(figures))
        return []
    written = []
    for name, fig in figures.items():
        path = Path(folder) / f"{name}.png"
        atomic_write(path, fig.to_image(format="png", width=width, height=height, scale=1), mode=0o644)
        written.append(path)
    return written
