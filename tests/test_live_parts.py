"""The live camera's parts on their own, without the face models: the size-1 frame slot, the bounded result board,
the status file, the recorder's rate rule in front of the storage policy, the processor against a stand-in
``LiveAnalyzer``, and the analysis process's lifecycle (start, close) without waiting for its models."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from concurrent.futures import Future

import numpy as np
import pytest

from core.config import load_settings
from core.engine import FaceDescriptions
from core.live import (
    AnalysisUnavailable,
    EngineAnalyzer,
    FairTurns,
    LatestFrameSlot,
    LiveAnalyzer,
    LiveProcessor,
    LiveResult,
    ObservationRecorder,
    PendingFrame,
    ProcessAnalyzer,
    ResultBoard,
    StatusFile,
)
from core.live.identity import IdentityAnswer
from core.types import Box, DetectedFace, IdentityMatch, Observation, utcnow
from dashboard.live import describe
from tests.spawn_target import report_main

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
CROP = np.zeros((8, 8, 3), np.uint8)


def pending(n: int) -> PendingFrame:
    return PendingFrame(np.zeros((2, 2, 3), np.uint8), n, float(n), utcnow())


def result(seq: int) -> LiveResult:
    return LiveResult(seq=seq, frame_no=seq, captured_at=0.0, finished_at=0.1, analysis_ms=100.0, observations=(),
                      labels=())


def obs(worker: str | None, seconds: float = 0.0, size: int = 50) -> Observation:
    identity = IdentityMatch(worker, 0.03 if worker else 0.2, 0.07, "Dlib", "cosine", worker or "someone")
    return Observation(T0 + dt.timedelta(seconds=seconds), "live", DetectedFace(Box(10, 10, size, size), 0.99, CROP),
                       identity)


class ListSink:
    """A TimelineStore stand-in: keeps what it is given."""

    def __init__(self) -> None:
        self.rows: list[Observation] = []
        self.flushes = 0

    def append(self, observations) -> int:
        self.rows += list(observations)
        return len(observations)

    def flush(self) -> int:
        self.flushes += 1
        return 0


class BrokenSink(ListSink):
    def append(self, observations) -> int:
        raise OSError("disk full")

    def flush(self) -> int:
        raise OSError("bucket unreachable")


class FakeAnalyzer:
    """A LiveAnalyzer without models: returns ``faces`` for every frame once ``ready``."""

    def __init__(self, settings, faces=(), *, ready=True, error=None, mode="thread") -> None:
        self._settings, self.faces, self._ready, self._error, self._mode = settings, list(faces), ready, error, mode
        self.calls: list[tuple[str, dt.datetime]] = []
        self._turns = FairTurns()

    mode = property(lambda self: self._mode)
    settings = property(lambda self: self._settings)
    ready = property(lambda self: self._ready)
    loading = property(lambda self: not self._ready and self._error is None)
    error = property(lambda self: self._error)
    emotion_enabled = property(lambda self: False)

    def wait_ready(self, timeout=None) -> bool:
        time.sleep(min(timeout or 0.0, 0.05))
        return self._ready

    def turn(self):
        return self._turns.turn()

    def detect(self, image_bgr):
        self.calls.append(("detect", utcnow()))
        return [o.face for o in self.faces]

    def describe(self, image_bgr, faces, identify, emotion, chip=None):
        chips = chip or [False] * len(faces)
        return FaceDescriptions(  # a "chip" here is the face's index: identify() answers with that face's identity
            identities=tuple(o.identity if want else None for o, want in zip(self.faces, identify)),
            emotions=tuple(None for _ in emotion),
            chips=tuple(np.array([i]) if want else None for i, want in enumerate(chips)))

    def identify(self, chips):
        answer: Future = Future()
        answer.set_result(IdentityAnswer(tuple(self.faces[int(c[0])].identity for c in chips), 1.0))
        return answer

    def analyze(self, image_bgr, source, when):
        self.calls.append((source, when))
        return [Observation(when, source, o.face, o.identity) for o in self.faces]

    def display_names(self) -> dict[str, str]:
        return {"ada": "Ada Example"}

    def close(self) -> None:
        pass


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(tmp_path))
    return load_settings(data_dir=tmp_path, identity_vote_window=1, identity_vote_min=1, emotion_smoothing_frames=1)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- slot and board
def test_slot_keeps_only_the_newest_frame():
    slot = LatestFrameSlot()
    assert slot.put(pending(1)) is False
    assert slot.put(pending(2)) is True  # frame 1 was never taken: dropped
    assert slot.put(pending(3)) is True
    assert slot.dropped == 2 and slot.pending == 1
    assert slot.take(timeout=0).frame_no == 3
    assert slot.pending == 0 and slot.take(timeout=0.01) is None


def test_slot_wakes_a_waiting_taker():
    slot = LatestFrameSlot()
    got = []
    taker = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    taker.start()
    slot.put(pending(7))
    taker.join(2)
    assert not taker.is_alive() and got[0].frame_no == 7


def test_board_is_bounded_and_thread_safe():
    board = ResultBoard(maxlen=5)
    errors = []

    def writer(start):
        for i in range(start, start + 500):
            board.publish(result(i))

    def reader():
        for _ in range(500):
            recent = board.recent()
            if len(recent) > 5:
                errors.append(len(recent))

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(board) == 5
    assert board.latest() is board.recent()[-1]
    with pytest.raises(ValueError):
        ResultBoard(maxlen=0)


# ---------------------------------------------------------------------------------------------- status file
def test_status_file_replaces_whole_file_and_throttles(tmp_path, settings):
    path = tmp_path / "sub" / "status.json"
    processor = LiveProcessor(FakeAnalyzer(settings))
    status = StatusFile(path, min_interval_s=60)
    assert status.write(processor.stats) is True
    assert status.write(processor.stats) is False, "a second write within min_interval_s is skipped"
    assert status.write(processor.stats, force=True) is True
    data = json.loads(path.read_text())
    assert data["received"] == 0 and data["analysis_mode"] == "thread" and data["updated"]
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary file left behind
    assert StatusFile(None).write(processor.stats, force=True) is False


# ---------------------------------------------------------------------------------------------- recorder
def test_recorder_one_row_per_worker_per_interval_through_the_policy():
    sink = ListSink()
    recorder = ObservationRecorder(sink, interval_s=1.0)
    for offset in (0.0, 0.4, 0.9, 1.0, 1.5, 2.1, 2.2):
        recorder.offer([obs("ada", offset), obs("bob", offset), obs(None, offset)])
    times = {w: [(o.time - T0).total_seconds() for o in sink.rows if o.identity.worker_id == w] for w in ("ada", "bob")}
    assert times == {"ada": [0.0, 1.0, 2.1], "bob": [0.0, 1.0, 2.1]}
    assert all(o.identity.is_known for o in sink.rows), "unknown faces must never be stored"
    assert recorder.rows_written == 6 and recorder.last_write == T0 + dt.timedelta(seconds=2.1)

    # a worker matched twice in one frame: the bigger face is kept
    assert recorder.offer([obs("ada", 5.0, size=40), obs("ada", 5.0, size=90)]) == 1
    assert sink.rows[-1].face.box.w == 90
    # only strangers: nothing is written, nothing counted
    assert recorder.offer([obs(None, 9.0)]) == 0 and recorder.rows_written == 7

    recorder.set_recording(False)
    assert recorder.offer([obs("ada", 10.0)]) == 0 and recorder.rows_written == 7
    recorder.flush()
    assert sink.flushes == 1
    with pytest.raises(ValueError):
        ObservationRecorder(sink, interval_s=0)


def test_recorder_counts_store_failures_and_never_raises():
    recorder = ObservationRecorder(BrokenSink(), interval_s=1.0)
    assert recorder.offer([obs("ada")]) == 0
    assert recorder.errors == 1 and "disk full" in recorder.last_error
    recorder.flush()
    assert recorder.errors == 2 and "bucket unreachable" in recorder.last_error
    assert ObservationRecorder(None, interval_s=1.0).recording is False


# ---------------------------------------------------------------------------------------------- processor
def test_processor_uses_only_the_analyzer_protocol(settings):
    analyzer = FakeAnalyzer(settings, [obs("ada"), obs(None, size=40)], mode="process", ready=False)
    sink = ListSink()
    protocol: LiveAnalyzer = analyzer  # the stand-in offers exactly the protocol (type-checked)
    processor = LiveProcessor(protocol, sink, interval_s=0.5)
    try:
        frame = np.zeros((120, 160, 3), np.uint8)
        assert processor.process(frame) is frame  # no result yet: the frame comes back untouched
        analyzer._ready = True
        wait_for(lambda: processor.board.latest() is not None)
        assert processor.process(frame) is not frame  # boxes of the latest result drawn on a copy
    finally:
        processor.stop()
    stats = processor.stats()
    assert stats.analysis_mode == "process" and stats.emotion_enabled is False and not stats.starting
    assert stats.labels == ("Ada Example", "unknown") and stats.seen_workers == ("Ada Example",)
    assert [o.identity.worker_id for o in sink.rows] == ["ada"]  # the stranger is not stored
    assert analyzer.calls and analyzer.calls[0][0] == "detect"
    assert describe(stats)["models"] == "models in a separate process"


def test_processor_waits_while_loading_and_shows_a_load_error(settings):
    loading = FakeAnalyzer(settings, [obs("ada")], ready=False)
    processor = LiveProcessor(loading)
    try:
        for _ in range(5):
            processor.process(np.zeros((20, 20, 3), np.uint8))
        time.sleep(0.3)
        stats = processor.stats()
        assert stats.starting and stats.running and stats.analysed == 0 and not loading.calls
        assert stats.received == stats.dropped + stats.pending
    finally:
        processor.stop()

    failed = FakeAnalyzer(settings, ready=False, error="ValueError: no-such-detector")
    processor = LiveProcessor(failed)
    try:
        processor.process(np.zeros((20, 20, 3), np.uint8))
        wait_for(lambda: processor.stats().last_error is not None)
    finally:
        processor.stop()
    assert processor.stats().last_error == "analysis: ValueError: no-such-detector" and not failed.calls


def test_configure_keeps_an_equal_engine_adapter(settings):
    engine = object()  # EngineAnalyzer only holds it; two adapters around one engine are the same models
    first = EngineAnalyzer(engine)  # type: ignore[arg-type]
    processor = LiveProcessor(first)
    processor.configure(analyzer=EngineAnalyzer(engine))  # type: ignore[arg-type]
    assert processor.analyzer is first
    other = FakeAnalyzer(settings)
    processor.configure(analyzer=other)
    assert processor.analyzer is other


# ---------------------------------------------------------------------------------------------- analysis process
def test_process_analyzer_close_stops_its_child(settings):
    analyzer = ProcessAnalyzer(settings)
    assert analyzer.pid is None and not analyzer.loading and not analyzer.ready, "nothing starts before first use"
    assert analyzer.mode == "process" and analyzer.display_names() == {}
    analyzer.start()
    pid, identity_pid = analyzer.pid, analyzer.identity_pid
    assert pid and identity_pid and analyzer.loading
    analyzer.close()
    assert analyzer.pid is None and not analyzer.ready and analyzer.error == "the analysis process is closed"
    assert analyzer.identity_pid is None
    for gone in (pid, identity_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(gone, 0)  # gone (and reaped)
    with pytest.raises(AnalysisUnavailable, match="closed"):
        analyzer.identify([np.zeros((150, 150, 3), np.uint8)]).result(5)
    analyzer.close()  # idempotent
    assert analyzer.wait_ready(0.1) is False


def test_a_session_that_goes_away_leaves_nothing_behind(settings):
    """Per-session state (processor, tracks, counters, worker thread) goes with the session: a stopped processor, or
    one whose browser just vanished (no STOP: the worker ends after idle_timeout_s without frames), is collected."""
    import gc
    import weakref

    analyzer = FakeAnalyzer(settings, [obs("ada")])
    refs = []
    for stop in (True, False):
        processor = LiveProcessor(analyzer, ListSink(), idle_timeout_s=0.3)
        for _ in range(5):
            processor.process(np.zeros((120, 160, 3), np.uint8))
        wait_for(lambda p=processor: p.stats().analysed >= 1)
        if stop:
            processor.stop()
        else:
            wait_for(lambda p=processor: not p.running, timeout=5)
        thread = processor._thread
        refs.append(weakref.ref(processor))
        del processor
        assert thread is not None
        thread.join(5)
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_model_processes_do_not_rerun_the_parents_main_script(tmp_path, monkeypatch):
    """Streamlit puts the page script's module in sys.modules["__main__"]; a spawned child re-runs __main__ unless
    told otherwise, which made every model process import Streamlit and run the app script (core/live/child.py)."""
    import sys
    import types

    from core.live.child import spawn

    script = tmp_path / "page.py"
    script.write_text("import streamlit\nraise SystemExit('the page script ran in the model process')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    child = spawn(report_main, {}, "facedash-test-child")
    try:
        child.await_hello()
        assert child.error is None and child.info == {"mp_main_file": None, "streamlit": False}
        assert sys.modules["__main__"] is page  # put back for the parent
    finally:
        child.stop(graceful=False)


def test_an_identity_answer_finishing_while_answers_are_collected_is_kept(settings):
    """The identity thread may finish a Future while the worker sorts finished from pending ones: each Future is
    looked at once, so such an answer is applied on the next frame instead of being dropped (its face would stay
    'asking' for ever and never be identified again)."""
    from core.live.processor import _Asked
    from core.live.tracks import LiveTracker

    class FinishesWhileLookedAt(Future):
        def __init__(self) -> None:
            super().__init__()
            self.looks = 0

        def done(self) -> bool:
            self.looks += 1
            if self.looks == 1:
                return False
            if not super().done():
                self.set_result(IdentityAnswer((_ada_match(),), 1.0))
            return True

    processor = LiveProcessor(FakeAnalyzer(settings), None)
    tracker = LiveTracker()
    first, late = tracker.update([_face(Box(10, 10, 60, 60)), _face(Box(200, 10, 60, 60))], 0.0)
    ready: Future = Future()
    ready.set_result(IdentityAnswer((_ada_match(),), 1.0))
    first.asking = late.asking = 1
    processor._asked = [_Asked(tracker, first, ready, 0.0), _Asked(tracker, late, FinishesWhileLookedAt(), 0.0)]
    assert processor._apply_answers(tracker) == 1 and first.asking == 0 and late.asking == 1
    assert processor._apply_answers(tracker) == 1 and late.asking == 0 and processor._asked == []


def _face(box: Box) -> DetectedFace:
    return DetectedFace(box=box, confidence=0.99, crop=np.zeros((box.h, box.w, 3), np.uint8))


def _ada_match() -> IdentityMatch:
    return IdentityMatch("ada", 0.04, 0.055, "Dlib", "cosine", nearest_worker_id="ada")
