"""``FairTurns``: a first-come-first-served lock, so several live sessions sharing one analyzer take turns.

``threading.Lock`` makes no promise about who gets it next: a session whose worker releases the lock and asks
again at once can win over and over while another waits (seen as one camera page at full rate and a second
one starved). Here waiters are served in the order they asked, so with every session asking again right after its
turn, the analyzer goes round-robin over the sessions' newest frames.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator


class FairTurns:
    """A FIFO mutex: ``with turns.turn(): ...``. Not reentrant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._lock:
            if not self._held and not self._queue:
                self._held = True
                return
            mine = threading.Event()
            self._queue.append(mine)
        mine.wait()  # release() hands the turn over directly: _held stays True for us

    def release(self) -> None:
        with self._lock:
            if not self._held:
                raise RuntimeError("FairTurns.release() without a turn")
            if self._queue:
                self._queue.popleft().set()
            else:
                self._held = False

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)


__all__ = ["FairTurns"]
