"""``ProcessAnalyzer``: the face engine in a child process that this object owns (the live page's default).

Why: the Dlib embedder holds Python's GIL for its whole call (about 60-150 ms here). In-process, every other
Python thread - the WebRTC frame callback and aiortc's event loop that sends the video - stalls that long, 4-8
times a second. With the models in a child process the worker thread only waits on a pipe (GIL released).

The child is one ``multiprocessing`` process (spawn) running :func:`_serve`: it builds its own
:class:`core.engine.FaceEngine` from the parent's settings, reports ``("ready", info)`` or ``("failed", why)``,
then answers one ``(op, *args)`` request at a time (``detect``, ``describe``, ``analyze``) until it is sent ``None``
or the parent's end of the pipe closes. Its engine is a local variable of that loop: there is no module-level state on either side.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from concurrent.futures import Future
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from core.gallery import Gallery
from core.live.analyzer import AnalysisUnavailable
from core.live.child import ERROR, FAILED, OK, READY, Child, send_reply, spawn
from core.live.identity import IdentityClient
from core.live.turns import FairTurns
from core.live.types import AnalysisMode
from core.types import DetectedFace, Observation, utcnow

if TYPE_CHECKING:
    from core.config import Settings
    from core.engine import FaceDescriptions

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- child side
def _serve(conn: Connection, settings_values: dict) -> None:
    """The child process's whole life: load the models, say how that went, answer requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal: the parent stops the child
    engine = None
    try:
        from core.config import load_settings
        from core.engine import FaceEngine

        engine = FaceEngine(load_settings(**settings_values))
        engine.ensure_gallery_embeddings()
        engine.warm_up_live()  # every model built before "ready": a missing live detector fails here, named
        hello: tuple[str, Any] = (READY, {"emotion_enabled": engine.emotion_enabled,
                                          "backends": engine.backend_report().as_dict()})
    except Exception as exc:  # reported to the parent with the real message
        hello = (FAILED, f"{type(exc).__name__}: {exc}")
    try:
        conn.send(hello)
        if engine is not None and hello[0] == READY:
            _answer(conn, engine)
    except (EOFError, OSError):  # the parent went away
        pass
    finally:
        conn.close()


def _answer(conn: Connection, engine) -> None:
    """Answer ``(op, *args)`` requests until ``None``: ``detect`` (the frame and its faces are kept, numbered, for
    the next ``describe``, so neither crosses the pipe twice), ``describe`` and ``analyze``."""
    kept: tuple[int, np.ndarray, list] | None = None  # (frame number, frame, faces) of the last detect
    while True:
        request = conn.recv()
        if request is None:
            return
        op, *args = request
        try:
            if op == "detect":
                number, image = args
                result: Any = engine.detect_live(image)
                kept = (number, image, result)
            elif op == "describe":
                number, identify, emotion, chip = args
                if kept is None or kept[0] != number:
                    raise RuntimeError(f"describe: frame {number} is not the last detected frame")
                result = engine.describe(kept[1], kept[2], identify, emotion, chip)
            elif op == "analyze":
                image, source, when = args
                result = engine.analyze(image, source=source, when=when)
            else:
                raise ValueError(f"unknown request {op!r}")
            reply: tuple[str, Any] = (OK, result)
        except Exception as exc:
            reply = (ERROR, exc)
        send_reply(conn, reply)


# ---------------------------------------------------------------------------------------------- parent side
class ProcessAnalyzer:
    """The face engine in a child process (a :class:`core.live.analyzer.LiveAnalyzer`).

    ``detect`` sends one frame (pickled, ~0.3 MB at 360x288, 0.9 MB at 640x480) and blocks on the answer without
    holding the GIL; ``describe`` refers to that frame by number (the child kept it), so a frame crosses once.
    The child sees the same gallery folder as the parent (enrollments made later are picked up: the gallery is
    read from disk per call). It starts on first use (``start``, ``wait_ready`` or ``analyze``: in the live page,
    the first camera frame), so visitors who never press START cost no memory; ``loading`` is true while it loads
    its models (about 10 s), ``ready`` once it can analyse. A child that dies or hangs is stopped and a new one is
    started by the next call. One analyzer serves several live sessions: each takes a :meth:`turn` (first come, first
served), so they alternate instead of the fastest re-asker winning.
    """

    def __init__(self, settings: Settings, *, call_timeout_s: float = 120.0) -> None:
        self._settings = settings
        self._gallery = Gallery(settings.gallery_path)  # names only: reading gallery.json needs no models
        self._emotion_enabled = bool(settings.emotion_active)
        self.call_timeout_s = call_timeout_s
        self.backends: dict | None = None  # the child's BackendReport, once it is ready
        self._lock = threading.Lock()  # _child and _closed
        self._call_lock = threading.Lock()  # one request on the pipe at a time
        self._child: Child | None = None
        self._closed = False
        self._turns = FairTurns()
        self._frame_lock = threading.Lock()
        self._frame_no = 0
        self._last_detected: tuple[int, np.ndarray, list[DetectedFace]] | None = None
        #: embeddings in a second, light process, so that detection never waits for one (core/live/identity.py)
        self.identity = IdentityClient(settings, call_timeout_s=call_timeout_s)

    # ------------------------------------------------------------------ LiveAnalyzer
    @property
    def mode(self) -> AnalysisMode:
        return "process"

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def emotion_enabled(self) -> bool:
        return self._emotion_enabled

    @property
    def loading(self) -> bool:
        child = self._child
        return child is not None and not child.hello.is_set()

    @property
    def ready(self) -> bool:
        child = self._child
        return child is not None and child.ready

    @property
    def error(self) -> str | None:
        if self._closed:
            return "the analysis process is closed"
        child = self._child
        return child.error if child is not None else None

    @property
    def pid(self) -> int | None:
        """The child's process id (None before it starts and after it stops)."""
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def identity_pid(self) -> int | None:
        """The identity process's id (None before it starts and after it stops)."""
        return self.identity.pid

    def display_names(self) -> dict[str, str]:
        return self._gallery.display_names()

    def start(self) -> None:
        """Spawn the analysis and identity processes and let them load their models in the background (no-op if
        running or closed)."""
        with self._lock:
            if self._child is not None or self._closed:
                return
            child = self._child = spawn(_serve, self._settings.model_dump(), "facedash-live-models")
        threading.Thread(target=child.await_hello, args=(self._on_ready,), name="facedash-live-models-start",
                         daemon=True).start()
        self.identity.start()
        log.info("live: starting the analysis process (pid %s)", child.process.pid)

    def _on_ready(self, payload: dict) -> None:
        self.backends = payload["backends"]
        self._emotion_enabled = bool(payload["emotion_enabled"])
        log.info("live: analysis process ready (%s)", payload["backends"])

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the child if needed and wait until its models are loaded; False on timeout or failure (``error``)."""
        return self._ready_child(timeout) is not None

    def _ready_child(self, timeout: float | None) -> Child | None:
        self.start()
        child = self._child
        if child is None:  # closed
            return None
        child.hello.wait(timeout)
        return child if child.ready else None

    def turn(self) -> AbstractContextManager:
        """A session's turn on the child (first come, first served across the sessions sharing this analyzer)."""
        return self._turns.turn()

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        with self._frame_lock:
            self._frame_no += 1
            number = self._frame_no
        faces = self._call("detect", number, np.ascontiguousarray(image_bgr))
        with self._frame_lock:
            self._last_detected = (number, image_bgr, faces)
        return faces

    def describe(self, image_bgr: np.ndarray, faces: list[DetectedFace], identify: list[bool],
                 emotion: list[bool], chip: list[bool] | None = None) -> FaceDescriptions:
        """Identity/emotion of faces of the frame last given to :meth:`detect` (the child kept it; call both in
        one :meth:`turn`). Another frame is refused: detect it first."""
        with self._frame_lock:
            number, image, found = self._last_detected or (0, None, None)
        if image is not image_bgr or faces is not found:
            raise ValueError("describe: pass the frame and the faces of the last detect call (in the same turn)")
        return self._call("describe", number, list(identify), list(emotion), list(chip or [False] * len(faces)))

    def identify(self, chips: list[np.ndarray]) -> Future:
        """Who the chips are, answered by the identity process (a Future of an IdentityAnswer; never blocks)."""
        return self.identity.submit(chips)

    def analyze(self, image_bgr: np.ndarray, source: str = "live", when: dt.datetime | None = None
                ) -> list[Observation]:
        return self._call("analyze", np.ascontiguousarray(image_bgr), source, when or utcnow())

    def _call(self, op: str, *args: Any) -> Any:
        child = self._ready_child(self.call_timeout_s)
        if child is None:
            raise AnalysisUnavailable(f"the analysis process is not ready: {self.error or 'still loading'}")
        with self._call_lock:
            return child.request((op, *args), self.call_timeout_s, "analysis process", self._discard)

    def _discard(self, child: Child) -> None:
        """Forget a dead or hung child (the next call starts a new one) and make sure it is gone."""
        with self._lock:
            if self._child is child:
                self._child = None
        child.stop(graceful=False)

    def close(self) -> None:
        """Stop the child process (Streamlit calls this when the cached analyzer is released). Idempotent."""
        with self._lock:
            child, self._child, self._closed = self._child, None, True
        self.identity.close()
        if child is None:
            return
        idle = self._call_lock.acquire(blocking=False)  # a request in flight: terminate rather than wait for it
        try:
            child.stop(graceful=idle and child.ready)  # a loading child reads no requests yet
        finally:
            if idle:
                self._call_lock.release()
        log.info("live: analysis process stopped")


__all__ = ["ProcessAnalyzer"]
