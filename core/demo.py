"""Synthetic, clearly labelled demo observations so the dashboard's charts can be seen without a camera.

Every demo row has ``source='demo'``, a worker id starting with ``demo-`` (reserved: the dashboard refuses to enroll
such ids) and model names ``demo``. Nothing here comes from a real face. :func:`remove_demo` deletes every row of
the demo workers and nothing else.

The generator is deterministic for a seed: working hours on weekdays (a little on Saturdays), a few observations
per worker per hour, emotion probabilities drawn from a Dirichlet around a per-worker baseline with a daily rhythm
(a brighter late morning, a dip after lunch and late in the afternoon, a heavier Monday).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from core.gallery import RESERVED_PREFIX
from core.types import EMOTIONS

log = logging.getLogger(__name__)

DEMO_SOURCE = "demo"
DEMO_PREFIX = RESERVED_PREFIX  # one definition: core.gallery refuses to enroll such ids
#: Demo worker ids and display names.
DEMO_WORKERS: dict[str, str] = {
    "demo-ana": "Ana (demo)",
    "demo-ben": "Ben (demo)",
    "demo-chen": "Chen (demo)",
    "demo-dara": "Dara (demo)",
}

# Baseline emotion mix per worker (FER-2013 order: angry, disgust, fear, happy, sad, surprise, neutral).
_BASELINES = {
    "demo-ana": [0.04, 0.01, 0.03, 0.40, 0.06, 0.08, 0.38],
    "demo-ben": [0.08, 0.02, 0.05, 0.18, 0.14, 0.05, 0.48],
    "demo-chen": [0.03, 0.01, 0.04, 0.28, 0.08, 0.06, 0.50],
    "demo-dara": [0.06, 0.02, 0.08, 0.22, 0.16, 0.04, 0.42],
}


def is_demo_worker(worker_id: str | None) -> bool:
    return bool(worker_id) and str(worker_id).startswith(DEMO_PREFIX)


def _rhythm(hour: float, weekday: int) -> np.ndarray:
    """Multiplicative shift of the baseline by time of day and weekday."""
    shift = np.ones(len(EMOTIONS))
    happy, sad, neutral, angry, fear = (EMOTIONS.index(e) for e in ("happy", "sad", "neutral", "angry", "fear"))
    shift[happy] *= 1.0 + 0.6 * np.exp(-((hour - 10.5) ** 2) / 2.0)  # late-morning high
    shift[sad] *= 1.0 + 0.8 * np.exp(-((hour - 13.5) ** 2) / 0.8) + 0.7 * max(0.0, hour - 15.5) / 2  # post-lunch, late
    shift[neutral] *= 1.0 + 0.3 * np.exp(-((hour - 14.0) ** 2) / 1.5)
    if weekday == 0:  # Monday
        shift[happy] *= 0.75
        shift[angry] *= 1.4
    if weekday == 4:  # Friday afternoon
        shift[happy] *= 1.0 + 0.4 * max(0.0, hour - 13) / 4
    if weekday == 3:
        shift[fear] *= 1.5  # a deadline day
    return shift


def demo_frame(days: int = 14, now: pd.Timestamp | None = None, seed: int = 7, per_hour: int = 6,
               workers: dict[str, str] | None = None) -> pd.DataFrame:
    """Timeline rows (core.timeline schema) for the demo workers over the ``days`` days before ``now`` (UTC)."""
    if days < 1:
        raise ValueError("days must be >= 1")
    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    start_day = (now - pd.Timedelta(days=days)).normalize()
    workers = workers or DEMO_WORKERS
    rows: dict[str, list] = {k: [] for k in ("time", "worker_id", *EMOTIONS, "distance", "box_x", "box_w",
                                             "detector_confidence")}
    step = 60.0 / per_hour
    for worker_id in workers:
        base = np.asarray(_BASELINES.get(worker_id, _BASELINES["demo-chen"]), np.float64)
        for d in range(days + 1):
            day = start_day + pd.Timedelta(days=d)
            weekday = day.weekday()
            if weekday == 6 or (weekday == 5 and rng.random() < 0.7) or rng.random() < 0.06:
                continue  # Sundays, most Saturdays, an occasional day off
            begin = 7.5 + rng.normal(0, 0.5) + (0 if weekday < 5 else 2)
            finish = (16.5 if weekday < 5 else 12.5) + rng.normal(0, 0.6)
            minute = begin * 60
            while minute < finish * 60:
                if not (12.0 * 60 <= minute < 12.75 * 60) and rng.random() < 0.8:  # lunch break; not always seen
                    when = day + pd.Timedelta(minutes=float(minute) + rng.uniform(0, step / 2))
                    if when <= now:
                        alpha = base * _rhythm(minute / 60, weekday) * 60
                        scores = rng.dirichlet(alpha)
                        rows["time"].append(when)
                        rows["worker_id"].append(worker_id)
                        for name, value in zip(EMOTIONS, scores):
                            rows[name].append(float(value))
                        rows["distance"].append(float(rng.uniform(0.02, 0.06)))
                        rows["box_x"].append(int(rng.integers(100, 400)))
                        rows["box_w"].append(int(rng.integers(90, 160)))
                        rows["detector_confidence"].append(float(rng.uniform(0.9, 1.0)))
                minute += step
    frame = pd.DataFrame(rows)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["source"] = DEMO_SOURCE
    frame["threshold"] = 0.07
    frame["recognition_model"] = "demo"
    frame["metric"] = "cosine"
    frame["emotion_model"] = "demo"
    frame["detector"] = "demo"
    frame["box_y"] = 80
    frame["box_h"] = frame["box_w"]
    for name in ("box_x", "box_y", "box_w", "box_h"):
        frame[name] = frame[name].astype("int32")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def load_demo(store, days: int = 14, now=None, seed: int = 7) -> int:
    """Replace the demo rows in ``store`` with freshly generated ones ending at ``now``; returns rows written."""
    remove_demo(store)
    frame = demo_frame(days=days, now=now, seed=seed)
    written = store.append(frame)
    log.info("demo history: %d synthetic rows for %d demo workers", written, len(DEMO_WORKERS))
    return written


def remove_demo(store) -> int:
    """Delete every row of the demo workers. Returns the number of rows deleted."""
    return sum(store.erase_worker(worker_id) for worker_id in DEMO_WORKERS)
