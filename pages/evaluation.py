"""Model evaluation: the latest results written by `python -m core.evaluation` (data/evaluation/*.json)."""

import streamlit as st

from core import evaluation as ev
from core.auth.roles import Permission
from dashboard import auth, evaluation, resources
from dashboard.components.empty import empty_state

settings = resources.settings()
auth.page_actor(Permission.EVALUATION)
st.title("Model evaluation")
files = evaluation.load_results(settings.evaluation_dir)
for problem in files.problems:
    st.error(f"Cannot show {problem}", icon=":material/error:")

emotion_tab, identity_tab, scale_tab = st.tabs(["Emotion models (FER-2013)", "Identity (recognition)",
                                                "Identity at scale (lfw-dev)"])
with emotion_tab:
    if not files.emotion:
        empty_state(f"**No emotion evaluation yet** in `{settings.evaluation_dir}`. Run `{evaluation.EMOTION_COMMAND}` "
                    f"(or {evaluation.NOTEBOOKS}); it writes `emotion_<backend>.json` for each backend that loads.")
    else:
        st.dataframe(evaluation.emotion_summary_frame(files), hide_index=True, column_config=evaluation.METRIC_FORMATS)
        backend = st.selectbox("Backend", sorted(files.emotion), key="eval_backend")
        result = files.emotion[backend]
        st.caption(f"Data: {evaluation.provenance(result)}")
        cols = st.columns(3)
        cols[0].metric("Accuracy (7 classes)", f"{result['accuracy']:.1%}")
        cols[1].metric("Valence accuracy (3 classes)", f"{result['valence']['accuracy']:.1%}")
        cols[2].metric("Faces", f"{result['n']:,}")
        left, right = st.columns(2)
        with left:
            evaluation.show_figure(ev.confusion_figure, result, key="eval_confusion")
        with right:
            evaluation.show_figure(ev.roc_figure, result, key="eval_roc")
        left, right = st.columns(2)
        left.dataframe(evaluation.per_class_frame(result), hide_index=True, column_config=evaluation.METRIC_FORMATS)
        with right:
            evaluation.show_figure(ev.confusion_figure, result, key="eval_valence", valence=True,
                                  title=f"{backend} - valence confusion (row-normalized)")

with identity_tab:
    if not files.identity:
        empty_state(f"**No identity evaluation yet** in `{settings.evaluation_dir}`. Run `{evaluation.IDENTITY_COMMAND}` "
                    f"(or {evaluation.NOTEBOOKS}); it writes `identity.json` (and `identity_<model>.json`).")
    else:
        name = st.selectbox("Result file", sorted(files.identity), key="eval_identity",
                            format_func=lambda s: f"{s}.json ({files.identity[s]['model']})")
        result = files.identity[name]
        st.caption(f"Model {result['model']}, {result['metric']} distance. Data: {evaluation.provenance(result)}")
        cols = st.columns(3)
        cols[0].metric("Top-1 accuracy", f"{result['top1_accuracy']:.1%}")
        cols[1].metric("ROC AUC", f"{result['auc']:.3f}")
        cols[2].metric("Threshold", f"{result['threshold']:.4f}", help=result.get("threshold_source"))
        left, right = st.columns(2)
        with left:
            evaluation.show_figure(ev.far_frr_figure, result, key="eval_far_frr")
        with right:
            evaluation.show_figure(ev.identity_roc_figure, result, key="eval_id_roc")
        evaluation.show_figure(ev.distance_histogram_figure, result, key="eval_hist")

with scale_tab:
    evaluation.show_open_set(settings.evaluation_dir)
