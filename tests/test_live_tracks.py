"""The live tracker (core/live/tracks.py) and the analyzer's turn queue (core/live/turns.py) on hand-made sequences:
what is identified when, what is drawn between detections, and that sessions sharing the models alternate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import cv2
import pytest

from core.live.tracks import LiveTracker
from core.live.turns import FairTurns
from core.types import EMOTIONS, Box, DetectedFace, EmotionResult, IdentityMatch

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
FACE_BOX = Box(100, 80, 90, 90)
OTHER_BOX = Box(300, 60, 80, 80)
STEP_S = 0.0625  # 16 analysed frames per second (a binary fraction: the times add up exactly)


@pytest.fixture(scope="module")
def face_crop(faces_dir):
    image = cv2.imread(str(sorted((faces_dir / "madonna").glob("val__*"))[0]))
    return image[:80, :80].copy()


def face(crop, box: Box) -> DetectedFace:
    return DetectedFace(box=box, confidence=0.99, crop=crop, detector="blazeface")


def match(worker: str | None) -> IdentityMatch:
    return IdentityMatch(worker, 0.04 if worker else 0.09, 0.055, "Dlib", "cosine", nearest_worker_id=worker or "ada")


def happy(p: float = 0.8) -> EmotionResult:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return EmotionResult.from_probabilities([p if e == "happy" else rest for e in EMOTIONS], "fer")


def step(tracker: LiveTracker, crop, answers: dict, now: float, boxes=(FACE_BOX,), emotion: bool = False):
    """One analysed frame: detections at ``boxes``; the model answers ``answers[box]`` where the plan asks."""
    tracks = tracker.update([face(crop, b) for b in boxes], now)
    plan = tracker.plan(tracks, now, emotion_enabled=emotion)
    identities = [match(answers.get(b)) if want else None for b, want in zip(boxes, plan.identify)]
    emotions = [happy() if want else None for want in plan.emotion]
    tracker.apply(tracks, identities, emotions, now)
    return plan, tracker.observations(tracks, NOW, "live")


def test_a_new_face_is_identified_every_frame_until_named_then_rarely(face_crop):
    tracker = LiveTracker(window=5, min_votes=3, recheck_s=1.0)
    asked = []
    for i in range(40):  # 2.5 s
        moved = dataclasses.replace(FACE_BOX, x=FACE_BOX.x + i)  # the face drifts; the track follows it
        plan, observations = step(tracker, face_crop, {moved: "ada"}, i * STEP_S, boxes=(moved,))
        asked.append(plan.identify[0])
        assert len(observations) == 1
        assert observations[0].face.box == moved, "the drawn box is this frame's detection"
        assert observations[0].identity.worker_id == ("ada" if i >= 2 else None), i
    # named from its third frame; after that one re-check per second (16 frames)
    assert [i for i, a in enumerate(asked) if a] == [0, 1, 2, 18, 34]
    assert len(tracker.tracks) == 1
    # time to name: from the first detection to when the name is published (the caller's clock)
    assert tracker.take_name_latencies(3.0) == [3.0] and tracker.take_name_latencies(3.0) == []


def test_a_stranger_is_voted_unknown_then_rechecked_and_one_lucky_frame_names_nobody(face_crop):
    tracker = LiveTracker(window=5, min_votes=3, recheck_s=0.5)
    answers = [None, "ada", None, None, None] + [None] * 30
    asked, named = [], []
    lucky = iter(answers)
    for i in range(35):
        tracks = tracker.update([face(face_crop, FACE_BOX)], i * STEP_S)
        plan = tracker.plan(tracks, i * STEP_S, emotion_enabled=False)
        tracker.apply(tracks, [match(next(lucky)) if plan.identify[0] else None], [None], i * STEP_S)
        asked.append(plan.identify[0])
        named.append(tracker.observations(tracks, NOW, "live")[0].identity.worker_id)
    assert named == [None] * 35
    # the vote closes once no worker can reach 3 of 5 (after the 4th answer here), then one re-check every 0.5 s
    assert [i for i, a in enumerate(asked) if a] == [0, 1, 2, 3, 11, 19, 27]
    stranger = LiveTracker(window=5, min_votes=3, recheck_s=10.0)
    asked = [step(stranger, face_crop, {}, i * STEP_S)[0].identify[0] for i in range(10)]
    assert asked == [True] * 3 + [False] * 7, "three unknowns: no worker can reach 3 of 5 any more"


def test_one_embedding_per_frame_new_faces_first(face_crop):
    tracker = LiveTracker(window=5, min_votes=3, recheck_s=0.25)
    step(tracker, face_crop, {FACE_BOX: "ada"}, 0.0)  # ada's track: first vote
    for i in (1, 2):
        step(tracker, face_crop, {FACE_BOX: "ada"}, i * STEP_S)  # named on its third
    # 0.5 s later ada's re-check is due and a new face appears: the new face goes first, one embedding a frame
    boxes = (FACE_BOX, OTHER_BOX)
    answers = {FACE_BOX: "ada", OTHER_BOX: None}
    plans = [step(tracker, face_crop, answers, 0.5 + i * STEP_S, boxes=boxes)[0].identify for i in range(5)]
    assert plans == [(False, True), (False, True), (False, True), (True, False), (False, False)]
    observations = step(tracker, face_crop, answers, 1.0, boxes=boxes)[1]
    assert [o.identity.worker_id for o in observations] == ["ada", None]


def test_emotion_is_estimated_at_the_set_rate_and_averaged(face_crop):
    tracker = LiveTracker(emotion_window=3, emotion_interval_s=0.2)
    felt = []
    for i in range(20):
        plan, observations = step(tracker, face_crop, {FACE_BOX: "ada"}, i * STEP_S, emotion=True)
        felt.append(plan.emotion[0])
        assert observations[0].emotion is not None and observations[0].emotion.label == "happy"
    assert [i for i, f in enumerate(felt) if f] == [0, 4, 8, 12, 16]
    off = LiveTracker()
    plan, observations = step(off, face_crop, {FACE_BOX: "ada"}, 0.0, emotion=False)
    assert plan.emotion == (False,) and observations[0].emotion is None


def test_each_face_keeps_its_own_track_and_a_missed_detection_is_held_briefly(face_crop):
    tracker = LiveTracker(window=1, min_votes=1, hold_s=0.3, max_gap_s=1.0)
    step(tracker, face_crop, {FACE_BOX: "ada", OTHER_BOX: None}, 0.0, boxes=(FACE_BOX, OTHER_BOX))
    # the second face is missed by the detector for a moment: still drawn (held), never stored
    tracks = tracker.update([face(face_crop, FACE_BOX)], 0.1)
    held = tracker.held(tracks, 0.1, NOW, "live")
    assert [o.face.box for o in held] == [OTHER_BOX] and held[0].identity.worker_id is None
    assert [o.face.box for o in tracker.held(tracker.update([face(face_crop, FACE_BOX)], 0.5), 0.5, NOW, "live")] == []
    # back within max_gap_s: the same track (no new vote); after it: a new one
    ids = {t.track_id for t in tracker.tracks}
    tracker.update([face(face_crop, FACE_BOX), face(face_crop, OTHER_BOX)], 0.9)
    assert {t.track_id for t in tracker.tracks} == ids
    tracker.update([face(face_crop, FACE_BOX)], 1.5)
    tracker.update([face(face_crop, FACE_BOX), face(face_crop, OTHER_BOX)], 2.4)
    assert len({t.track_id for t in tracker.tracks} - ids) == 1


def test_tracker_rejects_a_vote_that_cannot_be_won():
    with pytest.raises(ValueError, match="min_votes"):
        LiveTracker(window=3, min_votes=4)
    with pytest.raises(ValueError, match="emotion_window"):
        LiveTracker(emotion_window=0)


def test_turns_are_served_in_the_order_asked():
    turns = FairTurns()
    order: list[int] = []
    turns.acquire()
    threads = []
    for n in range(5):
        thread = threading.Thread(target=lambda n=n: (turns.acquire(), order.append(n), turns.release()))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while turns.waiting < n + 1:  # queue them one after the other
            assert time.monotonic() < deadline
            time.sleep(0.001)
    turns.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        turns.release()


def test_sessions_that_ask_again_at_once_alternate():
    """Three 'sessions' each ask again right after their turn: every one gets about a third of the turns."""
    turns = FairTurns()
    counts = [0, 0, 0]
    stop = threading.Event()

    def session(n: int) -> None:
        while not stop.is_set():
            with turns.turn():
                counts[n] += 1
                time.sleep(0.002)  # the model call

    threads = [threading.Thread(target=session, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(5)
    assert min(counts) >= 0.9 * max(counts), counts


def test_answers_in_flight_an_open_vote_pipelines_what_it_still_needs(face_crop):
    """Identities come back on later frames (core/live/identity.py). An open vote asks on consecutive frames for as
    many answers as it still needs (3 agreeing votes: 3 in flight), then waits; a decided track re-checks one at a
    time; an answer that failed (None) lets the face be asked again."""
    tracker = LiveTracker(window=5, min_votes=3, recheck_s=1.0)
    asked = []
    for i in range(5):
        tracks = tracker.update([face(face_crop, FACE_BOX)], i * STEP_S)
        plan = tracker.plan(tracks, i * STEP_S, emotion_enabled=False)
        asked.append(plan.identify[0])
        if plan.identify[0]:
            tracks[0].asking += 1  # what LiveProcessor._ask does
    assert asked == [True, True, True, False, False]
    track = tracker.tracks[0]
    tracker.apply_identity(track, match("ada"), 0.0)
    tracker.apply_identity(track, None, STEP_S)  # failed: one vote is still needed and nothing asks for it
    assert track.asking == 1 and track.decided is None
    tracks = tracker.update([face(face_crop, FACE_BOX)], 5 * STEP_S)
    assert tracker.plan(tracks, 5 * STEP_S, emotion_enabled=False).identify == (True,)
    track.asking += 1
    tracker.apply_identity(track, match("ada"), 2 * STEP_S)
    tracker.apply_identity(track, match("ada"), 5 * STEP_S)
    assert track.decided == "ada" and track.asking == 0 and track.named_at == 5 * STEP_S
    later = 5 * STEP_S + 1.0  # the re-check: one at a time
    tracks = tracker.update([face(face_crop, FACE_BOX)], later)
    assert tracker.plan(tracks, later, emotion_enabled=False).identify == (True,)
    track.asking += 1
    tracks = tracker.update([face(face_crop, FACE_BOX)], later + STEP_S)
    assert tracker.plan(tracks, later + STEP_S, emotion_enabled=False).identify == (False,)
