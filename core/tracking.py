"""Faces over time: follow each face from frame to frame, name it by a vote over its recent frames, and average its
emotion scores over them.

A single-frame 1:N decision is noisy on low-resolution video: a stranger's face came within the Dlib threshold of
an enrolled worker in 4 of 92 faces of a 360x288 clip (docs/identity.md, benchmarks/bench_tracking.py). Live and
video analysis see the same face many times a second, so a stream decides who a face is from its last ``window``
frames: a worker is named once at least ``min_votes`` of them agree and no other answer ("unknown" included) has as
many votes. Until then the face is shown as unknown, and nothing is stored for a worker, so one lucky frame never
writes a row to the wrong person's timeline.

Faces are associated across frames by box overlap (greedy, highest IoU first), the usual tracking-by-detection
step; a track that is not seen for ``max_gap_s`` seconds is dropped, so a person who walks away and comes back
starts a new vote. Single photos are never smoothed (``window=1`` turns smoothing off for streams too).

Emotion scores of one frame flicker (fer on a talking head: 11 label changes in 75 frames); the tracker reports
the mean of the face's last ``emotion_window`` score vectors, which cut the label changes 2-3x on the clips in
../shared/data/video (11 -> 4, 35 -> 17, 2 -> 0) while keeping the single-frame label 77-96% of the time
(benchmarks/bench_tracking.py). The live overlay and the rows stored from a stream both use the mean
(``emotion_window=1`` = single frames).

Pure Python over :class:`core.types.Observation` values: no models, no Streamlit.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, deque
from dataclasses import dataclass

from core.types import Box, EmotionResult, Observation


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def check_smoothing(window: int, min_votes: int, emotion_window: int) -> None:
    """Refuse a vote that can never name anyone and an empty emotion window (both trackers' settings)."""
    if window < 1 or not 1 <= min_votes <= window:
        raise ValueError(f"identity vote: need 1 <= min_votes ({min_votes}) <= window ({window})")
    if emotion_window < 1:
        raise ValueError(f"emotion smoothing: need emotion_window >= 1, got {emotion_window}")


def associate(boxes, tracks, min_iou: float) -> dict:
    """Greedy one-to-one matching of this frame's boxes to tracks, highest IoU first: {box index: track}."""
    pairs = sorted(
        ((iou(box, track.box), index, track.track_id) for index, box in enumerate(boxes) for track in tracks),
        reverse=True,
    )
    by_id = {t.track_id: t for t in tracks}
    assigned: dict = {}
    used: set[int] = set()
    for overlap, index, track_id in pairs:
        if overlap < min_iou:
            break
        if index in assigned or track_id in used:
            continue
        assigned[index] = by_id[track_id]
        used.add(track_id)
    return assigned


@dataclass
class Track:
    """One face followed over frames: its last box, the raw per-frame answers (worker id or None) and emotion scores."""

    track_id: int
    box: Box
    last_seen: float
    votes: deque  # bounded: the vote window
    emotions: deque  # bounded: the emotion window

    def mean_emotion(self, latest: EmotionResult) -> EmotionResult:
        if len(self.emotions) < 2:
            return latest
        mean = [sum(column) / len(self.emotions) for column in zip(*self.emotions)]
        return EmotionResult.from_probabilities(mean, latest.model)

    def decide(self, min_votes: int) -> str | None:
        """The worker named by the vote, or None (unknown / not yet decided)."""
        (best, n), *rest = Counter(self.votes).most_common()  # update() appends a vote before deciding
        if best is None or n < min_votes:
            return None
        if rest and rest[0][1] == n:  # a tie is not a decision
            return None
        return best


class FaceTracker:
    """Smooths identities and emotions over a stream of frames.

    Not thread-safe: one tracker per stream, fed in order.
    """

    def __init__(self, window: int = 5, min_votes: int = 3, emotion_window: int = 5, min_iou: float = 0.3,
                 max_gap_s: float = 1.5) -> None:
        check_smoothing(window, min_votes, emotion_window)
        self.window, self.min_votes, self.emotion_window = window, min_votes, emotion_window
        self.min_iou, self.max_gap_s = min_iou, max_gap_s
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    @staticmethod
    def settings_config(settings) -> tuple[int, int, int]:
        """(window, min_votes, emotion_window) from FACEDASH_IDENTITY_VOTE_WINDOW / _MIN, _EMOTION_SMOOTHING_FRAMES."""
        return settings.identity_vote_window, settings.identity_vote_min, settings.emotion_smoothing_frames

    @classmethod
    def from_settings(cls, settings) -> FaceTracker:
        window, min_votes, emotion_window = cls.settings_config(settings)
        return cls(window=window, min_votes=min_votes, emotion_window=emotion_window)

    @property
    def config(self) -> tuple[int, int, int]:
        return self.window, self.min_votes, self.emotion_window

    @property
    def enabled(self) -> bool:
        return self.window > 1 or self.emotion_window > 1

    def update(self, observations: list[Observation] | tuple[Observation, ...], now: float) -> list[Observation]:
        """Observations of one frame (taken at ``now`` seconds, any monotonic clock) -> the same faces, smoothed.

        Each returned observation keeps its box and distance; ``identity.worker_id`` is the vote's answer
        (``nearest_worker_id`` still says who was nearest in this frame) and ``emotion`` the mean over the face's
        recent frames (None stays None: emotion analysis off).
        """
        if not self.enabled:
            return list(observations)
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self.max_gap_s]
        assigned = associate([obs.face.box for obs in observations], self.tracks, self.min_iou)
        out = []
        for index, obs in enumerate(observations):
            track = assigned.get(index)
            if track is None:
                track = Track(next(self._ids), obs.face.box, now, deque(maxlen=self.window),
                              deque(maxlen=self.emotion_window))
                self.tracks.append(track)
            track.box, track.last_seen = obs.face.box, now
            track.votes.append(obs.identity.worker_id)
            voted = track.decide(self.min_votes)
            if voted != obs.identity.worker_id:
                obs = dataclasses.replace(obs, identity=dataclasses.replace(obs.identity, worker_id=voted))
            if obs.emotion is not None:
                track.emotions.append(obs.emotion.scores)
                obs = dataclasses.replace(obs, emotion=track.mean_emotion(obs.emotion))
            out.append(obs)
        return out
