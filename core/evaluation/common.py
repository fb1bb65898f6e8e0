"""What both runners share: the JSON result files (schema keys, timestamps, strict atomic writes) and the progress
bar (also used by ``benchmarks/bench_identity.py``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

from core.fileio import atomic_write

log = logging.getLogger(__name__)

DEFAULT_TARGET_FAR = 0.01

#: Keys the dashboard's evaluation page reads; tests check written files against them.
EMOTION_KEYS = ("backend", "dataset", "split", "n", "computed_at", "accuracy", "labels", "confusion", "per_class",
                "roc", "valence", "seconds_per_face")
IDENTITY_KEYS = ("model", "metric", "dataset", "computed_at", "top1_accuracy", "top1_correct", "top1_total",
                 "threshold", "threshold_source", "auc", "eer", "genuine", "impostor", "far_frr", "roc",
                 "unknown_rejection", "models_unavailable")


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_json(path: Path, payload: dict) -> Path:
    """Write strict JSON (no NaN) atomically: a reader never sees half a file."""
    # 0o644: readable by the dashboard's user, like any committed file
    path = atomic_write(path, json.dumps(payload, indent=1, allow_nan=False) + "\n", mode=0o644)
    log.info("wrote %s", path)
    return path


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "face"):
    """A tqdm bar on stderr that disappears when done (``enabled=False``: no output at all)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, file=sys.stderr)
