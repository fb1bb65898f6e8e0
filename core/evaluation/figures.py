"""Plotly figures and pandas tables of the evaluation results, built from the JSON dictionaries (or the runners'
results), so the notebooks and the dashboard's evaluation page draw exactly what was written.

Emotion (an ``emotion_<backend>.json`` payload): :func:`confusion_figure` (also the valence view),
:func:`per_class_figure`, :func:`roc_figure`, :func:`per_class_table`, :func:`comparison_table`.
Identity (an ``identity*.json`` payload): :func:`distance_histogram_figure`, :func:`identity_roc_figure`,
:func:`far_frr_figure`, :func:`open_set_figure`, :func:`unknown_rejection_figure`.
Identity at scale (the lfw-dev open-set report) is :mod:`core.evaluation.openset_figures`.
"""

from __future__ import annotations

import numpy as np

from core.evaluation.emotion import EmotionEvaluation


def _title(result: dict, what: str) -> str:
    return f"{result.get('backend') or result.get('model')} - {what}"


def confusion_figure(result: dict, normalize: bool = True, valence: bool = False):
    """Heat map of the (row-normalized) confusion matrix; rows = true class."""
    import plotly.graph_objects as go

    part = result["valence"] if valence else result
    counts = np.asarray(part["confusion"], np.float64)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    text = [[f"{v:.2f}<br>({int(c)})" if normalize else f"{int(c)}" for v, c in zip(row, crow)]
            for row, crow in zip(values, counts)]
    fig = go.Figure(go.Heatmap(z=values, x=part["labels"], y=part["labels"], text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1 if normalize else None,
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=_title(result, f"{'valence ' if valence else ''}confusion matrix"
                                           f"{' (row-normalized: recall on the diagonal)' if normalize else ''}"),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", height=520, width=620)
    return fig


def per_class_figure(result: dict):
    import plotly.graph_objects as go

    labels = result["labels"]
    fig = go.Figure()
    for metric in ("precision", "recall", "f1", "specificity"):
        fig.add_bar(name=metric, x=labels, y=[result["per_class"][c][metric] for c in labels])
    fig.update_layout(title=_title(result, "per-class metrics"), barmode="group", yaxis_range=[0, 1], height=420)
    return fig


def roc_figure(result: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, curve in result["roc"].items():
        if curve["auc"] is not None:
            fig.add_scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=f"{label} (AUC {curve['auc']:.3f})")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title=_title(result, "one-vs-rest ROC"), xaxis_title="false positive rate",
                      yaxis_title="true positive rate", height=520, width=700)
    return fig


def comparison_table(evaluation: EmotionEvaluation):
    """One row per backend: accuracy, valence accuracy, macro F1, ms/face, or why it is unavailable."""
    import pandas as pd

    rows = []
    for name, info in evaluation.summary["backends"].items():
        if info["available"]:
            rows.append({"backend": name, "accuracy": round(info["accuracy"], 4),
                         "valence accuracy": round(info["valence_accuracy"], 4), "macro F1": round(info["macro_f1"], 4),
                         "ms / face": round(1000 * info["seconds_per_face"], 3), "status": "evaluated"})
        else:
            rows.append({"backend": name, "status": info["reason"]})
    return pd.DataFrame(rows).set_index("backend")


def per_class_table(result: dict):
    import pandas as pd

    table = pd.DataFrame(result["per_class"]).T
    table["auc"] = [result["roc"][c]["auc"] for c in table.index]
    return table.round(4)


def distance_histogram_figure(result: dict):
    import plotly.graph_objects as go

    everything = list(result["genuine"]) + list(result["impostor"])
    lo, hi = min(everything), max(everything)
    bins = {"start": lo, "end": hi, "size": (hi - lo) / 60 or 1.0}
    fig = go.Figure()
    fig.add_histogram(x=result["genuine"], name=f"genuine (same person, {len(result['genuine'])} pairs)",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_histogram(x=result["impostor"], name=f"impostor (different people, {len(result['impostor'])} pairs)",
                      histnorm="probability density", opacity=0.6, xbins=bins)
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text=f"threshold {result['threshold']:.3f}")
    fig.update_layout(title=_title(result, f"{result['metric']} distance distributions"), barmode="overlay",
                      xaxis_title=f"{result['metric']} distance", yaxis_title="density", height=450)
    return fig


def identity_roc_figure(result: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=result["roc"]["fpr"], y=result["roc"]["tpr"], mode="lines", name=f"AUC {result['auc']:.4f}")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title=_title(result, "verification ROC (all photo pairs)"), xaxis_title="false accept rate",
                      yaxis_title="true accept rate", height=450, width=600)
    return fig


def far_frr_figure(result: dict):
    import plotly.graph_objects as go

    rows = result["far_frr"]
    fig = go.Figure()
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["far"] for r in rows], name="FAR (stranger accepted)")
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["frr"] for r in rows], name="FRR (worker rejected)")
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text="calibrated threshold")
    fig.update_layout(title=_title(result, f"FAR / FRR vs threshold (EER {result['eer']:.3f})"),
                      xaxis_title=f"{result['metric']} distance threshold", yaxis_title="rate", height=420)
    return fig


def open_set_figure(result: dict):
    """Unknown rejection of strangers vs acceptance of enrolled people, as the threshold moves."""
    import plotly.graph_objects as go

    rows = result["open_set_curve"]
    fig = go.Figure()
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["unknown_rejection"] for r in rows],
                    name="stranger rejected as unknown (leave-one-out)")
    fig.add_scatter(x=[r["threshold"] for r in rows], y=[r["known_accepted"] for r in rows],
                    name="enrolled person identified (val photos)")
    fig.add_vline(x=result["threshold"], line_dash="dash", annotation_text="calibrated threshold")
    fig.update_layout(title=_title(result, "open-set trade-off vs threshold"), yaxis_range=[0, 1.05],
                      xaxis_title=f"{result['metric']} distance threshold", yaxis_title="rate", height=420)
    return fig


def unknown_rejection_figure(result: dict):
    import plotly.graph_objects as go

    per = result["unknown_rejection"]["per_person"]
    fig = go.Figure()
    fig.add_bar(x=list(per), y=list(per.values()), name="calibrated threshold (all train pairs)")
    fold = result.get("unknown_rejection_fold_calibrated", {}).get("per_person")
    if fold:
        fig.add_bar(x=list(fold), y=[fold[p] for p in fold], name="threshold calibrated without the held-out person")
    fig.update_layout(title=_title(result, "open set: held-out person rejected as unknown"), barmode="group",
                      yaxis_range=[0, 1.05], yaxis_title="unknown-rejection rate", height=400)
    return fig
