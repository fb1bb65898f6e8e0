"""The two thread hand-offs of the live camera: the size-1 frame slot and the bounded result board."""

from __future__ import annotations

import threading
from collections import deque

from core.live.types import LiveResult, PendingFrame

#: How many recent results the board keeps (the page shows the latest; the rest feeds rate/latency figures).
DEFAULT_HISTORY = 32


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

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a frame without taking it; True when one is there."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            return self._item is not None

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return 0 if self._item is None else 1


class ResultBoard:
    """The hand-off from the worker thread to the callback and the page: a lock, a bounded deque, a snapshot.

    Only immutable values go in (``LiveResult``), so readers get them without copying.
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
