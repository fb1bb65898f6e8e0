"""How many password guesses the sign-in allows, and what one check costs (docs/security.md quotes this).

    .venv/bin/python benchmarks/bench_signin.py [--out benchmarks/results/signin.json]

1. **Guesses per account**: an attacker who tries again the moment the throttle allows, through the real sign-in
   service (core/services/users.py: argon2id check, audit line, throttle) with the default settings. Time is a
   simulated clock, so a day of attack runs in seconds; every allowed try really hashes and writes its audit line.
2. **Spray**: one client trying one password on many accounts (the per-client limit).
3. **Cost**: wall-clock time of one argon2id check (what each allowed guess costs the attacker offline too) and of a
   refused (throttled) attempt, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.auth import passwords  # noqa: E402
from core.auth.throttle import SignInThrottle  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.services import users  # noqa: E402
from core.services.actor import Actor  # noqa: E402

PASSWORD = "correct-horse-battery-staple"
WINDOWS = {"first_minute": 60, "first_hour": 3600, "first_day": 86400}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def guesses_per_account(settings, horizon_s: float) -> dict:
    """Guess as fast as allowed for ``horizon_s`` simulated seconds; count checked vs refused attempts."""
    clock = Clock()
    throttle = SignInThrottle(free_attempts=settings.signin_free_attempts, base_delay_s=settings.signin_base_delay_s,
                              clock=clock)
    checked = {name: 0 for name in WINDOWS}
    refused = 0
    while clock.now < horizon_s:
        try:
            users.sign_in(settings, throttle, "victim", "guess-guess-guess", "203.0.113.9")
        except users.SignInError as exc:
            if exc.wait_s > 0:
                refused += 1
                clock.now += exc.wait_s  # the attacker waits exactly as long as told, then tries again
                continue
            for name, window in WINDOWS.items():
                checked[name] += clock.now < window
        clock.now += 0.05  # the next try right away
    return {"guesses_checked": checked, "attempts_refused_unchecked": refused,
            "steady_state_guesses_per_hour": round(3600 / throttle.max_delay_s, 1)}


def spray(settings, accounts: int = 200) -> dict:
    """One client, one password, many accounts: how many are checked before the client is held."""
    clock = Clock()
    throttle = SignInThrottle(free_attempts=settings.signin_free_attempts, base_delay_s=settings.signin_base_delay_s,
                              clock=clock)
    checked = held = 0
    for n in range(accounts):
        try:
            users.sign_in(settings, throttle, f"user{n}", "Summer2026!Summer", "198.51.100.7")
        except users.SignInError as exc:
            if exc.wait_s > 0:
                held += 1
            else:
                checked += 1
    return {"accounts_tried": accounts, "checked_before_held": checked, "held": held}


def costs(settings, rounds: int = 20) -> dict:
    digest = passwords.hash_password(PASSWORD)
    throttle = SignInThrottle(free_attempts=1, base_delay_s=3600)
    throttle.failed("held", "x")
    verify, refused = [], []
    for _ in range(rounds):  # interleaved, so the machine's noise hits both alike
        start = time.perf_counter()
        passwords.verify_password(digest, "wrong-guess-123456")
        verify.append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            users.sign_in(settings, throttle, "held", "x", "x")
        except users.SignInError:
            pass
        refused.append(time.perf_counter() - start)
    v, r = statistics.median(verify) * 1000, statistics.median(refused) * 1000
    return {"argon2id_check_ms_median": round(v, 1), "throttled_attempt_ms_median": round(r, 2),
            "ratio_check_to_refusal": round(v / r, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "signin.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder))
        users.add_user(settings, Actor.operator("bench"), "victim", "viewer", PASSWORD)
        result = {
            "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
            "settings": {"signin_free_attempts": settings.signin_free_attempts, "base_delay_s": settings.signin_base_delay_s,
                         "max_delay_s": 900.0, "forget_after_s": 3600.0, "client_free_attempts": 20},
            "one_account": guesses_per_account(settings, WINDOWS["first_day"]),
            "spray_one_client": spray(settings),
            "cost": costs(settings),
            "audit_lines_written": sum(1 for _ in settings.audit_log_path.open()),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
