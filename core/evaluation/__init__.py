"""Evaluation of every model on real labelled data, written as JSON for the dashboard's evaluation page.

Emotion (:func:`evaluate_emotion`): every emotion backend that loads, on the FER-2013 PrivateTest faces: accuracy,
confusion matrix, per-class precision / recall / F1 / specificity, one-vs-rest ROC with AUC and a 3-class valence
view. Identity (:func:`evaluate_identity`): every recognition model that loads, on the 5-celebrity-faces photos:
genuine vs impostor distances, ROC / AUC / EER, FAR / FRR vs threshold, the calibrated threshold, top-1 accuracy
through the engine and the open-set (leave one person out) check. Backends or models that cannot load here are
recorded as ``"not available: <why>"`` instead of failing the run.

Files (``<out>`` defaults to ``Settings.evaluation_dir`` = ``data/evaluation``): ``emotion_<backend>.json``,
``emotion_summary.json``, ``identity.json`` (the model the engine would pick) and ``identity_<model>.json``.
Data come from ``Settings.eval_data_dir`` (env ``FACEDASH_EVAL_DATA_DIR``, default ``../shared/data``).

Modules:

- :mod:`~core.evaluation.data`: where the data sets are, FER-2013 and labelled-photo loaders
- :mod:`~core.evaluation.metrics`: the metrics (pure functions)
- :mod:`~core.evaluation.common`: JSON result files (schema keys, strict atomic writes), progress bar
- :mod:`~core.evaluation.emotion` / :mod:`~core.evaluation.identity`: the two runners
- :mod:`~core.evaluation.figures`: Plotly figures and tables of the results (notebooks and dashboard)
- :mod:`~core.evaluation.openset_figures`: figures of the identity-at-scale (lfw-dev) report
- :mod:`~core.evaluation.render`: notebook renderer and static PNG export (kaleido probe)
- :mod:`~core.evaluation.cli`: ``python -m core.evaluation emotion|identity``

Everything public is re-exported here, so ``from core import evaluation as ev; ev.evaluate_emotion(...)`` works.
"""

from core.evaluation.cli import main
from core.evaluation.common import (
    DEFAULT_TARGET_FAR,
    EMOTION_KEYS,
    IDENTITY_KEYS,
    progress_bar,
    utc_now_iso,
    write_json,
)
from core.evaluation.data import (
    FER_SPLITS,
    LabelledPhoto,
    celebrity_faces_dir,
    fer2013_path,
    gray_to_bgr,
    list_labelled_photos,
    load_fer2013,
    shared_data_dir,
    subset_indices,
)
from core.evaluation.emotion import (
    EmotionEvaluation,
    emotion_summary,
    evaluate_emotion,
    evaluate_emotion_backend,
    load_emotion_backend,
    predict_probabilities,
)
from core.evaluation.figures import (
    comparison_table,
    confusion_figure,
    distance_histogram_figure,
    far_frr_figure,
    identity_roc_figure,
    open_set_figure,
    per_class_figure,
    per_class_table,
    roc_figure,
    unknown_rejection_figure,
)
from core.evaluation.identity import (
    CONSENT_TEXT,
    Embeddings,
    IdentityEvaluation,
    embed_photos,
    evaluate_identity,
    evaluate_identity_model,
    identity_settings,
)
from core.evaluation.metrics import (
    MAX_CURVE_POINTS,
    VALENCES,
    confusion_matrix,
    downsample_curve,
    emotion_metrics,
    one_vs_rest_roc,
    open_set_curve,
    per_class_metrics,
    rates_at,
    round_list,
    valence_index,
    valence_probabilities,
    verification_metrics,
)
from core.evaluation.render import configure_plotly_renderer, export_figures, static_export_available

__all__ = [
    "CONSENT_TEXT", "DEFAULT_TARGET_FAR", "EMOTION_KEYS", "FER_SPLITS", "IDENTITY_KEYS", "MAX_CURVE_POINTS", "VALENCES",
    "Embeddings", "EmotionEvaluation", "IdentityEvaluation", "LabelledPhoto",
    "celebrity_faces_dir", "comparison_table", "configure_plotly_renderer", "confusion_figure", "confusion_matrix",
    "distance_histogram_figure", "downsample_curve", "embed_photos", "emotion_metrics", "emotion_summary",
    "evaluate_emotion", "evaluate_emotion_backend", "evaluate_identity", "evaluate_identity_model", "export_figures",
    "far_frr_figure", "fer2013_path", "gray_to_bgr", "identity_roc_figure", "identity_settings",
    "list_labelled_photos", "load_emotion_backend", "load_fer2013", "main", "one_vs_rest_roc", "open_set_curve",
    "open_set_figure", "per_class_figure", "per_class_metrics", "per_class_table", "predict_probabilities",
    "progress_bar", "rates_at", "roc_figure", "round_list", "shared_data_dir", "static_export_available",
    "subset_indices", "unknown_rejection_figure", "utc_now_iso", "valence_index", "valence_probabilities",
    "verification_metrics", "write_json",
]
