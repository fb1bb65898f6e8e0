"""The live page's wording: figures of a :class:`core.live.LiveStats` snapshot as the page shows them.

The processing itself (frame slot, worker thread, analyzers, recorder, status file) lives in :mod:`core.live`;
:mod:`dashboard.webrtc` wires it to ``streamlit_webrtc`` and draws the page. This module is pure (no Streamlit
call), so the text is unit-tested without a server.
"""

from __future__ import annotations

from core.live.types import LiveStats

#: Where the models run, as the page's caption says it (``LiveStats.analysis_mode``).
MODEL_PLACES = {"process": "a separate process", "thread": "this process"}


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def describe(stats: LiveStats) -> dict[str, str]:
    """Human-readable figures for the page."""
    if not stats.recording:
        recording = "Recording paused: nothing is stored"
    else:
        recording = f"Recording: one row per worker every {stats.interval_s:g} s"
    return {
        "latency": _ms(stats.latency_ms),
        "latency_p95": _ms(stats.latency_p95_ms),
        "callback": "–" if stats.callback_p99_ms is None else f"{stats.callback_p99_ms:.1f} ms",
        "frames": f"{stats.received:,} received, {stats.analysed:,} analysed, {stats.dropped:,} dropped",
        "faces": ", ".join(stats.labels) if stats.labels else "no face in view",
        "recording": recording,
        "rows": f"{stats.rows_written:,} rows stored"
        + (f" (last {stats.last_write[11:19]} UTC)" if stats.last_write else ""),
        "models": f"models in {MODEL_PLACES.get(stats.analysis_mode, stats.analysis_mode)}",
        "identity_latency": _ms(stats.identity_latency_ms),
        "stages": stage_text(stats.stage_ms),
        "identified": f"{stats.identified_per_s:.1f} faces identified/s",
    }


#: How the page names the pipeline's stages (LiveStats.stage_ms keys), in the order a frame goes through them.
#: "embed" is not a stage of the frame: the identity process embeds the chips beside detection (core/live/identity.py).
STAGE_NAMES = {"wait": "turn", "detect": "detect", "identify": "face chips", "emotion": "emotion", "track": "track",
               "embed": "embedding (beside)"}


def stage_text(stage_ms: dict[str, float]) -> str:
    """``detect 6 ms · identify 0 ms · ...`` (medians over recent analysed frames), or a dash before any."""
    if not stage_ms:
        return "–"
    return " · ".join(f"{label} {stage_ms[key]:,.1f} ms" for key, label in STAGE_NAMES.items() if key in stage_ms)


__all__ = ["MODEL_PLACES", "STAGE_NAMES", "describe", "stage_text"]
