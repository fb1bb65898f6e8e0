"""``LiveProcessor``: frames in, annotated frames out; detection on the newest frame, tracking, rare identification.

The WebRTC frame callback (:meth:`LiveProcessor.recv`) must return quickly, every time, or the returned video
stutters. So it never waits for the models:

1. it puts the frame into a size-1 :class:`core.live.slot.LatestFrameSlot` (an unanalysed older frame there is
   *dropped*, never queued, so results never lag behind by more than one analysis),
2. it draws the boxes and labels of the latest finished analysis onto the frame (``core.annotate.annotate``)
   and returns it.

A separate worker thread takes its session's turn on the shared models (:meth:`LiveAnalyzer.turn`, first come first
served, so sessions alternate), takes the newest frame from the slot and runs one *step*: the fast live detector on
the frame, :class:`core.live.tracks.LiveTracker` to follow each face from the previous detection, and the other
calls only where due: emotion at a bounded rate per face, and for identity (a new face, an open vote, a re-check
every few seconds) the face's aligned chip, which the identity process embeds *beside* detection
(:meth:`LiveAnalyzer.identify` returns a Future; the answer is applied to its track on a later frame). The result
goes to a bounded :class:`core.live.slot.ResultBoard` (read by the callback and the page) and the observations to an
:class:`core.live.recorder.ObservationRecorder`. Nothing here calls Streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotate import annotate, label_for
from core.live.analyzer import LiveAnalyzer
from core.live.recorder import ObservationRecorder, ObservationSink
from core.live.slot import DEFAULT_HISTORY, LatestFrameSlot, ResultBoard
from core.live.status import StatusFile
from core.live.tracks import LiveTrack, LiveTracker
from core.live.types import LiveResult, LiveStats, PendingFrame, StageTimes
from core.types import Observation, utcnow

log = logging.getLogger(__name__)

#: Recent callback durations kept for the p50/p99 figures.
CALLBACK_WINDOW = 512
#: The processing rate is measured over this many seconds of recent results.
RATE_WINDOW_S = 5.0
#: The stages of one analysed frame (StageTimes fields, without "_ms"), as LiveStats.stage_ms reports them.
STAGES = ("wait", "detect", "identify", "emotion", "track")


def _percentile(values, q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def _rate(finishes: list[float], now: float) -> float:
    """Results per second over the last RATE_WINDOW_S; 0 once results stopped coming (stream stopped or stalled)."""
    window = [t for t in finishes if now - t <= RATE_WINDOW_S]
    if len(window) < 2 or window[-1] <= window[0]:
        return 0.0
    gap = (window[-1] - window[0]) / (len(window) - 1)  # mean time between results
    return 1.0 / gap if now - window[-1] <= 2 * gap + 1.0 else 0.0


@dataclass(frozen=True)
class _Asked:
    """One face's identification in flight: which tracker and track it belongs to, and the frame's time."""

    tracker: LiveTracker
    track: LiveTrack
    future: Future
    asked_at: float


class LiveProcessor:
    """One browser session's live analysis. ``analyzer`` runs the models (shared between sessions is fine);
    ``sink`` receives the observations to store (a TimelineStore; None = never store); ``status_file``, if set,
    receives the statistics as JSON (see core.live.status)."""

    def __init__(
        self,
        analyzer: LiveAnalyzer,
        sink: ObservationSink | None = None,
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
        self.analyzer = analyzer
        self.source = source
        self.slot = LatestFrameSlot()
        self.board = ResultBoard(history)
        self.recorder = ObservationRecorder(sink, interval_s, recording)
        self.status = StatusFile(status_file)
        self.idle_timeout_s = idle_timeout_s
        self.overlay_max_age_s = overlay_max_age_s
        self.names_refresh_s = names_refresh_s

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
        self._busy = threading.Event()  # set while the worker is inside analyzer.analyze
        self._worker_done = threading.Event()  # set when the worker thread has left its loop
        self._last_frame_at = time.perf_counter()
        self._tracker: LiveTracker | None = None  # used by the worker thread only (see _tracker_for)
        self._returned_at: deque[float] = deque(maxlen=CALLBACK_WINDOW)  # when the callback returned frames
        self._name_latencies: deque[float] = deque(maxlen=64)  # seconds from first detection to name, recent faces
        self._identified: deque[tuple[float, int]] = deque(maxlen=256)  # (finished, faces embedded) per result
        self._identified_total = 0
        self._asked: list[_Asked] = []  # identifications in flight (worker thread only)
        self._embed_ms: deque[float] = deque(maxlen=64)  # how long the identity process took, recent answers

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
        if (latest is not None and (latest.observations or latest.held)
                and (start - latest.finished_at) <= self.overlay_max_age_s):
            out = annotate(image_bgr, [*latest.observations, *latest.held], self._names)
            with self._lock:
                self._overlaid += 1
        if _started is None:
            self._record_callback(time.perf_counter() - start)
        return out

    def _record_callback(self, seconds: float) -> None:
        with self._lock:
            self._callback_s.append(seconds)
            self._returned_at.append(time.perf_counter())

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
            self._names = dict(self.analyzer.display_names())
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
                analyzer = self.analyzer
                if not analyzer.ready:
                    error = analyzer.error
                    if error:  # the models could not be loaded: show why, drop frames
                        with self._lock:
                            self._last_error = f"analysis: {error}"
                        self.slot.take(timeout=0.5)
                    else:  # starting or loading: frames keep replacing each other in the slot meanwhile
                        analyzer.wait_ready(0.25)
                    continue
                if not self.slot.wait(timeout=0.25):
                    continue
                asked = time.perf_counter()
                with analyzer.turn():  # sessions sharing the models alternate; then the newest frame of ours
                    item = self.slot.take(timeout=0)
                    if item is not None:
                        self.analyse(item, wait_ms=(time.perf_counter() - asked) * 1000.0)
        finally:
            self._worker_done.set()  # "running" is false from here on, also in the final status below
            self.recorder.flush()
            self.write_status(force=True)
            log.info("live analysis worker stopped")

    def analyse(self, item: PendingFrame, *, wait_ms: float = 0.0) -> LiveResult | None:
        """One step on one frame: detect, follow, identify/feel what is due, publish, store. Worker thread."""
        self._refresh_names(time.perf_counter())
        self._busy.set()
        analyzer = self.analyzer
        t0 = time.perf_counter()
        try:
            tracker = self._tracker_for(analyzer)
            faces = analyzer.detect(item.image)
            t1 = time.perf_counter()
            tracks = tracker.update(faces, item.captured_at)
            identified = self._apply_answers(tracker)
            plan = tracker.plan(tracks, item.captured_at, analyzer.emotion_enabled)
            identify_ms = emotion_ms = 0.0
            if plan.anything:  # emotion here; for identity only the chips, which the identity process embeds
                found = analyzer.describe(item.image, faces, [False] * len(faces), list(plan.emotion),
                                          list(plan.identify))
                tracker.apply(tracks, [None] * len(faces), found.emotions, item.captured_at)
                identify_ms, emotion_ms = found.identify_ms, found.emotion_ms
                for track, chip in zip(tracks, found.chips):
                    if chip is not None:
                        self._ask(analyzer, tracker, track, chip, item.captured_at)
            observations = tracker.observations(tracks, item.captured_wall, self.source)
            held = tracker.held(tracks, item.captured_at, item.captured_wall, self.source)
            latencies = tracker.take_name_latencies(time.perf_counter())
        except Exception as exc:
            self._note_error(f"analysis: {exc}")
            log.warning("live: analysis failed: %s", exc, exc_info=self._analysis_errors == 1)
            return None
        finally:
            self._busy.clear()
        finished = time.perf_counter()
        detect_ms = (t1 - t0) * 1000.0
        stages = StageTimes(wait_ms=wait_ms, detect_ms=detect_ms, identify_ms=identify_ms, emotion_ms=emotion_ms,
                            track_ms=max(0.0, (finished - t0) * 1000.0 - detect_ms - identify_ms - emotion_ms))
        with self._lock:
            self._name_latencies.extend(latencies)
            self._identified.append((finished, identified))
            self._identified_total += identified
        result = self._publish(item, observations, held, stages, identified, t0, finished)
        self.recorder.offer(observations)
        self.write_status()
        return result

    def _ask(self, analyzer: LiveAnalyzer, tracker: LiveTracker, track: LiveTrack, chip: np.ndarray,
             asked_at: float) -> None:
        """Send one face's chip to be identified beside detection; the answer is applied on a later frame."""
        track.asking += 1
        self._asked.append(_Asked(tracker, track, analyzer.identify([chip]), asked_at))

    def _apply_answers(self, tracker: LiveTracker) -> int:
        """Apply the identifications that came back to their tracks (votes, names); returns how many."""
        done: list[_Asked] = []
        pending: list[_Asked] = []
        for asked in self._asked:  # one look per future: one finishing meanwhile must land in exactly one list
            (done if asked.future.done() else pending).append(asked)
        if not done:
            return 0
        self._asked = pending
        applied = 0
        for asked in done:
            if asked.tracker is not tracker:  # the tracker was rebuilt (settings changed): its tracks are gone
                continue
            try:
                answer = asked.future.result()
            except Exception as exc:  # the identity process failed: the face is asked about again later
                self._note_error(f"identity: {exc}")
                log.warning("live: identification failed: %s", exc)
                tracker.apply_identity(asked.track, None, asked.asked_at)
                continue
            tracker.apply_identity(asked.track, answer.matches[0], asked.asked_at)
            applied += 1
            with self._lock:
                self._embed_ms.append(answer.ms)
        return applied

    def _publish(self, item: PendingFrame, observations: list[Observation], held: list[Observation],
                 stages: StageTimes, identified: int, t0: float, finished: float) -> LiveResult:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._finish_times.append(finished)
            for obs in observations:
                if obs.identity.worker_id:
                    self._seen[self._names.get(obs.identity.worker_id, obs.identity.worker_id)] = None
        result = self._result(item, observations, held, stages, identified, seq, t0, finished)
        self.board.publish(result)
        return result

    def _result(self, item: PendingFrame, observations: list[Observation], held: list[Observation],
                stages: StageTimes, identified: int, seq: int, t0: float, finished: float) -> LiveResult:
        return LiveResult(
            seq=seq,
            frame_no=item.frame_no,
            captured_at=item.captured_at,
            finished_at=finished,
            analysis_ms=(finished - t0) * 1000.0,
            observations=tuple(observations),
            labels=tuple(label_for(o, self._names) for o in observations),
            held=tuple(held),
            stages=stages,
            identified=identified,
        )

    def _tracker_for(self, analyzer: LiveAnalyzer) -> LiveTracker:
        """The stream's tracker for the analyzer's settings (rebuilt, forgetting its tracks, when they change)."""
        settings = analyzer.settings
        if self._tracker is None or self._tracker.config != LiveTracker.settings_config(settings):
            self._tracker = LiveTracker.from_settings(settings)
        return self._tracker

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._analysis_errors += 1
            self._last_error = message

    def wait_for_identities(self, timeout: float | None = None) -> bool:
        """Wait until every identification in flight is answered (not yet applied: the next frame applies it);
        True if none is left. For tests and benchmarks that step the processor one frame at a time."""
        pending = [a.future for a in self._asked]
        return not wait(pending, timeout).not_done if pending else True

    # ------------------------------------------------------------------ control
    @property
    def starting(self) -> bool:
        """True while the analyzer is loading its models."""
        return self.analyzer.loading

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

    def configure(self, analyzer: LiveAnalyzer | None = None, sink: ObservationSink | None = None,
                  interval_s: float | None = None) -> None:
        """Swap the analyzer (settings changed) or the store, or change the interval, without a restart."""
        if analyzer is not None and analyzer != self.analyzer:  # equal: the same models (e.g. wrapped again)
            self.analyzer = analyzer
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
            returned = list(self._returned_at)
            name_ms = [s * 1000.0 for s in self._name_latencies]
            identified = [(t, n) for t, n in self._identified if now - t <= RATE_WINDOW_S]
            identified_total = self._identified_total
            embed_ms = list(self._embed_ms)
        latencies = [r.latency_ms for r in recent]
        stage_ms = {name: round(float(np.mean([getattr(r.stages, f"{name}_ms") for r in recent])), 2)
                    for name in STAGES} if recent else {}
        if embed_ms:  # not a stage of the frame: identification runs beside it, in the identity process
            stage_ms["embed"] = round(float(np.median(embed_ms)), 2)
        window_s = min(RATE_WINDOW_S, now - identified[0][0]) if identified else 0.0
        recorder, analyzer = self.recorder, self.analyzer
        return LiveStats(
            running=self.running,
            received=received,
            analysed=analysed,
            dropped=self.slot.dropped,
            pending=self.slot.pending,
            overlaid=overlaid,
            processing_fps=round(_rate(finishes, now), 2),
            output_fps=round(_rate(returned, now), 2),
            identity_latency_ms=_percentile(name_ms, 50),
            identity_latency_max_ms=max(name_ms) if name_ms else None,
            identified=identified_total,
            identified_per_s=round(sum(n for _, n in identified) / window_s, 2) if window_s > 0.5 else 0.0,
            stage_ms=stage_ms,
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
            emotion_enabled=analyzer.emotion_enabled,
            seen_workers=seen,
            starting=analyzer.loading,
            analysis_mode=analyzer.mode,
        )

    def write_status(self, force: bool = False) -> None:
        """Write the stats to the status file (if configured), at most 4 times a second unless ``force``."""
        self.status.write(self.stats, force=force)


__all__ = ["LiveProcessor"]
