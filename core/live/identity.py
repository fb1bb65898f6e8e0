"""Identity beside detection: face embeddings in a process of their own, answered asynchronously.

Why: an embedding (dlib's ResNet) takes 60-120 ms here. When the analysis process made it between two detections,
that session's boxes stood still meanwhile: every new face cost three such pauses before it was named, and on a
crowded stage the detector kept finding new faces, so detection paused every few frames (box IoU 0.75 and a
capture-to-overlay p95 of 120-180 ms on the stage clip, time to first name up to 0.56 s; benchmarks/results/live.json
of 211bbea). Now the live processor has the analysis process cut the aligned chips of the faces that are due
(cheap), hands them to :class:`IdentityClient` and goes on detecting; each answer is applied to its track on a later
frame.

The child (:func:`_serve`) is a :class:`core.engine.FaceEngine` without emotion: the embedder and the gallery. With
the default Dlib model it imports neither DeepFace nor TensorFlow (core.embedders.DlibResNetEmbedder): about 80 MB.
The parent side (:class:`IdentityClient`) queues jobs and has one thread send each and wait for its answer, so a
caller never blocks on the pipe (a chip is 67 KB, more than a pipe buffer).
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from core.live.analyzer import AnalysisUnavailable
from core.live.child import ERROR, FAILED, OK, READY, Child, send_reply, spawn
from core.types import IdentityMatch

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityAnswer:
    """The 1:N answers for one job's chips (in order) and how long the embedding and search took."""

    matches: tuple[IdentityMatch, ...]
    ms: float


def identify_chips(engine, chips: list[np.ndarray]) -> IdentityAnswer:
    """``engine.identify_chips`` timed: what the identity process (and the thread mode's identity thread) answer."""
    started = time.perf_counter()
    matches = tuple(engine.identify_chips(list(chips)))
    return IdentityAnswer(matches, (time.perf_counter() - started) * 1000.0)


# ---------------------------------------------------------------------------------------------- child side
def _serve(conn: Connection, settings_values: dict) -> None:
    """The identity process's life: load the embedder and the gallery, report, answer ``("identify", chips)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal: the parent stops the child
    engine = None
    try:
        from core.config import load_settings
        from core.engine import FaceEngine

        engine = FaceEngine(load_settings(**settings_values), load_emotion=False)
        engine.ensure_gallery_embeddings()  # under the gallery's lock: safe beside the analysis process doing it
        size = engine.embedder.chip.size
        engine.embedder.embed([np.full((size, size, 3), 127, np.uint8)])  # the first call builds the network
        hello: tuple[str, Any] = (READY, engine.embedder.key)
    except Exception as exc:  # reported to the parent with the real message
        hello = (FAILED, f"{type(exc).__name__}: {exc}")
    try:
        conn.send(hello)
        while engine is not None and hello[0] == READY:
            request = conn.recv()
            if request is None:
                return
            op, chips = request
            try:
                if op != "identify":
                    raise ValueError(f"unknown request {op!r}")
                reply: tuple[str, Any] = (OK, identify_chips(engine, chips))
            except Exception as exc:
                reply = (ERROR, exc)
            send_reply(conn, reply)
    except (EOFError, OSError):  # the parent went away
        pass
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------- parent side
class IdentityClient:
    """Asynchronous 1:N identification of chips in the identity process (started on first use, restarted after it
    dies). ``submit`` returns at once with a :class:`concurrent.futures.Future` of an :class:`IdentityAnswer`; jobs
    are answered in the order they were submitted, from every session sharing this client."""

    def __init__(self, settings: Settings, *, call_timeout_s: float = 60.0, start_timeout_s: float = 180.0) -> None:
        self._settings = settings
        self.call_timeout_s = call_timeout_s
        self.start_timeout_s = start_timeout_s
        self._jobs: queue.SimpleQueue[tuple[list[np.ndarray], Future] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._child: Child | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def ready(self) -> bool:
        child = self._child
        return child is not None and child.ready

    @property
    def error(self) -> str | None:
        child = self._child
        return child.error if child is not None else None

    def start(self) -> None:
        """Spawn the identity process (it loads in the background) and the sending thread; no-op when running."""
        with self._lock:
            if self._closed:
                return
            if self._child is None:
                child = self._child = spawn(_serve, self._settings.model_dump(), "facedash-live-identity")
                threading.Thread(target=child.await_hello, name="facedash-live-identity-start", daemon=True).start()
                log.info("live: starting the identity process (pid %s)", child.process.pid)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._send_jobs, name="facedash-live-identity", daemon=True)
                self._thread.start()

    def submit(self, chips: list[np.ndarray]) -> Future:
        """Identify ``chips`` (made by the recognition model's ``chips``) in the identity process; never blocks."""
        future: Future = Future()
        if self._closed:
            future.set_exception(AnalysisUnavailable("the identity process is closed"))
            return future
        self.start()
        self._jobs.put(([np.ascontiguousarray(c) for c in chips], future))
        return future

    def _send_jobs(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            chips, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._call(chips))
            except Exception as exc:
                future.set_exception(exc)

    def _call(self, chips: list[np.ndarray]) -> IdentityAnswer:
        self.start()  # a child discarded after a failure is replaced here
        child = self._child
        if child is None:
            raise AnalysisUnavailable("the identity process is closed")
        if not child.hello.wait(self.start_timeout_s) or not child.ready:
            error = child.error or f"not ready after {self.start_timeout_s:g} s"
            self._discard(child)
            raise AnalysisUnavailable(f"the identity process could not start: {error}")
        return child.request(("identify", chips), self.call_timeout_s, "identity process", self._discard)

    def _discard(self, child: Child) -> None:
        with self._lock:
            if self._child is child:
                self._child = None
        child.stop(graceful=False)

    def close(self) -> None:
        """Stop the sending thread and the process; jobs still queued fail with AnalysisUnavailable. Idempotent."""
        with self._lock:
            child, self._child, self._closed = self._child, None, True
            thread, self._thread = self._thread, None
        self._jobs.put(None)
        own = thread is not None and thread is not threading.current_thread()
        if thread is not None and own:
            thread.join(0.5)  # idle: it exits at once; a job in flight ends when the child is stopped below
        if child is not None:
            child.stop(graceful=child.ready and not (thread is not None and own and thread.is_alive()))
            log.info("live: identity process stopped")
        if thread is not None and own:
            thread.join(5.0)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None and job[1].set_running_or_notify_cancel():
                job[1].set_exception(AnalysisUnavailable("the identity process was closed"))


__all__ = ["IdentityAnswer", "IdentityClient"]
