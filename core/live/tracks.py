"""Faces followed across a live stream: detect every analysed frame, identify rarely, estimate emotion at a bounded rate.

The live page detects faces on every frame it analyses (a fast detector on a downscaled frame, see
docs/detectors.md) and follows each face from detection to detection by box overlap. The expensive model calls
are made per *track*, not per frame:

- **identity** (an embedding, ~60 ms per face here): on every analysed frame while the track's vote is open (a new
  face, or fewer than ``window`` votes and no decision yet), then once every ``recheck_s`` seconds. The vote is the
  one of :class:`core.tracking.Track`: a worker is named once ``min_votes`` of the last ``window`` answers agree
  and no other answer has as many, so a lucky frame still never names a stranger.
- **emotion**: at most once every ``emotion_interval_s`` per track (all due faces of a frame in one batch); the
  emotion shown and stored is the mean of the track's last ``emotion_window`` estimates, as in core/tracking.py.

Between identity checks a track keeps its decision and its last :class:`core.types.IdentityMatch`; the observation
of each frame carries the track's current box. A track not detected for ``max_gap_s`` is dropped (a person who
walks away and comes back starts a new vote); one missed for a moment is still drawn (``hold_s``) so a single
missed detection does not make its box blink.

Pure Python over core.types values, one tracker per stream, fed in order from one thread: no models, no locks.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.tracking import Track, associate, check_smoothing
from core.types import DetectedFace, EmotionResult, IdentityMatch, Observation

#: The identity of a face whose first identification has not run yet: unknown, no distance.
PENDING = IdentityMatch(None, float("nan"), float("nan"), "", "", None)


@dataclass
class LiveTrack(Track):
    """A :class:`core.tracking.Track` plus what the live scheduler needs: when it was identified and felt last."""

    first_seen: float = 0.0
    identified_at: float = float("-inf")
    emotion_at: float = float("-inf")
    named_at: float | None = None  # when the vote first named a worker (time to first name = named_at - first_seen)
    face: DetectedFace | None = None
    identity: IdentityMatch | None = None  # the latest 1:N answer (its worker_id replaced by the vote when drawn)
    emotion: EmotionResult | None = None  # the mean of the recent estimates
    decided: str | None = None
    asking: int = 0  # identifications of this face in flight (core/live/identity.py)
    newly_named: bool = field(default=False, repr=False)  # named by the last apply(); read once (take_named)


@dataclass(frozen=True)
class Plan:
    """Which faces of a frame need an identity and which an emotion (index-aligned with the detections)."""

    identify: tuple[bool, ...]
    emotion: tuple[bool, ...]

    @property
    def anything(self) -> bool:
        return any(self.identify) or any(self.emotion)


class LiveTracker:
    """One live stream's tracks. ``update`` -> ``plan`` -> ``apply`` -> ``observations``, once per analysed frame."""

    def __init__(self, *, window: int = 5, min_votes: int = 3, emotion_window: int = 5, recheck_s: float = 3.0,
                 emotion_interval_s: float = 0.2, min_iou: float = 0.3, max_gap_s: float = 1.5,
                 hold_s: float = 0.5, identify_per_frame: int = 1) -> None:
        check_smoothing(window, min_votes, emotion_window)
        self.window, self.min_votes, self.emotion_window = window, min_votes, emotion_window
        self.recheck_s, self.emotion_interval_s = recheck_s, emotion_interval_s
        self.min_iou, self.max_gap_s, self.hold_s = min_iou, max_gap_s, hold_s
        self.identify_per_frame = identify_per_frame
        self.tracks: list[LiveTrack] = []
        self._ids = itertools.count(1)

    @staticmethod
    def settings_config(settings) -> tuple:
        return (settings.identity_vote_window, settings.identity_vote_min, settings.emotion_smoothing_frames,
                settings.live_identity_recheck_s, settings.live_emotion_interval_s)

    @classmethod
    def from_settings(cls, settings) -> LiveTracker:
        window, min_votes, emotion_window, recheck_s, emotion_interval_s = cls.settings_config(settings)
        return cls(window=window, min_votes=min_votes, emotion_window=emotion_window, recheck_s=recheck_s,
                   emotion_interval_s=emotion_interval_s)

    @property
    def config(self) -> tuple:
        return self.window, self.min_votes, self.emotion_window, self.recheck_s, self.emotion_interval_s

    # ------------------------------------------------------------------ per analysed frame
    def update(self, faces: Sequence[DetectedFace], now: float) -> list[LiveTrack]:
        """Match this frame's detections to tracks (new faces start tracks); returns one track per detection."""
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self.max_gap_s]
        assigned = associate([f.box for f in faces], self.tracks, self.min_iou)
        out: list[LiveTrack] = []
        for index, face in enumerate(faces):
            track = assigned.get(index)
            if not isinstance(track, LiveTrack):
                track = LiveTrack(next(self._ids), face.box, now, deque(maxlen=self.window),
                                  deque(maxlen=self.emotion_window), first_seen=now)
                self.tracks.append(track)
            track.box, track.last_seen, track.face = face.box, now, face
            out.append(track)
        return out

    def vote_open(self, track: LiveTrack) -> bool:
        """A face whose first vote can still name a worker: no name yet, its window not full, and some worker can
        still reach ``min_votes`` in it (a stranger's vote closes after ``window - min_votes + 1`` unknowns)."""
        if track.decided is not None or len(track.votes) >= self.window:
            return False
        return _best_votes(track) + self.window - len(track.votes) >= self.min_votes

    def _wants_identity(self, track: LiveTrack, now: float) -> bool:
        """Whether to ask about ``track`` on this frame. An open vote may have as many answers in flight (each of
        its own frame) as it still needs agreeing votes: the identity process works through them back to back
        instead of waiting a frame between them, which shortens the time to the first name. A re-check: one."""
        if track.asking == 0:
            return self.vote_open(track) or now - track.identified_at >= self.recheck_s
        return (self.vote_open(track) and track.asking < self.min_votes - _best_votes(track)
                and len(track.votes) + track.asking < self.window)

    def plan(self, tracks: Sequence[LiveTrack], now: float, emotion_enabled: bool) -> Plan:
        """What to ask the models for this frame. Identity: at most ``identify_per_frame`` faces (an answer takes
        about 60-120 ms and comes back on a later frame; see ``_wants_identity``), open votes first (fewest answers
        in flight, then the oldest face), then re-checks that are due (the longest unchecked first). Emotion: every
        face whose interval is up (cheap, one batch)."""
        def open_first(i: int) -> tuple:
            track = tracks[i]
            return (not self.vote_open(track), track.asking,
                    track.identified_at if track.votes else track.first_seen)

        due = [i for i, t in enumerate(tracks) if self._wants_identity(t, now)]
        chosen = set(sorted(due, key=open_first)[: self.identify_per_frame])
        identify = tuple(i in chosen for i in range(len(tracks)))
        emotion = tuple(emotion_enabled and now - t.emotion_at >= self.emotion_interval_s for t in tracks)
        return Plan(identify, emotion)

    def apply(self, tracks: Sequence[LiveTrack], identities: Sequence[IdentityMatch | None],
              emotions: Sequence[EmotionResult | None], now: float) -> None:
        """Add this frame's answers (None: not asked this frame) to the tracks' votes and emotion windows."""
        for track, match, feeling in zip(tracks, identities, emotions):
            if match is not None:
                self.apply_identity(track, match, now)
            if feeling is not None:
                track.emotion_at = now
                track.emotions.append(feeling.scores)
                track.emotion = track.mean_emotion(feeling)

    def apply_identity(self, track: LiveTrack, match: IdentityMatch | None, asked_at: float) -> None:
        """One identification of ``track`` (of a frame captured at ``asked_at``) is back: add its vote. ``None``:
        it failed; the face is asked about again on a later frame. A track dropped meanwhile is not revived."""
        track.asking = max(0, track.asking - 1)
        if match is None:
            return
        track.identity, track.identified_at = match, asked_at
        track.votes.append(match.worker_id)
        track.decided = track.decide(self.min_votes)
        if track.decided is not None and track.named_at is None:
            track.named_at = asked_at
            track.newly_named = True

    def observations(self, tracks: Sequence[LiveTrack], when, source: str) -> list[Observation]:
        """The detected faces as observations: the track's voted name and mean emotion (what is drawn and stored).

        A track not identified yet gets :data:`PENDING` (drawn as "unknown", as every face is until its vote
        names it; never stored: the storage policy keeps enrolled workers only)."""
        return [self._observation(t, when, source) for t in tracks if t.face is not None]

    def held(self, seen: Sequence[LiveTrack], now: float, when, source: str) -> list[Observation]:
        """Tracks not detected in this frame but seen within ``hold_s``: drawn at their last box, never stored."""
        current = {t.track_id for t in seen}
        return [self._observation(t, when, source) for t in self.tracks
                if t.track_id not in current and now - t.last_seen <= self.hold_s and t.face is not None]

    def _observation(self, track: LiveTrack, when, source: str) -> Observation:
        assert track.face is not None
        identity = track.identity or PENDING
        if identity.worker_id != track.decided:
            identity = dataclasses.replace(identity, worker_id=track.decided)
        return Observation(when, source, track.face, identity, track.emotion)

    def take_name_latencies(self, now: float) -> list[float]:
        """Seconds from a track's first detection to ``now`` (when its name is published), for the tracks named
        since the last call: the time to first name a viewer sees, detection and the deciding embedding included."""
        out = []
        for track in self.tracks:
            if track.newly_named:
                out.append(now - track.first_seen)
                track.newly_named = False
        return out


def _best_votes(track: LiveTrack) -> int:
    """How many of the track's votes name its most-voted worker (unknown answers do not count)."""
    return max((n for worker, n in Counter(track.votes).items() if worker is not None), default=0)


__all__ = ["PENDING", "LiveTrack", "LiveTracker", "Plan"]
