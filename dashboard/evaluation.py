"""Read the evaluation results that ``python -m core.evaluation`` (and the notebooks) write as JSON.

Files in ``Settings.evaluation_dir`` (``data/evaluation``), schema in docs/dashboard.md:

- ``emotion_<backend>.json``: accuracy, 7x7 confusion, per-class metrics, one-vs-rest ROC, valence view.
- ``identity.json`` (the recognition model the engine would pick) and ``identity_<model>.json``: genuine/impostor
  distances, FAR/FRR vs threshold, ROC, top-1 accuracy.
- ``emotion_summary.json`` is a comparison index, not a result; it is not listed as a backend.

A file that is not JSON or lacks a required key is reported by name (and the others still shown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

EMOTION_COMMAND = "python -m core.evaluation emotion"
IDENTITY_COMMAND = "python -m core.evaluation identity"
NOTEBOOKS = "the evaluation notebooks in notebooks/"

#: Keys the page needs (the writer may add more; see core.evaluation.EMOTION_KEYS / IDENTITY_KEYS).
EMOTION_REQUIRED = ("backend", "dataset", "split", "n", "computed_at", "accuracy", "labels", "confusion",
                    "per_class", "roc", "valence")
IDENTITY_REQUIRED = ("model", "metric", "dataset", "computed_at", "top1_accuracy", "threshold", "auc", "genuine",
                     "impostor", "far_frr", "roc")


def _metric_formats() -> dict:
    import streamlit as st

    pct = {name: st.column_config.NumberColumn(name, format="percent") for name in
           ("accuracy", "macro F1", "valence accuracy", "precision", "recall", "f1", "specificity")}
    return {**pct, "auc": st.column_config.NumberColumn("AUC", format="%.3f"),
            "ms / face": st.column_config.NumberColumn("ms / face", format="%.2f")}


#: Column formats for the evaluation tables (percentages, AUC to 3 decimals).
METRIC_FORMATS = _metric_formats()


@dataclass
class EvaluationFiles:
    emotion: dict[str, dict] = field(default_factory=dict)  # backend -> result
    identity: dict[str, dict] = field(default_factory=dict)  # file stem ("identity", "identity_Dlib") -> result
    problems: list[str] = field(default_factory=list)  # "<file>: <what is wrong>"
    folder: Path | None = None


def _validate_emotion(data: dict) -> str | None:
    missing = [k for k in EMOTION_REQUIRED if k not in data]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    n = len(data["labels"])
    confusion = data["confusion"]
    if len(confusion) != n or any(len(row) != n for row in confusion):
        return f"'confusion' should be {n}x{n} like 'labels'"
    for key in ("accuracy", "confusion", "labels"):
        if key not in data["valence"]:
            return f"'valence' lacks '{key}'"
    return None


def _validate_identity(data: dict) -> str | None:
    missing = [k for k in IDENTITY_REQUIRED if k not in data]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    if not {"fpr", "tpr"} <= set(data["roc"]):
        return "'roc' needs 'fpr' and 'tpr'"
    if data["far_frr"] and not {"threshold", "far", "frr"} <= set(data["far_frr"][0]):
        return "'far_frr' rows need 'threshold', 'far' and 'frr'"
    return None


def load_results(folder: Path) -> EvaluationFiles:
    folder = Path(folder)
    out = EvaluationFiles(folder=folder)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        stem = path.stem
        is_emotion = stem.startswith("emotion_") and stem != "emotion_summary"
        is_identity = stem == "identity" or stem.startswith("identity_")
        if not (is_emotion or is_identity):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            out.problems.append(f"{path.name}: not readable JSON ({exc})")
            continue
        if not isinstance(data, dict):
            out.problems.append(f"{path.name}: expected a JSON object, got {type(data).__name__}")
            continue
        problem = _validate_emotion(data) if is_emotion else _validate_identity(data)
        if problem:
            out.problems.append(f"{path.name}: {problem}")
        elif is_emotion:
            out.emotion[str(data["backend"])] = data
        else:
            out.identity[stem] = data
    return out


def provenance(result: dict) -> str:
    """"FER-2013 PrivateTest, 3,589 faces, computed 2025-03-14 09:30 UTC" style caption."""
    when = pd.to_datetime(result.get("computed_at"), utc=True, errors="coerce")
    when_text = when.strftime("%Y-%m-%d %H:%M UTC") if when is not pd.NaT else str(result.get("computed_at"))
    parts = [str(result.get("dataset", "?"))]
    if result.get("split"):
        parts[0] += f" {result['split']}"
    if result.get("n") is not None:
        parts.append(f"{int(result['n']):,} faces")
    if isinstance(result.get("photos"), dict) and "embedded" in result["photos"]:
        parts.append(f"{result['photos']['embedded']} photos")
    if result.get("genuine") is not None:
        parts.append(f"{len(result['genuine']):,} genuine / {len(result.get('impostor', [])):,} impostor pairs")
    parts.append(f"computed {when_text}")
    return ", ".join(parts)


def per_class_frame(result: dict) -> pd.DataFrame:
    """Precision / recall / F1 / specificity / support (and AUC) per class."""
    frame = pd.DataFrame(result["per_class"]).T
    frame.index.name = "class"
    roc = result.get("roc") or {}
    frame["auc"] = [(roc.get(label) or {}).get("auc") for label in frame.index]
    cols = [c for c in ("precision", "recall", "f1", "specificity", "auc", "support") if c in frame.columns]
    frame = frame[cols]
    if "support" in frame:
        frame["support"] = frame["support"].astype("int64")
    return frame.reset_index()


def emotion_summary_frame(files: EvaluationFiles) -> pd.DataFrame:
    rows = []
    for backend, r in sorted(files.emotion.items()):
        macro_f1 = sum(v.get("f1", 0) for v in r["per_class"].values()) / max(len(r["per_class"]), 1)
        rows.append({"backend": backend, "accuracy": r["accuracy"], "macro F1": macro_f1,
                     "valence accuracy": r["valence"]["accuracy"], "faces": r["n"],
                     "ms / face": 1000 * r["seconds_per_face"] if r.get("seconds_per_face") is not None else None,
                     "computed": r["computed_at"]})
    return pd.DataFrame(rows)


def show_figure(builder, result: dict, key: str, title: str | None = None, **kwargs) -> None:
    """Draw ``builder(result, **kwargs)`` (a core.evaluation figure helper) full width, or say which field is bad."""
    import streamlit as st

    from dashboard.components.charts import show

    try:
        fig = builder(result, **kwargs)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        st.error(f"Cannot draw {builder.__name__.replace('_', ' ')} for "
                 f"{result.get('backend') or result.get('model')}: field {exc} is missing or malformed",
                 icon=":material/error:")
        return
    fig.update_layout(width=None)
    if title:
        fig.update_layout(title_text=title)
    show(fig, key=key)


OPEN_SET_FILE = "openset_lfw.json"
OPEN_SET_COMMAND = "python benchmarks/bench_identity.py"


def load_open_set_report(folder: Path) -> tuple[dict | None, str | None]:
    """The lfw-dev open-set report, or (None, what is wrong with it); (None, None) when there is none."""
    path = Path(folder) / OPEN_SET_FILE
    if not path.is_file():
        return None, None
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"{path.name}: not readable JSON ({exc})"
    if not isinstance(report, dict) or not isinstance(report.get("results"), list) or not report["results"]:
        return None, f"{path.name}: expected an object with a non-empty 'results' list"
    return report, None


def show_open_set(folder: Path) -> None:
    """The identity-at-scale tab: before/after table, DIR-FAR curves, distance histogram, FAR/FRR vs threshold."""
    import streamlit as st

    from core.evaluation import openset_figures as of
    from dashboard.components.empty import empty_state

    report, problem = load_open_set_report(folder)
    if problem:
        st.error(f"Cannot show {problem}", icon=":material/error:")
        return
    if report is None:
        empty_state(f"**No open-set evaluation yet** in `{folder}`. Run `{OPEN_SET_COMMAND}` on "
                    f"`../shared/data/faces/lfw-dev`; it writes `{OPEN_SET_FILE}`.")
        return
    try:
        shipped = of.headline(report)
    except KeyError as exc:
        st.error(f"Cannot show {OPEN_SET_FILE}: {exc}", icon=":material/error:")
        return
    held = shipped["heldout"]
    st.caption(f"{report['people']} people, {report['strangers']} strangers, {report['photos']} photos "
               f"({report['photos_without_face']} without a face found by {report['detector']}); threshold and "
               f"margin chosen on the calibration half, figures on the held-out half; computed {report['computed_at']}")
    cols = st.columns(5)
    cols[0].metric("Rank-1", f"{held['rank1']:.1%}", help=f"{held['rank1_face_found']:.1%} of probes whose face was found")
    cols[1].metric("Named at FAR 1%", f"{held['dir_at_far_0.01']:.1%}",
                   help="share of workers' photos named correctly when 1% of strangers are accepted")
    whole = shipped.get("all", {})
    cols[2].metric("Named at FAR 0.1%", f"{whole.get('dir_at_far_0.001', float('nan')):.1%}",
                   help="whole set: 0.1% of the held-out half's strangers is none, so this one is on all strangers")
    cols[3].metric("Threshold", f"{shipped['threshold']:.4f}", help=f"{shipped['metric']} distance")
    cols[4].metric("Ambiguity margin", f"{shipped['margin']:.4f}")
    show_figure(of.dir_far_figure, report, key="eval_openset_dir")
    left, right = st.columns(2)
    with left:
        show_figure(of.distance_histogram_figure, report, key="eval_openset_hist")
    with right:
        show_figure(of.far_frr_figure, report, key="eval_openset_far_frr")
    pct = {c: st.column_config.NumberColumn(c, format="percent") for c in
           ("rank-1", "rank-1 (face found)", "DIR @ FAR 1%", "DIR @ FAR 0.1%", "whole set: DIR @ FAR 0.1%",
            "FAR at threshold")}
    st.dataframe(of.comparison_frame(report), hide_index=True, column_config=pct)
