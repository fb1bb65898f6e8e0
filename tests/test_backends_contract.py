"""One contract per registry, parametrized over every registered backend (like timm's create_model tests).

Contract: a backend either works on real faces, or - where its weights cannot be had offline - fails at creation
with WeightsMissingError naming the file and where to put it. Nothing in between.
"""

import numpy as np
import pytest

from core.detectors import DETECTORS, create_detector
from core.embedders import EMBEDDERS, create_embedder, distance
from core.emotions import EMOTION_BACKENDS, create_emotion_model
from core.errors import WeightsMissingError
from core.images import load_image
from core.types import EMOTIONS, EmotionResult
from tests.conftest import photos


@pytest.fixture(scope="module")
def two_people():
    a = [load_image(p) for p in photos("jerry_seinfeld", "val")[:3]]
    b = [load_image(p) for p in photos("madonna", "val")[:3]]
    return a, b


@pytest.mark.parametrize("name", DETECTORS.names())
def test_detector_contract(name, two_people, engine):
    detector = create_detector(name, min_confidence=0.5, min_face_size=20)
    found = 0
    for image in two_people[0] + two_people[1]:
        faces = detector.detect(image)
        for face in faces:
            b = face.box
            assert 0 <= b.x and 0 <= b.y and b.x + b.w <= image.shape[1] + 1 and b.y + b.h <= image.shape[0] + 1
            assert face.crop.dtype == np.uint8 and face.crop.ndim == 3 and face.crop.shape[2] == 3
            assert face.detector == name
        found += len(faces) >= 1
    assert found >= 5, f"{name} found a face in only {found} of 6 portrait photos"
    assert detector.detect(np.full((200, 200, 3), 128, np.uint8)) == []  # blank frame: no face


@pytest.mark.parametrize("name", EMBEDDERS.names())
def test_embedder_contract(name, two_people, engine):
    try:
        embedder = create_embedder(name, engine.weights_dir)
    except WeightsMissingError as exc:
        message = str(exc)
        assert ".h5" in message or ".dat" in message, message
        assert str(engine.weights_dir) in message and "Download" in message
        return
    crops = [engine.detect(image)[0].crop for image in two_people[0] + two_people[1]]
    vectors = embedder.embed(crops)
    assert vectors.shape == (6, embedder.dim) and np.isfinite(vectors).all()
    d = distance(vectors, vectors, "cosine")
    same = np.r_[d[0, 1:3], d[3, 4:6]].mean()
    different = d[:3, 3:].mean()
    assert same < different, f"{name}: same-person distance {same:.3f} not below different-person {different:.3f}"


@pytest.mark.parametrize("name", EMOTION_BACKENDS.names())
def test_emotion_contract(name, fer2013, engine):
    try:
        model = create_emotion_model(name, engine.weights_dir)
    except WeightsMissingError as exc:
        assert "FACEDASH_EMOTION_BACKEND" in str(exc) or "train" in str(exc), str(exc)
        return
    faces, labels = fer2013
    results = model.predict(faces)
    assert len(results) == len(faces)
    assert all(isinstance(r, EmotionResult) and len(r.scores) == len(EMOTIONS) for r in results)
    assert all(abs(sum(r.scores) - 1) < 1e-6 for r in results)
    accuracy = np.mean([r.label == EMOTIONS[y] for r, y in zip(results, labels)])
    assert accuracy > 0.35, f"{name}: {accuracy:.0%} on 200 FER-2013 faces is near chance (14%)"
    assert model.predict([]) == []


@pytest.fixture(scope="module")
def fer2013(shared_data):
    import cv2

    data = np.load(shared_data / "fer2013" / "fer2013.npz")
    index = np.where(data["split"] == "PrivateTest")[0][:200]
    faces = [cv2.cvtColor(data["pixels"][i], cv2.COLOR_GRAY2BGR) for i in index]
    return faces, data["label"][index]


def test_vgg_face_missing_weights_gives_one_actionable_error(tmp_path):
    with pytest.raises(WeightsMissingError) as info:
        create_embedder("VGG-Face", tmp_path)
    message = str(info.value)
    assert "vgg_face_weights.h5" in message and str(tmp_path / "vgg_face_weights.h5") in message
    assert "FACEDASH_RECOGNITION_MODEL=Dlib" in message


def test_deepface_emotion_missing_weights_gives_one_actionable_error(tmp_path):
    with pytest.raises(WeightsMissingError, match="facial_expression_model_weights.h5"):
        create_emotion_model("deepface", tmp_path)


def test_auto_recognition_falls_back_to_dlib_and_says_why(tmp_path):
    from core.embedders import resolve_recognition_model

    choice = resolve_recognition_model("auto", tmp_path)
    assert choice.name == "Dlib" and "VGG-Face weights" in choice.reason and "not found" in choice.reason
    (tmp_path / "vgg_face_weights.h5").write_bytes(b"x")
    assert resolve_recognition_model("auto", tmp_path).name == "VGG-Face"
