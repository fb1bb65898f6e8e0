"""One model process of the live page: spawning it, its start-up report, stopping it.

Both live model processes (:mod:`core.live.remote`: detection and emotion; :mod:`core.live.identity`: embeddings)
are ``multiprocessing`` spawn children that first report ``(READY, info)`` or ``(FAILED, why)`` and then answer one
``(op, *args)`` request at a time with ``(OK, result)`` or ``(ERROR, exception)`` until sent ``None``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import threading
import types
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from core.live.analyzer import AnalysisUnavailable

log = logging.getLogger(__name__)

READY, FAILED, OK, ERROR = "ready", "failed", "ok", "error"


class Child:
    """One started child process, the parent's end of its pipe, and what its start-up reported."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.hello = threading.Event()  # set once the child reported ready or failed (or died loading)
        self.error: str | None = None
        self.info: Any = None  # what the child reported with READY

    @property
    def ready(self) -> bool:
        return self.hello.is_set() and self.error is None

    def await_hello(self, on_ready: Callable[[Any], None] | None = None) -> None:
        """Read the start-up report (blocks while the child loads its models), pass a READY report's payload to
        ``on_ready``, then set ``hello`` (so whoever waits for it sees what ``on_ready`` recorded)."""
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(2)
            kind, payload = FAILED, f"the process exited while loading (exit code {self.process.exitcode})"
        if kind == READY:
            self.info = payload
            if on_ready is not None:
                on_ready(payload)
        else:
            self.error = str(payload)
            log.error("live: %s failed to start: %s", self.process.name, payload)
        self.hello.set()

    def request(self, message: tuple, timeout: float, what: str, lost: Callable[[Child], None]) -> Any:
        """Send one request and return the answer (the child's exception is raised here). A child that dies or does
        not answer within ``timeout`` is handed to ``lost`` (the owner stops and forgets it: the next call starts a
        new one) and :class:`core.live.analyzer.AnalysisUnavailable` names ``what`` failed. One caller at a time."""
        try:
            self.conn.send(message)
            if not self.conn.poll(timeout):
                lost(self)
                raise AnalysisUnavailable(f"the {what} did not answer within {timeout:g} s; restarting it")
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            log.error("live: the %s died; it restarts on the next call", what)
            lost(self)
            raise AnalysisUnavailable(f"the {what} died (out of memory?); restarting it") from None
        if kind == ERROR:
            raise payload
        if kind != OK:
            raise AnalysisUnavailable(f"the {what} answered {kind!r}")
        return payload

    def stop(self, graceful: bool, timeout: float = 5.0) -> None:
        """Ask the child to exit (``graceful``: no request is in flight), then terminate it if it does not."""
        if graceful:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


_MAIN_SWAP = threading.Lock()


def spawn(target: Callable[[Connection, dict], None], settings_values: dict, name: str) -> Child:
    """Start ``target(conn, settings_values)`` in a spawned daemon process; its start-up report is not read yet.

    A spawned child first re-runs the parent's ``__main__`` (as ``__mp_main__``). In the dashboard that is the page
    script Streamlit is running (it puts the script's module there), so each model process imported Streamlit and
    the whole app, and ran the router script, before loading its models: about 100 MB more per process and
    Streamlit warnings in the log. ``target`` lives in an importable module, so the child needs nothing from
    ``__main__``: it is shown an empty one while the process starts."""
    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe()
    process = context.Process(target=target, args=(child_conn, settings_values), name=name, daemon=True)
    with _MAIN_SWAP:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__: nothing to re-run
        try:
            process.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main
    child_conn.close()  # only the child holds that end now: its exit shows here as EOF
    return Child(process, parent_conn)


def send_reply(conn: Connection, reply: tuple[str, Any]) -> None:
    """Send an answer; an exception that would not pickle is sent as its text."""
    try:
        conn.send(reply)
    except (EOFError, OSError):
        raise
    except Exception:
        conn.send((ERROR, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


__all__ = ["ERROR", "FAILED", "OK", "READY", "Child", "send_reply", "spawn"]
