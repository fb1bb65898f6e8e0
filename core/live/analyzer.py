"""What the live processor needs from "the models": the :class:`LiveAnalyzer` protocol and its in-process form.

Two implementations:

- :class:`EngineAnalyzer` (here): a :class:`core.engine.FaceEngine` in this process ("thread" mode; the tests).
- :class:`core.live.remote.ProcessAnalyzer`: the same engine in a child process ("process" mode, the page's
  default), because the Dlib embedder holds the GIL for its whole call (see docs/live.md).

The processor uses nothing else: no probing for optional attributes, no type checks on the analyzer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core.errors import FaceDashError
from core.live.types import AnalysisMode
from core.types import Observation

if TYPE_CHECKING:
    from core.config import Settings
    from core.engine import FaceEngine


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

    def analyze(self, image_bgr: np.ndarray, source: str, when: dt.datetime) -> list[Observation]:
        """One frame's observations (raises on failure; the processor counts and shows the error)."""
        ...

    def display_names(self) -> dict[str, str]:
        """worker id -> display name, read from the gallery now (enrollments made meanwhile included)."""
        ...

    def close(self) -> None:
        """Release what this analyzer owns (a child process); safe to call more than once."""
        ...


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

    def analyze(self, image_bgr: np.ndarray, source: str, when: dt.datetime) -> list[Observation]:
        return self.engine.analyze(image_bgr, source=source, when=when)

    def display_names(self) -> dict[str, str]:
        return self.engine.gallery.display_names()

    def close(self) -> None:
        pass


__all__ = ["AnalysisUnavailable", "EngineAnalyzer", "LiveAnalyzer"]
