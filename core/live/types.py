"""The immutable values the live camera's threads hand to each other (callback, worker, page, status file)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from core.types import Observation

#: Where the models run: "process" (a child process, see core.live.remote) or "thread" (this process).
AnalysisMode = Literal["process", "thread"]


@dataclass(frozen=True)
class PendingFrame:
    """A frame waiting in the slot: pixels plus when (perf_counter and wall clock) the callback received it."""

    image: np.ndarray
    frame_no: int
    captured_at: float  # time.perf_counter() at callback entry
    captured_wall: dt.datetime


@dataclass(frozen=True)
class StageTimes:
    """Where one analysed frame's time went (ms). ``detect`` includes sending the frame to the analysis process;
    ``identify`` and ``emotion`` are 0 on frames where no face was due; ``wait`` is the time the session waited for
    its turn on the shared models."""

    wait_ms: float = 0.0
    detect_ms: float = 0.0
    identify_ms: float = 0.0
    emotion_ms: float = 0.0
    track_ms: float = 0.0


@dataclass(frozen=True)
class LiveResult:
    """One finished analysis of one frame (immutable: it is read by the callback thread and the page)."""

    seq: int  # 1, 2, 3 ... analyses done by this processor
    frame_no: int  # which received frame was analysed (gaps = frames dropped in between)
    captured_at: float
    finished_at: float
    analysis_ms: float
    observations: tuple[Observation, ...]
    labels: tuple[str, ...]
    held: tuple[Observation, ...] = ()  # faces missed in this frame but seen just before: drawn, not stored
    stages: StageTimes = field(default_factory=StageTimes)
    identified: int = 0  # faces embedded for this frame (the others kept their track's identity)

    @property
    def latency_ms(self) -> float:
        """Capture -> result: the time the frame waited in the slot plus the analysis itself."""
        return (self.finished_at - self.captured_at) * 1000.0


@dataclass(frozen=True)
class LiveStats:
    """A snapshot of the processor's counters, safe to hand to another thread (the page, the status file)."""

    running: bool
    received: int  # frames the callback got
    analysed: int  # frames the worker analysed
    dropped: int  # frames replaced in the slot before the worker took them (never analysed)
    pending: int  # 0 or 1: a frame waiting in the slot now
    overlaid: int  # returned frames that carried boxes from a result
    processing_fps: float  # analysed frames per second over the last few seconds
    latency_ms: float | None  # capture -> result of the latest result
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    analysis_ms: float | None  # model time of the latest result
    callback_p50_ms: float | None
    callback_p99_ms: float | None
    callback_max_ms: float | None
    faces: int  # faces in the latest result
    labels: tuple[str, ...]  # labels drawn now, e.g. ("Ada Lovelace | neutral 81%", "unknown")
    recording: bool
    interval_s: float
    rows_written: int
    last_write: str | None  # ISO time of the last stored row
    store_errors: int
    analysis_errors: int
    last_error: str | None
    emotion_enabled: bool
    output_fps: float = 0.0  # frames returned by the callback per second (with or without boxes)
    identity_latency_ms: float | None = None  # median time from a face's first detection to its name (recent faces)
    identity_latency_max_ms: float | None = None
    identified: int = 0  # faces identified (embedded) since the start
    identified_per_s: float = 0.0  # faces embedded per second (new and open tracks, re-checks)
    stage_ms: dict[str, float] = field(default_factory=dict)  # median per stage over recent results (StageTimes)
    seen_workers: tuple[str, ...] = field(default_factory=tuple)  # display names recognised since start
    starting: bool = False  # the analysis process is still loading its models
    analysis_mode: AnalysisMode = "thread"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["seen_workers"] = list(self.seen_workers)
        return data
