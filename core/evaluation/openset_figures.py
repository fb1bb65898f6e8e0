"""Tables and Plotly figures of an open-set identification report (``benchmarks/bench_identity.py`` output, also
copied to ``data/evaluation/openset_lfw.json``), shared by the evaluation notebook and the dashboard.

A report holds ``results``: one entry per embedding path (``crop``: before alignment, ``chip``: today), metric,
template, enrollment photos and margin rule, each with a ``calibration`` and a ``heldout`` summary (core/openset.py).
Entries for the shipped configuration also carry the DIR-FAR ``curve`` and the held-out distance lists.
"""

from __future__ import annotations

import numpy as np

PATH_NAMES = {"crop": "before: DeepFace Dlib on the detector's crop", "chip": "now: dlib 5-landmark chip"}


def comparison_rows(report: dict) -> list[dict]:
    """One row per configuration, held-out figures (what the README and the note quote)."""
    rows = []
    for r in report["results"]:
        h = r["heldout"]
        rows.append({"embedding": r["path"], "metric": r["metric"], "template": r["template"],
                     "enrollment photos": r["enroll_photos"], "margin rule": bool(r.get("margin_rule", r["margin"] > 0)),
                     "rank-1": h["rank1"], "rank-1 (face found)": h.get("rank1_face_found"),
                     "DIR @ FAR 1%": h["dir_at_far_0.01"], "DIR @ FAR 0.1%": h["dir_at_far_0.001"],
                     "whole set: DIR @ FAR 0.1%": r.get("all", {}).get("dir_at_far_0.001"),
                     "threshold": r["threshold"], "margin": r["margin"], "FAR at threshold": h["at_threshold"]["far"],
                     "templates": h["templates"], "probes": h["probes"], "strangers": h["strangers"]})
    return rows


def comparison_frame(report: dict):
    import pandas as pd

    return pd.DataFrame(comparison_rows(report))


def headline(report: dict, path: str = "chip") -> dict:
    """The entry with curves for ``path`` (the shipped configuration)."""
    for r in report["results"]:
        if r["path"] == path and "curve" in r["heldout"]:
            return r
    raise KeyError(f"no entry with curves for path {path!r}")


def dir_far_figure(report: dict):
    """Open-set ROC: share of workers named correctly vs share of strangers accepted, before and after chips."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for path in ("crop", "chip"):
        try:
            r = headline(report, path)
        except KeyError:
            continue
        c = r["heldout"]["curve"]
        fig.add_scatter(x=c["far"], y=c["dir"], mode="lines", name=PATH_NAMES.get(path, path))
    for far in (0.001, 0.01):  # no annotation text: on a log axis plotly misplaces it
        fig.add_vline(x=far, line_dash="dot", line_color="grey")
    fig.update_layout(title=f"Open-set identification on {report.get('people', '?')} people + "
                      f"{report.get('strangers', '?')} strangers (held-out half)",
                      xaxis={"type": "log", "title": "strangers accepted as a worker (FAR; dotted: 0.1% and 1%)"},
                      yaxis={"title": "workers named correctly (DIR)", "range": [0, 1.02]}, height=450)
    return fig


def distance_histogram_figure(report: dict, path: str = "chip"):
    """Held-out: distance of each correctly ranked probe to its worker vs each stranger to the nearest worker."""
    import plotly.graph_objects as go

    r = headline(report, path)
    genuine, stranger = r["heldout"]["genuine_best"], r["heldout"]["stranger_best"]
    everything = genuine + stranger
    lo, hi = min(everything), max(everything)
    bins = {"start": lo, "end": hi, "size": (hi - lo) / 60 or 1.0}
    fig = go.Figure()
    fig.add_histogram(x=genuine, name=f"worker's photo to their own gallery ({len(genuine)})",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_histogram(x=stranger, name=f"stranger to the nearest worker ({len(stranger)})",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_vline(x=r["threshold"], line_dash="dash", annotation_text=f"threshold {r['threshold']:.3f}")
    fig.update_layout(title=f"Nearest-worker {r['metric']} distances ({path}, held-out)",
                      barmode="overlay", xaxis_title=f"{r['metric']} distance", yaxis_title="density", height=420)
    return fig


def far_frr_figure(report: dict, path: str = "chip"):
    """Held-out FAR (strangers accepted) and FRR (workers not named) as the threshold moves."""
    import plotly.graph_objects as go

    r = headline(report, path)
    genuine = np.asarray(r["heldout"]["genuine_best"])
    stranger = np.asarray(r["heldout"]["stranger_best"])
    probes = r["heldout"]["probes"]
    grid = np.linspace(min(genuine.min(), stranger.min()), max(genuine.max(), stranger.max()), 80)
    far = [(stranger <= t).mean() for t in grid]
    frr = [1 - (genuine <= t).sum() / probes for t in grid]  # misses and wrong rank-1 count as not named
    fig = go.Figure()
    fig.add_scatter(x=grid, y=far, name="FAR (stranger accepted)")
    fig.add_scatter(x=grid, y=frr, name="FRR (worker not named)")
    fig.add_vline(x=r["threshold"], line_dash="dash", annotation_text="shipped threshold")
    fig.update_layout(title=f"FAR / FRR vs threshold (held-out, {r['enroll_photos']} enrollment photos)",
                      xaxis_title=f"{r['metric']} distance threshold", yaxis_title="rate", height=420)
    return fig
