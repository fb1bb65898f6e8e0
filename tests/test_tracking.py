"""Tracking faces over a stream (core/tracking.py): the identity vote and the emotion mean on hand-made sequences,
then on real videos."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import cv2
import pytest

from core.errors import ConfigError
from core.tracking import FaceTracker, iou
from core.types import EMOTIONS, Box, DetectedFace, EmotionResult, IdentityMatch, Observation

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
FACE_BOX = Box(100, 80, 90, 90)


@pytest.fixture(scope="module")
def face_crop(faces_dir):
    image = cv2.imread(str(sorted((faces_dir / "madonna").glob("val__*"))[0]))
    return image[:80, :80].copy()


def observation(crop, box: Box, worker: str | None, distance: float = 0.05, emotion=None) -> Observation:
    face = DetectedFace(box=box, confidence=0.99, crop=crop, detector="opencv")
    identity = IdentityMatch(worker, distance, 0.055, "Dlib", "cosine", nearest_worker_id=worker or "madonna")
    return Observation(time=T0, source="live", face=face, identity=identity, emotion=emotion)


def run(tracker: FaceTracker, crop, answers, box=FACE_BOX, step_s: float = 0.1) -> list[str | None]:
    """Feed one face whose per-frame answers are ``answers``; the voted worker per frame."""
    out = []
    for i, worker in enumerate(answers):
        moved = dataclasses.replace(box, x=box.x + 2 * i)  # a face drifts a little between frames
        out.append(tracker.update([observation(crop, moved, worker)], i * step_s)[0].identity.worker_id)
    return out


def test_a_lucky_frame_never_names_a_stranger(face_crop):
    assert run(FaceTracker(), face_crop, [None, None, "ada", None, None, "ada", None]) == [None] * 7


def test_a_worker_is_named_from_the_third_agreeing_frame(face_crop):
    assert run(FaceTracker(), face_crop, ["ada"] * 5) == [None, None, "ada", "ada", "ada"]
    # one miss in the window does not drop the name
    assert run(FaceTracker(), face_crop, ["ada", "ada", "ada", None, "ada"])[2:] == ["ada", "ada", "ada"]


def test_a_tie_is_not_a_decision(face_crop):
    tracker = FaceTracker(window=4, min_votes=2)
    assert run(tracker, face_crop, ["ada", "bo", "ada", "bo"]) == [None, None, "ada", None]


def test_two_faces_are_voted_separately(face_crop):
    tracker = FaceTracker()
    left, right = Box(20, 40, 80, 80), Box(220, 40, 80, 80)
    named = []
    for i in range(4):
        frame = [observation(face_crop, right, None), observation(face_crop, left, "ada")]
        named.append([o.identity.worker_id for o in tracker.update(frame[:: 1 if i % 2 else -1], i * 0.1)])
    # the order of faces in a frame changes; the tracks follow the boxes
    assert named[3] == [None, "ada"] and named[2] == ["ada", None]
    assert len(tracker.tracks) == 2


def test_a_face_gone_longer_than_the_gap_starts_a_new_vote(face_crop):
    tracker = FaceTracker(max_gap_s=1.5)
    assert run(tracker, face_crop, ["ada"] * 3)[-1] == "ada"
    again = tracker.update([observation(face_crop, Box(104, 80, 90, 90), "ada")], 0.2 + 3.0)
    assert again[0].identity.worker_id is None and len(tracker.tracks) == 1


def test_voting_keeps_everything_but_the_name(face_crop):
    tracker = FaceTracker()
    raw = observation(face_crop, Box(100, 80, 90, 90), "ada", distance=0.051)
    voted = tracker.update([raw], 0.0)[0]
    assert voted.identity.worker_id is None
    assert (voted.identity.distance, voted.identity.nearest_worker_id, voted.face) == (0.051, "ada", raw.face)


def test_window_one_decides_each_frame_alone(face_crop):
    assert run(FaceTracker(window=1, min_votes=1), face_crop, [None, "ada", None]) == [None, "ada", None]


def emotion(label: str, weight: float = 0.6) -> EmotionResult:
    rest = (1 - weight) / (len(EMOTIONS) - 1)
    return EmotionResult.from_probabilities([weight if e == label else rest for e in EMOTIONS], "fer")


def test_emotion_is_the_mean_over_the_recent_frames(face_crop):
    tracker = FaceTracker(emotion_window=3)
    labels, scores = [], []
    for i, label in enumerate(["neutral", "neutral", "happy", "neutral", "happy", "happy", "happy"]):
        obs = observation(face_crop, Box(100 + i, 80, 90, 90), "ada", emotion=emotion(label))
        out = tracker.update([obs], i * 0.1)[0]
        labels.append(out.emotion.label)
        scores.append(out.emotion.scores)
    # a single happy frame among neutral ones does not flip the label; three in a row do
    assert labels == ["neutral", "neutral", "neutral", "neutral", "happy", "happy", "happy"]
    happy = EMOTIONS.index("happy")
    assert scores[2][happy] == pytest.approx((0.6 + 2 * 0.4 / 6) / 3)  # mean of the last 3 frames' scores
    assert sum(scores[2]) == pytest.approx(1.0)


def test_emotion_off_stays_off_and_window_one_keeps_each_frame(face_crop):
    tracker = FaceTracker()
    assert tracker.update([observation(face_crop, FACE_BOX, "ada")], 0.0)[0].emotion is None
    single = FaceTracker(emotion_window=1)
    for i, label in enumerate(["neutral", "happy", "neutral"]):
        out = single.update([observation(face_crop, FACE_BOX, "ada", emotion=emotion(label))], i * 0.1)[0]
        assert out.emotion.label == label


def test_iou():
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 10, 10), Box(20, 20, 5, 5)) == 0.0


def test_bad_vote_settings_are_clear_errors():
    from core.config import load_settings

    with pytest.raises(ValueError, match="min_votes"):
        FaceTracker(window=3, min_votes=4)
    with pytest.raises(ValueError, match="emotion_window"):
        FaceTracker(emotion_window=0)
    with pytest.raises(ConfigError, match="identity_vote_min \\(6\\) cannot exceed identity_vote_window \\(5\\)"):
        load_settings(identity_vote_min=6)


def _stranger_clip_names(engine, frames, fps):
    tracker = FaceTracker.from_settings(engine.settings)
    raw_named = voted_named = faces = 0
    nearest = []
    for index, frame in enumerate(frames):
        raw = engine.analyze(frame, source="video")
        voted = tracker.update(raw, index / fps)
        faces += len(raw)
        raw_named += sum(o.identity.worker_id is not None for o in raw)
        voted_named += sum(o.identity.worker_id is not None for o in voted)
        nearest += [o.identity.distance for o in raw]
    return faces, raw_named, voted_named, min(nearest)


def test_stranger_in_a_real_video_is_never_named(enrolled_gallery, engine_settings_factory, shared_data, tmp_path):
    """id2_vcd_swwp2s.mp4 shows a man who is not enrolled. With aligned chips no single 360x288 frame puts him within
    the shipped threshold (before chips 4 of 92 did); at a looser threshold single frames do name him and the vote
    over his recent frames removes most of those names."""
    from core.engine import FaceEngine
    from core.video import analyze_video, read_frames

    shutil.copytree(enrolled_gallery[0].folder, tmp_path / "gallery")
    engine = FaceEngine(engine_settings_factory(tmp_path, detector="opencv", recognition_model="Dlib"),
                        load_emotion=False)
    frames, fps = read_frames(shared_data / "video" / "id2_vcd_swwp2s.mp4")
    faces, raw_named, voted_named, nearest = _stranger_clip_names(engine, frames, fps)
    threshold, _ = engine.threshold()
    assert faces >= len(frames)
    assert raw_named == 0 and voted_named == 0, (raw_named, voted_named)
    # measured: his nearest frame is at 0.063 cosine (the shipped threshold is 0.052): a margin, not a coincidence
    assert nearest > threshold * 1.15, (nearest, threshold)
    # analyze_video (uploads, the CLI and the HTTP API; every 5th frame by default): nobody named
    result = analyze_video(engine, shared_data / "video" / "id2_vcd_swwp2s.mp4", every_n=5)
    assert result.rows and all(row["worker"] is None for row in result.rows)

    loose = FaceEngine(engine_settings_factory(tmp_path, detector="opencv", recognition_model="Dlib",
                                               identity_threshold=nearest * 1.08, identity_margin=0.0),
                       load_emotion=False)
    _, raw_loose, voted_loose, _ = _stranger_clip_names(loose, frames, fps)
    assert raw_loose >= 2, "the loose threshold should let single frames name the stranger"
    assert voted_loose * 2 < raw_loose, (raw_loose, voted_loose)


def test_emotion_labels_flicker_less_on_a_real_talking_head(engine, shared_data):
    """The session engine (fer) on id2_vcd_swwp2s.mp4, every 2nd frame: label changes of the smoothed emotion are
    fewer than of the single frames, and most frames keep their single-frame label."""
    from core.video import read_frames

    frames, fps = read_frames(shared_data / "video" / "id2_vcd_swwp2s.mp4")
    tracker = FaceTracker.from_settings(engine.settings)
    raw_labels, smoothed_labels = [], []
    for index in range(0, len(frames), 2):
        raw = engine.analyze(frames[index], source="video")
        smoothed = tracker.update(raw, index / fps)
        if raw:  # the speaker: the largest box (opencv finds a small second box now and then)
            speaker = max(range(len(raw)), key=lambda k: raw[k].face.box.w * raw[k].face.box.h)
            raw_labels.append(raw[speaker].emotion.label)
            smoothed_labels.append(smoothed[speaker].emotion.label)

    def changes(labels):
        return sum(a != b for a, b in zip(labels, labels[1:]))

    assert len(raw_labels) >= 25
    assert changes(raw_labels) >= 4, "single frames no longer flicker here: the test lost its point"
    assert changes(smoothed_labels) < changes(raw_labels)
    assert sum(a == b for a, b in zip(raw_labels, smoothed_labels)) >= 0.7 * len(raw_labels)
