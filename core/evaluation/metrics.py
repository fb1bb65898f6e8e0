"""Metrics, pure functions of labels, scores and distances (no models, no files).

Emotion: confusion matrix, per-class precision / recall / F1 / specificity, one-vs-rest ROC with AUC and the 3-class
valence view (positive / negative / neutral, :data:`core.types.EMOTION_VALENCE`; the valence probability is the sum
of its classes' probabilities). Identity: verification ROC / AUC / EER and FAR / FRR vs threshold over genuine and
impostor distances, and the open-set trade-off curve. Curves are downsampled to :data:`MAX_CURVE_POINTS` so the
JSON files stay small.
"""

from __future__ import annotations

import numpy as np

from core.types import EMOTION_VALENCE, EMOTIONS

VALENCES: tuple[str, ...] = ("positive", "negative", "neutral")
MAX_CURVE_POINTS = 101


def round_list(values, digits: int = 5) -> list:
    return [round(float(v), digits) for v in values]


def downsample_curve(x, y, max_points: int = MAX_CURVE_POINTS) -> tuple[list[float], list[float]]:
    """Keep at most ``max_points`` vertices of a curve, evenly spaced along its length, always both ends."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) <= max_points:
        return x.tolist(), y.tolist()
    length = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    targets = np.linspace(0.0, length[-1], max_points)
    idx = np.unique(np.clip(np.searchsorted(length, targets), 0, len(x) - 1))
    idx = np.unique(np.concatenate([[0], idx, [len(x) - 1]]))
    if len(idx) > max_points:  # ties at the ends can add one or two; thin evenly
        idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, max_points)).astype(int))]
    return x[idx].tolist(), y[idx].tolist()


# ------------------------------------------------------------------------------------------------ classification
def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_metrics(confusion: np.ndarray, labels) -> dict[str, dict]:
    """Precision, recall, F1, specificity and support per class from a confusion matrix (0 where undefined)."""
    confusion = np.asarray(confusion, np.float64)
    total = confusion.sum()
    out: dict[str, dict] = {}
    for k, label in enumerate(labels):
        tp = confusion[k, k]
        fn = confusion[k].sum() - tp
        fp = confusion[:, k].sum() - tp
        tn = total - tp - fn - fp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        specificity = tn / (tn + fp) if tn + fp else 0.0
        out[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                      "specificity": float(specificity), "support": int(tp + fn)}
    return out


def one_vs_rest_roc(y_true, probabilities, labels) -> dict[str, dict]:
    """Per class: ROC curve (class k vs the rest, scored by p_k), downsampled, and its AUC (None if undefined)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true)
    out: dict[str, dict] = {}
    for k, label in enumerate(labels):
        positive = y_true == k
        if positive.all() or not positive.any():
            out[label] = {"fpr": [], "tpr": [], "auc": None}
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, k])
        fpr_s, tpr_s = downsample_curve(fpr, tpr)
        out[label] = {"fpr": round_list(fpr_s), "tpr": round_list(tpr_s),
                      "auc": float(roc_auc_score(positive, probabilities[:, k]))}
    return out


def valence_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, 7) emotion probabilities -> (N, 3) valence probabilities in :data:`VALENCES` order (sums of classes)."""
    probabilities = np.asarray(probabilities, np.float64)
    mapping = np.zeros((len(EMOTIONS), len(VALENCES)))
    for k, emotion in enumerate(EMOTIONS):
        mapping[k, VALENCES.index(EMOTION_VALENCE[emotion])] = 1.0
    return probabilities @ mapping


def valence_index(emotion_labels) -> np.ndarray:
    """Emotion class indices -> valence indices in :data:`VALENCES` order."""
    lookup = np.array([VALENCES.index(EMOTION_VALENCE[e]) for e in EMOTIONS])
    return lookup[np.asarray(emotion_labels, np.int64)]


def emotion_metrics(y_true, probabilities) -> dict:
    """All emotion metrics (the JSON schema's metric part) from true labels and (N, 7) probabilities."""
    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape != (len(y_true), len(EMOTIONS)):
        raise ValueError(f"probabilities should be ({len(y_true)}, {len(EMOTIONS)}), got {probabilities.shape}")
    y_pred = probabilities.argmax(axis=1)
    confusion = confusion_matrix(y_true, y_pred, len(EMOTIONS))
    v_true = valence_index(y_true)
    v_pred = valence_probabilities(probabilities).argmax(axis=1)
    v_confusion = confusion_matrix(v_true, v_pred, len(VALENCES))
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()),
        "labels": list(EMOTIONS),
        "confusion": confusion.tolist(),
        "per_class": per_class_metrics(confusion, EMOTIONS),
        "roc": one_vs_rest_roc(y_true, probabilities, EMOTIONS),
        "valence": {
            "accuracy": float((v_pred == v_true).mean()),
            "labels": list(VALENCES),
            "confusion": v_confusion.tolist(),
            "per_class": per_class_metrics(v_confusion, VALENCES),
        },
    }


# ------------------------------------------------------------------------------------------------ identity
def verification_metrics(genuine: np.ndarray, impostor: np.ndarray, n_thresholds: int = MAX_CURVE_POINTS) -> dict:
    """AUC, EER, ROC (downsampled) and a FAR / FRR table over evenly spaced thresholds."""
    from sklearn.metrics import roc_curve

    from core.calibrate import choose_threshold, far_frr, roc_auc

    y = np.concatenate([np.ones(genuine.size), np.zeros(impostor.size)])
    fpr, tpr, _ = roc_curve(y, -np.concatenate([genuine, impostor]))
    fpr_s, tpr_s = downsample_curve(fpr, tpr)
    everything = np.concatenate([genuine, impostor])
    table = far_frr(genuine, impostor, np.linspace(everything.min(), everything.max(), n_thresholds))
    eer = choose_threshold(genuine, impostor)
    return {
        "auc": roc_auc(genuine, impostor),
        "eer": float(eer["eer"]),
        "eer_threshold": float(eer["eer_threshold"]),
        "roc": {"fpr": round_list(fpr_s), "tpr": round_list(tpr_s)},
        "far_frr": [{k: round(v, 6) for k, v in row.items()} for row in table],
    }


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> dict:
    """FAR and FRR at one threshold, with the pair counts they come from."""
    from core.calibrate import far_frr

    row = far_frr(genuine, impostor, np.array([threshold]))[0]
    return {"far": row["far"], "frr": row["frr"], "genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size)}


def open_set_curve(identifications: list[dict], stranger_nearest: list[float], thresholds) -> list[dict]:
    """The open-set trade-off per threshold: share of held-out people's photos rejected as unknown, and share of
    enrolled people's val photos accepted as the right person (a photo with no face counts as not accepted)."""
    strangers = np.asarray(stranger_nearest, np.float64)
    right = np.array([r["distance"] if r["nearest"] == r["person"] and r["distance"] is not None else np.inf
                      for r in identifications], np.float64)
    return [{"threshold": round(float(t), 6),
             "unknown_rejection": round(float((strangers > t).mean()), 6) if strangers.size else 0.0,
             "known_accepted": round(float((right <= t).mean()), 6) if right.size else 0.0}
            for t in thresholds]
