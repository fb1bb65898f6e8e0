"""Live camera processing: smooth video with face analysis running beside it (no Streamlit in this package).

The WebRTC frame callback (:meth:`LiveProcessor.recv`) must return quickly, every time, or the returned video
stutters, so it never waits for the models. Who owns what:

- :mod:`core.live.types`: the immutable values handed between threads (``PendingFrame``, ``LiveResult``,
  ``LiveStats``).
- :mod:`core.live.analyzer`: the ``LiveAnalyzer`` protocol (what the processor needs from "the models"),
  ``EngineAnalyzer`` (an in-process :class:`core.engine.FaceEngine`) and ``AnalysisUnavailable``.
- :mod:`core.live.remote`: ``ProcessAnalyzer``, the same engine in a child process it owns (detection, emotion,
  face chips), plus the identity process of :mod:`core.live.identity` (embeddings, answered asynchronously).
- :mod:`core.live.child`: spawning a model process, its start-up report, stopping it.
- :mod:`core.live.slot`: the thread hand-offs, ``LatestFrameSlot`` (size 1) and ``ResultBoard`` (bounded).
- :mod:`core.live.recorder`: ``ObservationRecorder``, one row per worker per interval through the storage policy
  (:func:`core.services.observations.store_observations`).
- :mod:`core.live.status`: ``StatusFile``, the optional JSON statistics file (``Settings.live_status_file``).
- :mod:`core.live.tracks`: ``LiveTracker``, faces followed from detection to detection; identity and emotion per
  track, only when due.
- :mod:`core.live.turns`: ``FairTurns``, the first-come-first-served turn queue of a shared analyzer.
- :mod:`core.live.processor`: ``LiveProcessor``, the callback and the analysis worker thread.

:mod:`dashboard.webrtc` wires this to ``streamlit_webrtc``; :mod:`dashboard.live` holds the page's wording.
See docs/live.md.
"""

from core.live.analyzer import AnalysisUnavailable, EngineAnalyzer, LiveAnalyzer
from core.live.processor import LiveProcessor
from core.live.recorder import ObservationRecorder, ObservationSink
from core.live.remote import ProcessAnalyzer
from core.live.slot import LatestFrameSlot, ResultBoard
from core.live.status import StatusFile
from core.live.tracks import LiveTracker
from core.live.turns import FairTurns
from core.live.types import LiveResult, LiveStats, PendingFrame, StageTimes

__all__ = [
    "AnalysisUnavailable", "EngineAnalyzer", "FairTurns", "LatestFrameSlot", "LiveAnalyzer", "LiveProcessor",
    "LiveResult", "LiveStats", "LiveTracker", "ObservationRecorder", "ObservationSink", "PendingFrame",
    "ProcessAnalyzer", "ResultBoard", "StageTimes", "StatusFile",
]
