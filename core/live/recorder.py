"""``ObservationRecorder``: the live camera's rate rule in front of the storage policy.

The rule here is only *how often*: at most one row per worker per ``interval_s``, measured on the observations'
own capture times (so it holds whatever the analysis rate). *What* may be stored at all is decided by
:func:`core.services.observations.store_observations` (rows only for enrolled workers; unknown faces are never
stored), which also does the write. With emotion analysis disabled the rows still go to the store, with empty
emotion columns: they record presence (who was in front of the camera when), which the timeline page shows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from core.services.observations import store_observations
from core.types import Observation

log = logging.getLogger(__name__)


class ObservationSink(Protocol):
    """Where the rows go: a :class:`core.timeline.store.TimelineStore` (or a stand-in with the same two methods)."""

    def append(self, observations: Sequence[Observation]) -> int: ...

    def flush(self) -> int: ...


class ObservationRecorder:
    """Offers each analysed frame's observations to the store, at most one row per worker per ``interval_s``.

    Thread-safe: the worker thread offers, the page's script thread pauses and reconfigures. A store failure is
    logged and counted (``errors``, ``last_error``), never raised: the live view keeps running.
    """

    def __init__(self, sink: ObservationSink | None, interval_s: float, recording: bool = True) -> None:
        self._lock = threading.Lock()
        # held for a whole offer() (choose + write): pausing waits for a write in flight, so once
        # set_recording(False) returns nothing more is stored
        self._write_lock = threading.Lock()
        self.sink = sink
        self.interval_s = _checked_interval(interval_s)
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

    def configure(self, sink: ObservationSink | None = None, interval_s: float | None = None) -> None:
        with self._lock:
            if sink is not None:
                self.sink = sink
            if interval_s is not None:
                self.interval_s = _checked_interval(interval_s)

    def due(self, observations: Sequence[Observation]) -> list[Observation]:
        """What to offer the store now; marks the chosen workers' rows as written at their capture time.

        For each worker (biggest face first: if a worker matches twice in one frame, the clearer face is kept) the
        observation is due when that worker's interval has passed. Faces naming no worker are passed on as they are:
        the storage policy leaves them out (and counts them). Nothing is due while recording is off.
        """
        with self._lock:
            if not self.recording:
                return []
            chosen: list[Observation] = []
            seen: set[str] = set()
            for obs in sorted(observations, key=lambda o: o.face.box.area, reverse=True):
                worker = obs.identity.worker_id
                if worker is None:
                    chosen.append(obs)
                    continue
                if worker in seen:
                    continue
                seen.add(worker)
                last = self._last.get(worker)
                if last is None or (obs.time - last).total_seconds() >= self.interval_s:
                    self._last[worker] = obs.time
                    chosen.append(obs)
            return chosen

    def offer(self, observations: Sequence[Observation]) -> int:
        """Store what is due and allowed; returns rows written (0 after a store failure, which is counted)."""
        with self._write_lock:
            rows = self.due(observations)
            if not rows or self.sink is None:
                return 0
            try:
                stored = store_observations(self.sink, rows).stored
            except Exception as exc:  # the live view must keep running when the store is unreachable
                self._note_error(exc)
                log.warning("live: could not store %d observation(s): %s", len(rows), exc)
                return 0
            if stored:
                with self._lock:
                    self.rows_written += stored
                    self.last_write = max(o.time for o in rows)
            return stored

    def flush(self) -> None:
        sink = self.sink
        if sink is None:
            return
        try:
            sink.flush()
        except Exception as exc:
            self._note_error(exc)
            log.warning("live: could not flush the timeline store: %s", exc)

    def _note_error(self, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = f"timeline store: {exc}"


def _checked_interval(interval_s: float) -> float:
    if interval_s <= 0:
        raise ValueError(f"observation interval must be > 0 seconds, got {interval_s!r}")
    return float(interval_s)


__all__ = ["ObservationRecorder", "ObservationSink"]
