"""Live camera processing core: smooth video with face analysis running beside it (no Streamlit in here).

The WebRTC frame callback (:meth:`LiveProcessor.recv`) must return quickly, every time, or the returned video
stutters. So it never waits for the models:

1. it puts the frame into a size-1 :class:`LatestFrameSlot` (an unanalysed older frame there is *dropped*, never
   queued, so results never lag behind by more than one analysis),
2. it draws the boxes and labels of the latest finished analysis onto the frame (``core.annotate.annotate``)
   and returns it.

A separate worker thread takes the newest frame from the slot, runs ``FaceEngine.analyze`` on it, publishes the
result to a bounded, lock-protected :class:`ResultBoard` (the hand-off the page reads once a second) and offers the
observations to an :class:`ObservationRecorder`, which writes known workers to the timeline store at most once per
worker per ``observation_interval_s`` while recording is on. Unknown faces are never stored.

Nothing here calls Streamlit: :mod:`dashboard.webrtc` wires this to ``streamlit_webrtc`` and the page. The same
class runs in the unit tests and in ``benchmarks/bench_live.py`` on frames read from real videos.

Where the models run (``analyzer``): the worker thread calls ``analyzer.analyze``. That is either the shared
in-process :class:`core.engine.FaceEngine` ("thread" mode) or a :class:`ProcessAnalyzer`, the same engine in a
child process ("process" mode, the default on the page). Process mode exists because the Dlib embedder holds
Python's GIL for its whole call (about 60-150 ms here): in-process, every other Python thread - the frame callback
and aiortc's event loop that sends the video - stalls for that long, 4-8 times a second. In a child process the
worker thread only waits on a pipe (GIL released) and the callback stays under a few milliseconds.
See docs/live.md for the measurements.

If the environment variable ``FACEDASH_LIVE_STATUS_FILE`` is set, the worker also writes its statistics and the
latest labels to that JSON file (atomically; the end-to-end test reads it from outside the server process).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.annotate import annotate, label_for
from core.errors import FaceDashError
from core.tracking import FaceTracker
from core.types import Observation, utcnow

log = logging.getLogger(__name__)

STATUS_FILE_ENV = "FACEDASH_LIVE_STATUS_FILE"

#: How many recent results the hand-off keeps (the page shows the latest; the rest feeds rate/latency figures).
DEFAULT_HISTORY = 32
#: Recent callback durations kept for the p50/p99 figures.
CALLBACK_WINDOW = 512
#: The processing rate is measured over this many seconds of recent results.
RATE_WINDOW_S = 5.0


# ---------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class PendingFrame:
    """A frame waiting in the slot: pixels plus when (perf_counter and wall clock) the callback received it."""

    image: np.ndarray
    frame_no: int
    captured_at: float  # time.perf_counter() at callback entry
    captured_wall: dt.datetime


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
    processing_fps: float  # analysed frames per second over the last RATE_WINDOW_S
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
    seen_workers: tuple[str, ...] = field(default_factory=tuple)  # display names recognised since start
    starting: bool = False  # the analysis process is still loading its models
    analysis_mode: str = "thread"  # "process" (models in a child process) or "thread" (in this process)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["seen_workers"] = list(self.seen_workers)
        return data


# ---------------------------------------------------------------------------------------------- parts
class LatestFrameSlot:
    """A size-1 mailbox: ``put`` replaces whatever is there (counting it as dropped), ``take`` waits for a frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._item: PendingFrame | None = None
        self.dropped = 0

    def put(self, item: PendingFrame) -> bool:
        """Store ``item``; returns True when it replaced a frame nobody analysed (that frame is dropped)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
        return replaced

    def take(self, timeout: float) -> PendingFrame | None:
        """The newest frame (removing it), waiting up to ``timeout`` seconds; None if none arrived."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return 0 if self._item is None else 1


class ResultBoard:
    """The hand-off from the worker thread to the callback and the page: a lock, a bounded deque, a snapshot.

    Only immutable values go in (``LiveResult``, ``LiveStats``), so readers get them without copying.
    """

    def __init__(self, maxlen: int = DEFAULT_HISTORY) -> None:
        if maxlen < 1:
            raise ValueError("ResultBoard needs maxlen >= 1")
        self._lock = threading.Lock()
        self._results: deque[LiveResult] = deque(maxlen=maxlen)
        self._latest: LiveResult | None = None
        self.maxlen = maxlen

    def publish(self, result: LiveResult) -> None:
        with self._lock:
            self._results.append(result)
            self._latest = result

    def latest(self) -> LiveResult | None:
        with self._lock:
            return self._latest

    def recent(self) -> list[LiveResult]:
        with self._lock:
            return list(self._results)

    def __len__(self) -> int:
        with self._lock:
            return len(self._results)


class ObservationRecorder:
    """Writes known workers' observations to the timeline store: at most one row per worker per ``interval_s``.

    The interval is measured on the observations' own capture times (so it holds whatever the analysis rate).
    Unknown faces are never stored. With emotion analysis disabled the rows still go to the store, with empty
    emotion columns: they record presence (who was in front of the camera when), which the timeline page shows.
    ``sink`` is a TimelineStore (anything with ``append(observations)``, optionally ``flush()``) or a callable.
    """

    def __init__(self, sink: Any | None, interval_s: float, recording: bool = True) -> None:
        if interval_s <= 0:
            raise ValueError(f"observation interval must be > 0 seconds, got {interval_s!r}")
        self._lock = threading.Lock()
        # held for a whole offer() (choose + append): pausing waits for a write in flight, so once
        # set_recording(False) returns nothing more is stored
        self._write_lock = threading.Lock()
        self.sink = sink
        self.interval_s = float(interval_s)
        self._recording = recording
        self._last: dict[str, dt.datetime] = {}
        self.rows_written = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_write: dt.datetime | None = None

    @property
    def recording(self) -> bool:
        return self._recording and self.sink is not None

    def set_recording(self, on: bool) -> None:
        with self._write_lock, self._lock:
            self._recording = bool(on)

    def configure(self, sink: Any | None = None, interval_s: float | None = None) -> None:
        with self._lock:
            if sink is not None:
                self.sink = sink
            if interval_s is not None:
                if interval_s <= 0:
                    raise ValueError(f"observation interval must be > 0 seconds, got {interval_s!r}")
                self.interval_s = float(interval_s)

    def due(self, observations: list[Observation]) -> list[Observation]:
        """The observations to store now (one per known worker whose interval has passed); marks them stored."""
        with self._lock:
            if not self.recording:
                return []
            chosen: list[Observation] = []
            seen: set[str] = set()
            # biggest face first: if a worker matches twice in one frame, keep the clearer face
            for obs in sorted(observations, key=lambda o: o.face.box.area, reverse=True):
                worker = obs.identity.worker_id
                if worker is None or worker in seen:
                    continue
                seen.add(worker)
                last = self._last.get(worker)
                if last is None or (obs.time - last).total_seconds() >= self.interval_s:
                    self._last[worker] = obs.time
                    chosen.append(obs)
            return chosen

    def offer(self, observations: list[Observation]) -> int:
        """Store what is due; returns rows written. A store failure is logged and counted, never raised."""
        with self._write_lock:
            rows = self.due(observations)
            if not rows:
                return 0
            try:
                append = self.sink.append if hasattr(self.sink, "append") else self.sink
                append(rows)
            except Exception as exc:  # the live view must keep running when the store is unreachable
                with self._lock:
                    self.errors += 1
                    self.last_error = f"timeline store: {exc}"
                log.warning("live: could not store %d observation(s): %s", len(rows), exc)
                return 0
            with self._lock:
                self.rows_written += len(rows)
                self.last_write = max(o.time for o in rows)
            return len(rows)

    def flush(self) -> None:
        flush = getattr(self.sink, "flush", None)
        if callable(flush):
            try:
                flush()
            except Exception as exc:
                with self._lock:
                    self.errors += 1
                    self.last_error = f"timeline store: {exc}"
                log.warning("live: could not flush the timeline store: %s", exc)


def _percentile(values, q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary file in the same folder, then rename it over ``path`` (readers never see half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- analysis process
class AnalysisUnavailable(FaceDashError):
    """The analysis process could not start (its message says why) or died."""

    http_status = 503


_CHILD_ENGINE = None
_CHILD_ERROR: str | None = None


def _child_init(settings_values: dict) -> None:
    """Runs once in the child process: build the engine (or remember why it could not be built)."""
    global _CHILD_ENGINE, _CHILD_ERROR
    try:
        from core.config import load_settings
        from core.engine import FaceEngine

        _CHILD_ENGINE = FaceEngine(load_settings(**settings_values))
        _CHILD_ENGINE.ensure_gallery_embeddings()
    except Exception as exc:  # reported to the parent by every call, with the real message
        _CHILD_ERROR = f"{type(exc).__name__}: {exc}"


def _child_engine():
    if _CHILD_ENGINE is None:
        raise AnalysisUnavailable(f"the analysis process could not load the face engine: {_CHILD_ERROR}")
    return _CHILD_ENGINE


def _child_info() -> dict:
    engine = _child_engine()
    return {"emotion_enabled": engine.emotion_enabled, "backends": engine.backend_report().as_dict()}


def _child_analyze(image_bgr: np.ndarray, source: str, when: dt.datetime) -> list[Observation]:
    return _child_engine().analyze(image_bgr, source=source, when=when)


class ProcessAnalyzer:
    """The face engine in a child process, with the small surface LiveProcessor uses from an engine.

    ``analyze`` sends one frame (pickled, ~0.3 MB at 360x288) and blocks on the answer without holding the GIL.
    The child builds its own :class:`core.engine.FaceEngine` from exactly the parent's ``settings`` (so it sees the
    same gallery folder; enrollments made later are picked up because the gallery is read from disk per call).
    The child starts on first use (``start``, ``wait_ready`` or ``analyze``: in the live page, the first camera
    frame), so visitors who never press START cost no memory; ``loading`` is true while it loads its models (about
    10 s), ``ready`` once it can analyse. A crashed child is restarted on the next call. One analyzer can serve
    several live sessions (calls are queued, one at a time).
    """

    def __init__(self, settings, *, call_timeout_s: float = 120.0) -> None:
        from core.gallery import Gallery

        self.settings = settings
        self.gallery = Gallery(settings.gallery_path)  # names only: reading gallery.json needs no models
        self.emotion_enabled = bool(settings.emotion_active)
        self.call_timeout_s = call_timeout_s
        self.backends: dict | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._executor = None
        self._warm = None
        self._closed = False

    def start(self) -> None:
        """Spawn the child process and let it load the models in the background (no-op if running)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._lock:
            if self._executor is not None or self._closed:
                return
            values = self.settings.model_dump()
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init, initargs=(values,),
            )
            self._warm = self._executor.submit(_child_info)
            self._warm.add_done_callback(self._on_warm)
            log.info("live: starting the analysis process")

    def _on_warm(self, future) -> None:
        try:
            info = future.result()
        except Exception as exc:
            self.error = str(exc)
            log.error("live: analysis process failed to start: %s", exc)
            return
        self.backends = info["backends"]
        self.emotion_enabled = info["emotion_enabled"]
        self.error = None
        log.info("live: analysis process ready (%s)", info["backends"])

    @property
    def loading(self) -> bool:
        warm = self._warm
        return warm is not None and not warm.done()

    @property
    def ready(self) -> bool:
        warm = self._warm
        return warm is not None and warm.done() and self.error is None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the child if needed and wait until its models are loaded; False on timeout or failure (``error``)."""
        self.start()
        warm = self._warm
        if warm is None:  # closed
            return False
        try:
            warm.result(timeout)
        except Exception:
            return False
        return self.error is None

    def analyze(self, image_bgr: np.ndarray, source: str = "live", when=None) -> list[Observation]:
        from concurrent.futures.process import BrokenProcessPool

        with self._lock:
            executor = self._executor
        if executor is None:
            self.start()
            with self._lock:
                executor = self._executor
            if executor is None:
                raise AnalysisUnavailable("the analysis process is closed")
        try:
            future = executor.submit(_child_analyze, np.ascontiguousarray(image_bgr), source, when or utcnow())
            return future.result(timeout=self.call_timeout_s)
        except BrokenProcessPool:
            log.error("live: the analysis process died; it restarts on the next frame")
            self._discard(executor)
            raise AnalysisUnavailable("the analysis process died (out of memory?); restarting it") from None

    def _discard(self, executor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the child process (Streamlit calls this when the cached analyzer is released)."""
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is not None:
            processes = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.terminate()


# ---------------------------------------------------------------------------------------------- processor
class LiveProcessor:
    """Frames in, annotated frames out, analysis in a worker thread on the newest frame only.

    ``engine`` is a :class:`core.engine.FaceEngine` (shared, thread-safe ``analyze``). ``sink`` receives the
    observations to store (a TimelineStore; None = never store). One processor serves one browser session.
    """

    def __init__(
        self,
        engine,
        sink: Any | None = None,
        *,
        interval_s: float = 5.0,
        recording: bool = True,
        source: str = "live",
        history: int = DEFAULT_HISTORY,
        idle_timeout_s: float = 30.0,
        overlay_max_age_s: float = 5.0,
        status_file: str | Path | None = None,
        names_refresh_s: float = 10.0,
    ) -> None:
        self.engine = engine
        self.source = source
        self.slot = LatestFrameSlot()
        self.board = ResultBoard(history)
        self.recorder = ObservationRecorder(sink, interval_s, recording)
        self.idle_timeout_s = idle_timeout_s
        self.overlay_max_age_s = overlay_max_age_s
        self.names_refresh_s = names_refresh_s
        env_status = os.environ.get(STATUS_FILE_ENV)
        self.status_file = Path(status_file) if status_file else (Path(env_status) if env_status else None)

        self._lock = threading.Lock()  # counters and thread handle
        self._received = 0
        self._overlaid = 0
        self._callback_s: deque[float] = deque(maxlen=CALLBACK_WINDOW)
        self._finish_times: deque[float] = deque(maxlen=256)
        self._analysis_errors = 0
        self._last_error: str | None = None
        self._seen: dict[str, None] = {}
        self._names: dict[str, str] = {}
        self._names_at = float("-inf")
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = threading.Event()  # set while the worker is inside engine.analyze
        self._worker_done = threading.Event()  # set when the worker thread has left its loop
        self._status_at = float("-inf")
        self._last_frame_at = time.perf_counter()
        self._tracker: FaceTracker | None = None  # used by the worker thread only (see _tracker_for)

    # ------------------------------------------------------------------ the callback side (fast path)
    def recv(self, frame):
        """``streamlit_webrtc`` video_frame_callback: av.VideoFrame in, annotated av.VideoFrame out, never blocks."""
        import av

        start = time.perf_counter()
        image = frame.to_ndarray(format="bgr24")
        out = self.process(image, _started=start)
        if out is image:
            result = frame
        else:
            result = av.VideoFrame.from_ndarray(out, format="bgr24")
            result.pts = frame.pts  # streamlit_webrtc sets these too; kept for other callers
            if frame.time_base is not None:
                result.time_base = frame.time_base
        self._record_callback(time.perf_counter() - start)
        return result

    def process(self, image_bgr: np.ndarray, *, _started: float | None = None) -> np.ndarray:
        """The callback's work on a BGR array: hand the frame to the worker, return it with the latest overlay.

        Returns ``image_bgr`` itself when there is nothing to draw (no result yet, no faces, or a stale result).
        """
        start = _started if _started is not None else time.perf_counter()
        with self._lock:
            self._received += 1
            frame_no = self._received
            self._last_frame_at = start
        self.slot.put(PendingFrame(image_bgr, frame_no, start, utcnow()))
        self._ensure_worker()
        latest = self.board.latest()
        out = image_bgr
        if latest is not None and latest.observations and (start - latest.finished_at) <= self.overlay_max_age_s:
            out = annotate(image_bgr, list(latest.observations), self._names)
            with self._lock:
                self._overlaid += 1
        if _started is None:
            self._record_callback(time.perf_counter() - start)
        return out

    def _record_callback(self, seconds: float) -> None:
        with self._lock:
            self._callback_s.append(seconds)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._worker_done.clear()
            self._thread = threading.Thread(target=self._run, name="facedash-live-analysis", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ the worker side (slow path)
    def _refresh_names(self, now: float) -> None:
        if now - self._names_at < self.names_refresh_s:
            return
        try:
            self._names = dict(self.engine.gallery.display_names())
        except Exception as exc:  # keep the old names; ids are shown meanwhile
            log.warning("live: could not read worker names: %s", exc)
        self._names_at = now

    def _run(self) -> None:
        log.info("live analysis worker started")
        try:
            while not self._stop.is_set():
                if time.perf_counter() - self._last_frame_at > self.idle_timeout_s:
                    log.info("live analysis worker: no frame for %.0f s; stopping", self.idle_timeout_s)
                    break
                engine = self.engine
                if not getattr(engine, "ready", True):
                    error = getattr(engine, "error", None)
                    if error:  # the analysis process could not load its models: show why, drop frames
                        with self._lock:
                            self._last_error = f"analysis: {error}"
                        self.slot.take(timeout=0.5)
                    else:  # starting or loading: frames keep replacing each other in the slot meanwhile
                        engine.wait_ready(0.25)
                    continue
                item = self.slot.take(timeout=0.25)
                if item is not None:
                    self.analyse(item)
        finally:
            self._worker_done.set()  # "running" is false from here on, also in the final status below
            self.recorder.flush()
            self.write_status(force=True)
            log.info("live analysis worker stopped")

    def analyse(self, item: PendingFrame) -> LiveResult | None:
        """Analyse one frame, publish the result, store what is due. Runs in the worker thread."""
        self._refresh_names(time.perf_counter())
        self._busy.set()
        t0 = time.perf_counter()
        engine = self.engine
        try:
            observations = engine.analyze(item.image, source=self.source, when=item.captured_wall)
            # one lucky frame must not name (or store) a stranger as a worker, and emotion labels should not flicker:
            # vote identities and average emotions over each face's recent frames
            observations = self._tracker_for(engine).update(observations, item.captured_at)
        except Exception as exc:
            self._note_error(f"analysis: {exc}")
            log.warning("live: analysis failed: %s", exc, exc_info=self._analysis_errors == 1)
            return None
        finally:
            self._busy.clear()
        finished = time.perf_counter()
        names = self._names
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._finish_times.append(finished)
            for obs in observations:
                if obs.identity.worker_id:
                    self._seen[names.get(obs.identity.worker_id, obs.identity.worker_id)] = None
        result = LiveResult(
            seq=seq,
            frame_no=item.frame_no,
            captured_at=item.captured_at,
            finished_at=finished,
            analysis_ms=(finished - t0) * 1000.0,
            observations=tuple(observations),
            labels=tuple(label_for(o, names) for o in observations),
        )
        self.board.publish(result)
        self.recorder.offer(observations)
        self.write_status()
        return result

    def _tracker_for(self, engine) -> FaceTracker:
        """The face tracker for the engine's settings (rebuilt, forgetting its tracks, when they change)."""
        if self._tracker is None or self._tracker.config != FaceTracker.settings_config(engine.settings):
            self._tracker = FaceTracker.from_settings(engine.settings)
        return self._tracker

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._analysis_errors += 1
            self._last_error = message

    # ------------------------------------------------------------------ control
    @property
    def starting(self) -> bool:
        """True while a ProcessAnalyzer is loading its models."""
        return bool(getattr(self.engine, "loading", False))

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._worker_done.is_set()

    @property
    def busy(self) -> bool:
        """True while the worker is inside the model call (used by tests and the benchmark)."""
        return self._busy.is_set()

    @property
    def recording(self) -> bool:
        return self.recorder.recording

    def set_recording(self, on: bool) -> None:
        self.recorder.set_recording(on)
        self.write_status(force=True)

    def configure(self, engine=None, sink: Any | None = None, interval_s: float | None = None) -> None:
        """Swap the engine (settings changed) or the store, or change the interval, without a restart."""
        if engine is not None and engine is not self.engine:
            self.engine = engine
            self._names_at = float("-inf")
        self.recorder.configure(sink=sink, interval_s=interval_s)

    def stop(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Stop the worker (after its current analysis) and flush the store. Safe to call more than once."""
        self._stop.set()
        self.slot.wake()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.recorder.flush()
        self.write_status(force=True)

    def on_ended(self) -> None:
        """``streamlit_webrtc`` on_video_ended: the browser stopped the stream. Runs in a WebRTC thread."""
        self.stop(wait=False)

    # ------------------------------------------------------------------ reading (any thread)
    def stats(self) -> LiveStats:
        now = time.perf_counter()
        recent = self.board.recent()
        latest = recent[-1] if recent else None
        with self._lock:
            callbacks_ms = [s * 1000.0 for s in self._callback_s]
            finishes = list(self._finish_times)
            received, overlaid = self._received, self._overlaid
            analysis_errors, last_error = self._analysis_errors, self._last_error
            seen = tuple(self._seen)
            analysed = self._seq
        window = [t for t in finishes if now - t <= RATE_WINDOW_S]
        fps = 0.0
        if len(window) >= 2 and window[-1] > window[0]:
            gap = (window[-1] - window[0]) / (len(window) - 1)  # mean time between results
            if now - window[-1] <= 2 * gap + 1.0:  # else results stopped coming (stream stopped or stalled): 0
                fps = 1.0 / gap
        latencies = [r.latency_ms for r in recent]
        recorder = self.recorder
        return LiveStats(
            running=self.running,
            received=received,
            analysed=analysed,
            dropped=self.slot.dropped,
            pending=self.slot.pending,
            overlaid=overlaid,
            processing_fps=round(fps, 2),
            latency_ms=latest.latency_ms if latest else None,
            latency_p50_ms=_percentile(latencies, 50),
            latency_p95_ms=_percentile(latencies, 95),
            analysis_ms=latest.analysis_ms if latest else None,
            callback_p50_ms=_percentile(callbacks_ms, 50),
            callback_p99_ms=_percentile(callbacks_ms, 99),
            callback_max_ms=max(callbacks_ms) if callbacks_ms else None,
            faces=len(latest.observations) if latest else 0,
            labels=latest.labels if latest else (),
            recording=recorder.recording,
            interval_s=recorder.interval_s,
            rows_written=recorder.rows_written,
            last_write=recorder.last_write.isoformat() if recorder.last_write else None,
            store_errors=recorder.errors,
            analysis_errors=analysis_errors,
            last_error=last_error or recorder.last_error,
            emotion_enabled=bool(getattr(self.engine, "emotion_enabled", False)),
            seen_workers=seen,
            starting=self.starting,
            analysis_mode="process" if isinstance(self.engine, ProcessAnalyzer) else "thread",
        )

    def write_status(self, force: bool = False) -> None:
        """Write the stats to ``status_file`` (if configured), at most 4 times a second unless ``force``."""
        if self.status_file is None:
            return
        now = time.perf_counter()
        if not force and now - self._status_at < 0.25:
            return
        self._status_at = now
        try:
            data = self.stats().as_dict()
            data["updated"] = utcnow().isoformat()
            write_json_atomic(self.status_file, data)
        except Exception as exc:
            log.warning("live: could not write the status file %s: %s", self.status_file, exc)


def describe(stats: LiveStats) -> dict[str, str]:
    """Human-readable figures for the page (pure: unit-testable, no Streamlit)."""

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f} ms"

    if not stats.recording:
        recording = "Recording paused: nothing is stored"
    else:
        recording = f"Recording: one row per worker every {stats.interval_s:g} s"
    return {
        "latency": ms(stats.latency_ms),
        "latency_p95": ms(stats.latency_p95_ms),
        "callback": "–" if stats.callback_p99_ms is None else f"{stats.callback_p99_ms:.1f} ms",
        "frames": f"{stats.received:,} received, {stats.analysed:,} analysed, {stats.dropped:,} dropped",
        "faces": ", ".join(stats.labels) if stats.labels else "no face in view",
        "recording": recording,
        "rows": f"{stats.rows_written:,} rows stored"
        + (f" (last {stats.last_write[11:19]} UTC)" if stats.last_write else ""),
    }


__all__ = [
    "AnalysisUnavailable", "LatestFrameSlot", "LiveProcessor", "LiveResult", "LiveStats", "ObservationRecorder",
    "ProcessAnalyzer", "ResultBoard", "STATUS_FILE_ENV", "describe", "write_json_atomic",
]
