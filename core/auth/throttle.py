"""Failed sign-ins slow down: per account and per client, a few free tries, then a delay that doubles each time.

With the defaults (5 free tries, then 2 s doubling up to 15 minutes, forgotten after an hour without failures) an
attacker who retries the moment it is allowed gets 9 guesses at one account in the first minute, 16 in the first
hour and 4 an hour after that (108 a day); one client spraying many accounts is held after 20 failures
(``benchmarks/bench_signin.py``, benchmarks/results/signin.json). The price: someone who knows a user name can keep
that account waiting; its owner signs in within 15 minutes of the attack stopping, or an admin helps. A refused
attempt is not checked at all (no password hashing is spent on it) and does not count as a failure.

The state lives in the process (the dashboard is one process); it is bounded (oldest entries dropped).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_ENTRIES = 10_000


@dataclass
class _Failures:
    count: int
    last: float


class SignInThrottle:
    def __init__(self, free_attempts: int = 5, base_delay_s: float = 2.0, max_delay_s: float = 900.0,
                 forget_after_s: float = 3600.0, client_free_attempts: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_attempts, self.client_free_attempts = free_attempts, client_free_attempts
        self.base_delay_s, self.max_delay_s, self.forget_after_s = base_delay_s, max_delay_s, forget_after_s
        self.clock = clock
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def delay(self, failures: int, free: int) -> float:
        """Seconds after the last failure before another try is allowed."""
        if failures < free:
            return 0.0
        return float(min(self.base_delay_s * 2 ** (failures - free), self.max_delay_s))

    def _wait(self, key: str, free: int, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        if now - entry.last > self.forget_after_s:
            del self._entries[key]
            return 0.0
        return max(0.0, entry.last + self.delay(entry.count, free) - now)

    def wait_seconds(self, account: str, client: str) -> float:
        """How long the caller must wait before this account may be tried from this client (0 = now)."""
        now = self.clock()
        with self._lock:
            return max(self._wait("account:" + account, self.free_attempts, now),
                       self._wait("client:" + client, self.client_free_attempts, now))

    def failed(self, account: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            for key in ("account:" + account, "client:" + client):
                entry = self._entries.pop(key, None)
                if entry is None or now - entry.last > self.forget_after_s:
                    entry = _Failures(0, now)
                entry.count, entry.last = entry.count + 1, now
                self._entries[key] = entry  # most recent last: the oldest are dropped first
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def succeeded(self, account: str, client: str) -> None:
        with self._lock:
            self._entries.pop("account:" + account, None)
            self._entries.pop("client:" + client, None)

    def failures(self, account: str) -> int:
        with self._lock:
            entry = self._entries.get("account:" + account)
            return entry.count if entry else 0
