"""One contract per registry, parametrized over every registered backend (like timm's create_model tests).

Contract: a backend either works on real faces, or - where its weights cannot be had offline - fails at creation
with WeightsMissingError naming the file and where to put it. Nothing in between.
"""

import numpy as np
import pytest

from core.detectors import DETECTORS, create_detector
from core.embedders import EMBEDDERS, MODELS, create_embedder, distance
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


def _eyes_on_chip(chip, weights_dir):
    """Eye centres (fractions of the chip side) found by dlib's 5-point predictor run on the chip itself."""
    from core.alignment import eye_centres, landmarks5, points
    from core.types import Box, DetectedFace

    side = chip.shape[0]
    box = Box(int(side * 0.12), int(side * 0.12), int(side * 0.76), int(side * 0.76))
    left, right = eye_centres(points(landmarks5(chip, [DetectedFace(box, 1.0, chip)], weights_dir)[0]))
    return left / side, right / side


def _tilted(image, degrees):
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("name", EMBEDDERS.names())
def test_embedder_contract(name, two_people, engine):
    """Loads (or fails with the one missing-weights error); makes chips of its declared size with level eyes
    where the model expects them - also from a tilted photo -; same person closer than different people."""
    from core.alignment import DLIB5_EYE_CENTRES, ChipSpec, face_chips

    spec = EMBEDDERS_CHIPS[name]
    images = two_people[0] + two_people[1]
    tilted = _tilted(images[0], 15)
    faces_tilted = engine.detect(tilted)
    assert faces_tilted, "the detector must find the tilted face for this test"
    chips = face_chips(tilted, faces_tilted[:1], spec, engine.weights_dir) + [
        face_chips(image, engine.detect(image)[:1], spec, engine.weights_dir)[0] for image in images]
    for chip in chips:
        assert chip.shape == (spec.size, spec.size, 3) and chip.dtype == np.uint8
    if spec.kind == "dlib5":  # dlib's chip: eyes level and on dlib's template positions
        expected_left, expected_right = (np.array(p) for p in DLIB5_EYE_CENTRES[spec.padding])
        for chip in chips:
            left, right = _eyes_on_chip(chip, engine.weights_dir)
            assert np.abs(left - expected_left).max() < 0.06 and np.abs(right - expected_right).max() < 0.06, (left, right)
    else:  # DeepFace's alignment levels the eyes (the crop is then only resized and padded)
        for chip in chips[:1]:
            left, right = _eyes_on_chip(chip, engine.weights_dir)
            assert abs(right[1] - left[1]) / (right[0] - left[0]) < np.tan(np.radians(6)), (left, right)
    assert isinstance(spec, ChipSpec)
    try:
        embedder = create_embedder(name, engine.weights_dir)
    except WeightsMissingError as exc:
        message = str(exc)
        assert any(ext in message for ext in (".h5", ".dat", ".onnx")), message
        assert str(engine.weights_dir) in message and "Download" in message
        return
    assert embedder.chip == spec and embedder.key == f"{embedder.name}@{spec.version}"
    vectors = np.vstack([embedder.embed_faces(image, engine.detect(image)[:1]) for image in images])
    assert vectors.shape == (6, embedder.dim) and np.isfinite(vectors).all()
    d = distance(vectors, vectors, "cosine")
    same = np.r_[d[0, 1:3], d[3, 4:6]].mean()
    different = d[:3, 3:].mean()
    assert same < different, f"{name}: same-person distance {same:.3f} not below different-person {different:.3f}"


EMBEDDERS_CHIPS = {registry_key: chip for _model, (registry_key, _dim, _file, chip) in MODELS.items()}


def test_every_registered_embedder_declares_its_chip():
    assert sorted(EMBEDDERS_CHIPS) == EMBEDDERS.names()


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


def test_auto_recognition_prefers_the_strongest_model_present_and_says_why(tmp_path):
    from core.embedders import resolve_recognition_model

    choice = resolve_recognition_model("auto", tmp_path)
    assert choice.name == "Dlib" and "Facenet512 weights" in choice.reason and "not found" in choice.reason
    (tmp_path / "vgg_face_weights.h5").write_bytes(b"x")  # VGG-Face is weaker than aligned Dlib: not chosen
    assert resolve_recognition_model("auto", tmp_path).name == "Dlib"
    (tmp_path / "facenet512_weights.h5").write_bytes(b"x")
    assert resolve_recognition_model("auto", tmp_path).name == "Facenet512"


@pytest.mark.parametrize("model", ["Facenet512", "ArcFace", "SFace"])
def test_downloaded_models_fail_with_the_missing_weights_error(model, tmp_path):
    with pytest.raises(WeightsMissingError) as info:
        create_embedder(model, tmp_path)
    assert MODELS[model][2] in str(info.value) and "FACEDASH_RECOGNITION_MODEL=Dlib" in str(info.value)


def test_direct_dlib_gives_deepfaces_vectors_without_tensorflow(two_people, engine):
    """The "dlib" embedder calls dlib itself (no TensorFlow in the live page's identity process): it must give the
    very vectors DeepFace.represent(model_name="Dlib") gives, for the 150 px chips and for an odd-sized one, so the
    gallery's stored embeddings stay valid."""
    import subprocess
    import sys

    import cv2

    from core.embedders import DeepFaceEmbedder, DlibResNetEmbedder

    _, dim, weights_file, spec = MODELS["Dlib"]
    direct = create_embedder("dlib", engine.weights_dir)
    assert isinstance(direct, DlibResNetEmbedder)
    via_deepface = DeepFaceEmbedder("Dlib", dim, weights_file, engine.weights_dir, spec).load()
    images = two_people[0] + two_people[1]
    chips = [direct.chips(image, engine.detect(image)[:1])[0] for image in images]
    chips.append(cv2.resize(chips[0], (131, 97)))  # DeepFace resizes and pads anything else to 150 px
    np.testing.assert_array_equal(direct.embed(chips), via_deepface.embed(chips))
    probe = ("import sys; from core.embedders import create_embedder; from pathlib import Path; "
             f"create_embedder('dlib', Path({str(engine.weights_dir)!r})); "
             "print('tensorflow' in sys.modules, 'deepface' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.split() == ["False", "False"], loaded.stdout + loaded.stderr
