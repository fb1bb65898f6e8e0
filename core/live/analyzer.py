"""What the live processor needs from "the models": the :class:`LiveAnalyzer` protocol and its in-process form.

Two implementations:

- :class:`EngineAnalyzer` (here): a :class:`core.engine.FaceEngine` in this process ("thread" mode; the tests).
- :class:`core.live.remote.ProcessAnalyzer`: the same engine in a child process ("process" mode, the page's
  default), because the Dlib embedder holds the GIL for its whole call (see docs/live.md).

The processor uses nothing else: no probing for optional attributes, no type checks on the analyzer.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core.errors import FaceDashError
from core.live.turns import FairTurns
from core.live.types import AnalysisMode
from core.types import DetectedFace, Observation

if TYPE_CHECKING:
    from core.config import Settings
    from core.engine import FaceDescriptions, FaceEngine


class AnalysisUnavailable(FaceDashError):
    """The analysis process could not start (its message says why), died or stopped answering."""

    http_status = 503


class LiveAnalyzer(Protocol):
    """The face models as the live processor sees them. ``analyze`` is called from one worker thread at a time
    per processor (several processors may share one analyzer); the properties are read from any thread."""

    @property
    def mode(self) -> AnalysisMode:
        """Where the models run: "process" or "thread" (shown on the page)."""
        ...

    @property
    def settings(self) -> Settings:
        """The settings the models were built from (the processor takes the tracker's vote rule from them)."""
        ...

    @property
    def ready(self) -> bool:
        """True once ``analyze`` can run."""
        ...

    @property
    def loading(self) -> bool:
        """True while the models are being loaded (frames are passed through unanalysed meanwhile)."""
        ...

    @property
    def error(self) -> str | None:
        """Why the models could not be loaded (then ``ready`` stays False), else None."""
        ...

    @property
    def emotion_enabled(self) -> bool:
        ...

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start loading if needed and wait up to ``timeout`` seconds; True when ready."""
        ...

    def turn(self) -> AbstractContextManager:
        """One session's turn on the models (first come, first served: sessions sharing the analyzer alternate)."""
        ...

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """The faces of one frame with the live detector (``settings.live_detector``, downscaled frame)."""
        ...

    def describe(self, image_bgr: np.ndarray, faces: list[DetectedFace], identify: list[bool],
                 emotion: list[bool], chip: list[bool] | None = None) -> FaceDescriptions:
        """Identity, emotion and/or aligned chips of the chosen faces of the frame just given to ``detect``."""
        ...

    def identify(self, chips: list[np.ndarray]) -> Future:
        """Who the chips (from ``describe(..., chip=...)``) are: a Future of an
        :class:`core.live.identity.IdentityAnswer`, answered beside detection; never blocks."""
        ...

    def analyze(self, image_bgr: np.ndarray, source: str, when: dt.datetime) -> list[Observation]:
        """One frame through the whole pipeline with the engine's detector (the naive per-frame way; benchmarks)."""
        ...

    def display_names(self) -> dict[str, str]:
        """worker id -> display name, read from the gallery now (enrollments made meanwhile included)."""
        ...

    def close(self) -> None:
        """Release what this analyzer owns (a child process); safe to call more than once."""
        ...


_ENGINE_TURNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ENGINE_TURNS_LOCK = threading.Lock()


def engine_turns(engine: FaceEngine) -> FairTurns:
    """The turn queue of one in-process engine (every adapter around the same engine shares it)."""
    with _ENGINE_TURNS_LOCK:
        turns = _ENGINE_TURNS.get(engine)
        if turns is None:
            turns = _ENGINE_TURNS[engine] = FairTurns()
        return turns


_ENGINE_IDENTITY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine_identity_thread(engine: FaceEngine) -> ThreadPoolExecutor:
    """The one thread that identifies chips for an in-process engine (every adapter around it shares it)."""
    with _ENGINE_TURNS_LOCK:
        pool = _ENGINE_IDENTITY.get(engine)
        if pool is None:
            pool = _ENGINE_IDENTITY[engine] = ThreadPoolExecutor(1, thread_name_prefix="facedash-live-identity")
            weakref.finalize(engine, pool.shutdown, wait=False)
        return pool


@dataclass(frozen=True)
class EngineAnalyzer:
    """A :class:`core.engine.FaceEngine` in this process: always ready, ``analyze`` runs in the caller's thread.

    The engine is shared (``dashboard.resources.engine`` owns it), so :meth:`close` leaves it alone. Two adapters
    around the same engine are equal (a page rerun that wraps the engine again changes nothing).
    """

    engine: FaceEngine

    @property
    def mode(self) -> AnalysisMode:
        return "thread"

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def ready(self) -> bool:
        return True

    @property
    def loading(self) -> bool:
        return False

    @property
    def error(self) -> str | None:
        return None

    @property
    def emotion_enabled(self) -> bool:
        return self.engine.emotion_enabled

    def wait_ready(self, timeout: float | None = None) -> bool:
        return True

    def turn(self) -> AbstractContextManager:
        return engine_turns(self.engine).turn()

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        return self.engine.detect_live(image_bgr)

    def describe(self, image_bgr: np.ndarray, faces: list[DetectedFace], identify: list[bool],
                 emotion: list[bool], chip: list[bool] | None = None) -> FaceDescriptions:
        return self.engine.describe(image_bgr, faces, identify, emotion, chip)

    def identify(self, chips: list[np.ndarray]) -> Future:
        from core.live.identity import identify_chips  # identity imports this module

        return engine_identity_thread(self.engine).submit(identify_chips, self.engine, chips)

    def analyze(self, image_bgr: np.ndarray, source: str, when: dt.datetime) -> list[Observation]:
        return self.engine.analyze(image_bgr, source=source, when=when)

    def display_names(self) -> dict[str, str]:
        return self.engine.gallery.display_names()

    def close(self) -> None:
        pass


__all__ = ["AnalysisUnavailable", "EngineAnalyzer", "LiveAnalyzer"]
