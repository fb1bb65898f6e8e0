"""core.evaluation on real data: metrics agree with scikit-learn, JSON files follow the dashboard's schema,
valence sums are right, and identity pair counts are right on real photos."""

from __future__ import annotations

import json
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from core import evaluation as ev
from core.errors import ConfigError, FaceDashError
from core.types import EMOTION_VALENCE, EMOTIONS

REPO = Path(__file__).resolve().parents[1]


def _strict_json(path: Path) -> dict:
    def reject(constant):
        raise AssertionError(f"{path.name}: non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def fer_subset(shared_data):
    pixels, labels = ev.load_fer2013(shared_data / "fer2013" / "fer2013.npz", "PrivateTest", subset=400)
    return pixels, labels


@pytest.fixture(scope="module")
def fer_probabilities(fer_subset):
    from core.emotions import FerEmotion

    pixels, _ = fer_subset
    probabilities, seconds = ev.predict_probabilities(FerEmotion(), ev.gray_to_bgr(pixels), batch_size=64, progress=False)
    assert seconds > 0
    return probabilities


# ------------------------------------------------------------------------------------------------ data
def test_fer2013_private_test_split_is_loaded(shared_data):
    pixels, labels = ev.load_fer2013(shared_data / "fer2013" / "fer2013.npz", "PrivateTest")
    assert pixels.shape == (3589, 48, 48) and pixels.dtype == np.uint8
    assert labels.shape == (3589,) and set(np.unique(labels)) == set(range(len(EMOTIONS)))
    crops = ev.gray_to_bgr(pixels[:3])
    assert crops[0].shape == (48, 48, 3) and crops[0].dtype == np.uint8
    assert np.array_equal(crops[1][:, :, 2], pixels[1])


def test_subset_is_deterministic_and_without_repeats(shared_data):
    path = shared_data / "fer2013" / "fer2013.npz"
    a_pixels, a_labels = ev.load_fer2013(path, "PrivateTest", subset=50)
    b_pixels, b_labels = ev.load_fer2013(path, "PrivateTest", subset=50)
    assert len(a_labels) == 50 and np.array_equal(a_pixels, b_pixels) and np.array_equal(a_labels, b_labels)
    assert len(np.unique(ev.subset_indices(3589, 50))) == 50
    with pytest.raises(ValueError):
        ev.subset_indices(10, -1)


def test_unknown_split_names_the_splits_present(shared_data):
    with pytest.raises(FaceDashError, match="PrivateTest"):
        ev.load_fer2013(shared_data / "fer2013" / "fer2013.npz", "Validation")


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FaceDashError, match="FER-2013 file not found"):
        ev.load_fer2013(tmp_path / "nope.npz")


# ------------------------------------------------------------------------------------------------ metrics
def test_emotion_metrics_agree_with_sklearn(fer_subset, fer_probabilities):
    _, labels = fer_subset
    result = ev.emotion_metrics(labels, fer_probabilities)
    predicted = fer_probabilities.argmax(axis=1)
    classes = list(range(len(EMOTIONS)))

    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["accuracy"] > 0.5  # the fer model is ~66% on PrivateTest; a broken pipeline is near 14-25%
    assert np.array_equal(result["confusion"], skm.confusion_matrix(labels, predicted, labels=classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    for k, emotion in enumerate(EMOTIONS):
        row = result["per_class"][emotion]
        assert row["precision"] == pytest.approx(precision[k])
        assert row["recall"] == pytest.approx(recall[k])
        assert row["f1"] == pytest.approx(f1[k])
        assert row["support"] == support[k]
        # specificity = recall of "not this class"
        assert row["specificity"] == pytest.approx(skm.recall_score(labels != k, predicted != k))
        if support[k]:
            assert result["roc"][emotion]["auc"] == pytest.approx(skm.roc_auc_score(labels == k, fer_probabilities[:, k]))


def test_roc_curves_are_downsampled_and_keep_their_ends(fer_subset, fer_probabilities):
    _, labels = fer_subset
    for _emotion, curve in ev.emotion_metrics(labels, fer_probabilities)["roc"].items():
        if curve["auc"] is None:
            continue
        assert 2 <= len(curve["fpr"]) == len(curve["tpr"]) <= ev.MAX_CURVE_POINTS
        assert curve["fpr"][0] == 0 and curve["fpr"][-1] == 1 and curve["tpr"][-1] == 1
        assert np.all(np.diff(curve["fpr"]) >= 0) and np.all(np.diff(curve["tpr"]) >= 0)
    x = np.linspace(0, 1, 1000)
    fx, fy = ev.downsample_curve(x, x**2)
    assert len(fx) <= ev.MAX_CURVE_POINTS and fx[0] == 0 and fx[-1] == 1


def test_valence_probabilities_are_sums_of_their_classes(fer_subset, fer_probabilities):
    _, labels = fer_subset
    valence = ev.valence_probabilities(fer_probabilities)
    assert valence.shape == (len(labels), 3)
    np.testing.assert_allclose(valence.sum(axis=1), 1.0, atol=1e-6)
    for v, name in enumerate(ev.VALENCES):
        members = [k for k, e in enumerate(EMOTIONS) if EMOTION_VALENCE[e] == name]
        np.testing.assert_allclose(valence[:, v], fer_probabilities[:, members].sum(axis=1))
    happy, surprise, neutral = EMOTIONS.index("happy"), EMOTIONS.index("surprise"), EMOTIONS.index("neutral")
    assert ev.valence_index([happy, surprise, neutral, EMOTIONS.index("fear")]).tolist() == [0, 0, 2, 1]

    result = ev.emotion_metrics(labels, fer_probabilities)["valence"]
    assert result["labels"] == ["positive", "negative", "neutral"]
    assert np.sum(result["confusion"]) == len(labels)
    assert np.array(result["confusion"]).sum(axis=1).tolist() == np.bincount(ev.valence_index(labels), minlength=3).tolist()
    # confusions inside one valence (fear vs sad, angry vs disgust) stop counting as errors
    assert result["accuracy"] > ev.emotion_metrics(labels, fer_probabilities)["accuracy"]


def test_emotion_json_files_follow_the_schema(tmp_path, shared_data, engine_settings_factory):
    settings = engine_settings_factory(tmp_path / "data")
    result = ev.evaluate_emotion(["fer", "deepface"], subset=120, out_dir=tmp_path / "out", settings=settings,
                                 progress=False, data_path=shared_data / "fer2013" / "fer2013.npz")
    tmp_path = tmp_path / "out"
    payload = _strict_json(tmp_path / "emotion_fer.json")
    assert set(ev.EMOTION_KEYS) <= set(payload)
    assert (payload["backend"], payload["dataset"], payload["split"], payload["n"]) == ("fer", "FER-2013", "PrivateTest", 120)
    assert payload["labels"] == list(EMOTIONS)
    assert np.array(payload["confusion"]).shape == (7, 7) and np.sum(payload["confusion"]) == 120
    assert set(payload["per_class"]) == set(EMOTIONS)
    assert all(set(c) == {"precision", "recall", "f1", "specificity", "support"} for c in payload["per_class"].values())
    assert set(payload["roc"]) == set(EMOTIONS) and all({"fpr", "tpr", "auc"} <= set(c) for c in payload["roc"].values())
    assert set(payload["valence"]) >= {"accuracy", "labels", "confusion"}
    assert np.array(payload["valence"]["confusion"]).shape == (3, 3)
    assert payload["computed_at"].endswith("+00:00") and payload["seconds_per_face"] > 0

    summary = _strict_json(tmp_path / "emotion_summary.json")
    assert summary["backends"]["fer"]["available"] and summary["backends"]["fer"]["accuracy"] == payload["accuracy"]
    deepface = summary["backends"]["deepface"]
    if deepface["available"]:  # weights present (e.g. downloaded on a machine with internet)
        assert (tmp_path / "emotion_deepface.json").is_file()
    else:
        assert deepface["reason"].startswith("not available: ") and "deepface" in result.unavailable
        assert not (tmp_path / "emotion_deepface.json").exists()


def test_unknown_emotion_backend_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        ev.evaluate_emotion(["nope"], subset=10, out_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())


def test_committed_results_follow_the_schema():
    folder = REPO / "data" / "evaluation"
    summary = _strict_json(folder / "emotion_summary.json")
    assert summary["split"] == "PrivateTest" and summary["n"] == 3589 and summary["subset"] == 0
    for _name, info in summary["backends"].items():
        if info["available"]:
            payload = _strict_json(folder / info["file"])
            assert set(ev.EMOTION_KEYS) <= set(payload) and payload["n"] == 3589
        else:
            assert info["reason"].startswith("not available: ")
    identity = _strict_json(folder / "identity.json")
    assert set(ev.IDENTITY_KEYS) <= set(identity)
    assert identity["top1_total"] >= identity["top1_correct"] > 0
    assert all(set(row) == {"threshold", "far", "frr"} for row in identity["far_frr"])
    assert len(identity["roc"]["fpr"]) == len(identity["roc"]["tpr"]) <= ev.MAX_CURVE_POINTS
    assert set(identity["unknown_rejection"]) >= {"overall", "per_person"}


# ------------------------------------------------------------------------------------------------ identity
def test_identity_pairs_on_real_photos(shared_data, engine):
    from core.calibrate import pair_distances

    people = {"jerry_seinfeld", "madonna", "mindy_kaling"}
    photos = [p for p in ev.list_labelled_photos(shared_data / "faces" / "5-celebrity-faces", subset=3)
              if p.person in people and p.split == "train"]
    assert len(photos) == 9
    embedded = ev.embed_photos(engine, photos, progress=False)
    assert len(embedded.photos) + len(embedded.skipped) == len(photos)
    assert embedded.vectors.shape == (len(embedded.photos), 128)

    genuine, impostor = pair_distances(embedded.vectors, embedded.labels, "cosine")
    counts = {p: embedded.labels.count(p) for p in people}
    assert min(counts.values()) >= 2, counts
    expected_genuine = sum(comb(n, 2) for n in counts.values())
    assert genuine.size == expected_genuine
    assert impostor.size == comb(len(embedded.photos), 2) - expected_genuine
    assert impostor.size == sum(counts[a] * counts[b] for a, b in combinations(sorted(people), 2))
    assert genuine.mean() < impostor.mean()
    assert 0.5 < ev.verification_metrics(genuine, impostor)["auc"] <= 1.0


def test_list_labelled_photos_subset_and_errors(tmp_path, shared_data):
    folder = shared_data / "faces" / "5-celebrity-faces"
    full = ev.list_labelled_photos(folder)
    assert len(full) == 118 and {p.split for p in full} == {"train", "val"}
    small = ev.list_labelled_photos(folder, subset=4)
    for person in {p.person for p in full}:
        assert sum(p.person == person and p.split == "train" for p in small) == 4
        assert sum(p.person == person and p.split == "val" for p in small) == 2
    with pytest.raises(FaceDashError, match="not found"):
        ev.list_labelled_photos(tmp_path / "missing")


def test_open_set_curve_counts():
    identifications = [
        {"person": "a", "nearest": "a", "distance": 0.05},   # right, accepted below 0.05
        {"person": "b", "nearest": "a", "distance": 0.02},   # wrong person: never a correct acceptance
        {"person": "c", "nearest": None, "distance": None},  # no face found
    ]
    rows = ev.open_set_curve(identifications, [0.03, 0.08], [0.01, 0.05, 0.1])
    assert [r["known_accepted"] for r in rows] == [0.0, pytest.approx(1 / 3, abs=1e-6), pytest.approx(1 / 3, abs=1e-6)]
    assert [r["unknown_rejection"] for r in rows] == [1.0, 0.5, 0.0]
