"""core.training: FER-2013 loading, class weights, augmentation, the model, resumable training, TFLite export.

Fast (tiny subsets, one-epoch runs into tmp dirs); never touches the shipped model or its checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.training import data as fer
from core.types import EMOTIONS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def fer_npz() -> Path:
    path = SHARED / "fer2013" / "fer2013.npz"
    if not path.is_file():
        pytest.fail(f"FER-2013 test data missing: {path} (the ../shared checkout is required)")
    return path


# ------------------------------------------------------------------------------------------------------ data

def test_splits_have_published_sizes_and_class_counts(fer_npz):
    expected = {"train": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    for name, n in expected.items():
        split = fer.load_split(name, fer_npz)
        assert split.name == name
        assert split.x.shape == (n, 48, 48) and split.x.dtype == np.uint8
        assert split.y.shape == (n,) and split.y.min() == 0 and split.y.max() == 6
    train = fer.load_split("train", fer_npz)
    assert train.counts()[EMOTIONS.index("disgust")] == 436
    assert train.counts()[EMOTIONS.index("happy")] == 7215
    # Kaggle's names are aliases of the file's split values
    assert len(fer.load_split("Training", fer_npz)) == 28709


def test_unknown_split_and_missing_file_give_clear_errors(tmp_path, fer_npz):
    with pytest.raises(fer.DataError, match="unknown FER-2013 split 'validation'"):
        fer.load_split("validation", fer_npz)
    with pytest.raises(fer.DataError, match="not found"):
        fer.load_split("train", tmp_path / "nope.npz")


def test_stratified_subset_keeps_every_class(fer_npz):
    split = fer.load_split("train", fer_npz, subset=256, seed=3)
    assert 250 <= len(split) <= 262
    assert np.all(split.counts() >= 1)
    again = fer.load_split("train", fer_npz, subset=256, seed=3)
    assert np.array_equal(split.y, again.y) and np.array_equal(split.x, again.x)
    assert len(fer.load_split("PublicTest", fer_npz, subset=0.1)) == pytest.approx(359, abs=7)


def test_class_weights_lift_rare_classes(fer_npz):
    y = fer.load_split("train", fer_npz).y
    w = fer.class_weights(y, power=0.5)
    assert w.shape == (7,)
    assert np.argmax(w) == EMOTIONS.index("disgust") and np.argmin(w) == EMOTIONS.index("happy")
    assert np.mean(w[y]) == pytest.approx(1.0, rel=1e-5)  # mean weight per sample is 1
    balanced = fer.class_weights(y, power=1.0)
    counts = np.bincount(y, minlength=7)
    assert balanced[1] / balanced[3] == pytest.approx(counts[3] / counts[1], rel=1e-4)  # 7215 / 436
    assert np.allclose(fer.class_weights(y, power=0.0), 1.0)
    with pytest.raises(fer.DataError, match="every class"):
        fer.class_weights(np.array([0, 1, 2]))


def test_augmentation_keeps_shape_dtype_and_range_and_is_reproducible(fer_npz):
    x = fer.load_split("PrivateTest", fer_npz).x[:64]
    a = fer.augment(x, np.random.default_rng(0))
    b = fer.augment(x, np.random.default_rng(0))
    assert a.shape == x.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.mean(a != x) > 0.3  # it does change the faces
    only_flip = fer.AugmentConfig(shift=0, rotation=0, zoom=0, erase_p=0)
    f = fer.augment(x, np.random.default_rng(1), only_flip)
    for orig, out in zip(x, f):
        assert np.array_equal(out, orig) or np.array_equal(out, orig[:, ::-1])
    assert np.array_equal(fer.flip_horizontal(x[:2]), x[:2, :, ::-1])


def test_training_sequence_batches(fer_npz):
    split = fer.load_split("train", fer_npz, subset=100)
    w = fer.class_weights(split.y)
    seq = fer.make_sequence(split, 32, training=True, seed=0, weights=w)
    assert len(seq) == 4
    x, y, sw = seq[0]
    assert x.shape == (32, 48, 48, 1) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (32, 7) and np.allclose(y.sum(axis=1), 1)
    assert np.allclose(sw, w[np.argmax(y, axis=1)])
    first = seq[0][1].copy()
    seq.on_epoch_end()
    assert seq.epoch == 1 and not np.array_equal(seq[0][1], first)  # reshuffled per epoch
    val = fer.make_sequence(split, 64, training=False)
    assert len(val[0]) == 2 and np.array_equal(val[0][0][..., 0], split.x[:64] / np.float32(255))


# ----------------------------------------------------------------------------------------------------- model

def test_model_outputs_softmax_over_seven_classes():
    from core.training.model import ModelConfig, build_model

    model = build_model(ModelConfig())
    assert model.input_shape == (None, 48, 48, 1)
    p = np.asarray(model(np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32), training=False))
    assert p.shape == (3, 7) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5) and np.all(p >= 0)
    assert 0.8e6 < model.count_params() < 3e6


# ------------------------------------------------------------------------------------------ train and resume

def test_one_epoch_then_resume_continues_the_epoch_counter(tmp_path, fer_npz):
    from core.training.train import BEST, HISTORY, LAST, Recipe, TrainingError, read_state, train

    recipe = Recipe(epochs=2, subset=64, val_subset=64, batch_size=32, seed=1)
    ck = tmp_path / "ck"
    state = train(recipe, checkpoint_dir=ck, data_path=fer_npz, max_epochs=1, threads=2)
    assert state["epoch"] == 1 and [h["epoch"] for h in state["history"]] == [1]
    for name in (LAST, BEST, HISTORY):
        assert (ck / name).is_file()
    assert (ck / LAST).stat().st_size < 12e6 and (ck / BEST).stat().st_size < 4e6
    assert not list(ck.glob(".*"))  # no temp files left by the atomic writes
    saved = read_state(ck / LAST)
    assert saved["epoch"] == 1 and saved["recipe"]["subset"] == 64

    with pytest.raises(TrainingError, match="--resume"):  # a fresh run never clobbers a checkpoint
        train(recipe, checkpoint_dir=ck, data_path=fer_npz)

    resumed = train(checkpoint_dir=ck, resume=True, data_path=fer_npz, threads=2)
    assert resumed["epoch"] == 2
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    steps = resumed["model"].optimizer.iterations.numpy()
    assert steps == 2 * 2  # 64 samples / 32 per batch, two epochs: the optimizer's counter was restored
    history = json.loads((ck / HISTORY).read_text())
    assert [h["epoch"] for h in history["history"]] == [1, 2]
    assert read_state(ck / LAST)["training_seconds"] > 0

    done = train(checkpoint_dir=ck, resume=True, data_path=fer_npz)  # nothing left to do: returns at once
    assert done["epoch"] == 2
    extended = train(checkpoint_dir=ck, resume=True, data_path=fer_npz, extend_epochs=3)  # a longer schedule
    assert extended["epoch"] == 3 and read_state(ck / LAST)["recipe"]["epochs"] == 3
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(checkpoint_dir=tmp_path / "empty", resume=True, data_path=fer_npz)


# ------------------------------------------------------------------------------------------------ TFLite export

def test_tflite_export_matches_keras_on_real_faces(tmp_path, fer_npz):
    import keras

    from core.training.export import TFLiteRunner, export_tflite, keras_predict
    from core.training.model import ModelConfig, build_model

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig())
    faces = fer.to_float(fer.load_split("PrivateTest", fer_npz, subset=64).x)
    path = export_tflite(model, tmp_path / "m.tflite", "float16")
    assert 1e6 < path.stat().st_size < 4e6  # float16 weights: about 2 bytes per parameter
    runner = TFLiteRunner(path)
    assert list(runner.input["shape"][1:]) == [48, 48, 1]
    got, want = runner(faces), keras_predict(model, faces)
    assert got.shape == (64, 7)
    assert np.max(np.abs(got - want)) < 1e-2
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-3)


def test_shipped_model_runs_through_own_backend_and_matches_its_card(fer_npz):
    from core.emotions import OWN_MODEL_CARD, OWN_MODEL_PATH, OwnEmotion
    from core.training.export import TFLiteRunner

    if not OWN_MODEL_PATH.is_file():
        pytest.fail(f"{OWN_MODEL_PATH} is missing: train and export it (docs/emotion-model.md)")
    card = json.loads(OWN_MODEL_CARD.read_text())
    assert card["input"] == "gray 48x48 [0,1]"
    assert set(card["per_class"]) == set(EMOTIONS)
    private = fer.load_split("PrivateTest", fer_npz)
    probabilities = TFLiteRunner(OWN_MODEL_PATH)(fer.to_float(private.x))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == private.y))
    assert accuracy == pytest.approx(card["accuracy"]["PrivateTest"], abs=2e-3)
    assert accuracy > 0.55  # far above the 25% majority-class rate
    own = OwnEmotion()
    bgr = np.repeat(private.x[:8, :, :, None], 3, axis=3)  # the engine hands BGR crops
    results = own.predict(list(bgr))
    assert [r.label for r in results] == [EMOTIONS[i] for i in probabilities[:8].argmax(axis=1)]


def test_every_split_is_sharp_and_batches_are_not_blurred(fer_npz):
    """The recipe trains and validates on faces as they are: the training split must be as sharp as the test splits
    (an earlier pack's was blurred, median variance of the Laplacian 6), and a validation batch is the faces
    themselves."""
    medians = {name: float(np.median(fer.sharpness(fer.load_split(name, fer_npz, subset=300).x)))
               for name in fer.SPLITS}
    assert min(medians.values()) > 500 and max(medians.values()) / min(medians.values()) < 1.5, medians
    val = fer.load_split("PublicTest", fer_npz, subset=64)
    x, _ = fer.make_sequence(val, 64, training=False)[0]
    assert np.array_equal(x, fer.to_float(val.x[:64]))
