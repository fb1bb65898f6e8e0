"""What every command shares: settings from the options, the engine, the actor, progress bars and output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

from core.services.actor import Actor

log = logging.getLogger("core.cli")

EXIT_PARTIAL = 1  # some inputs failed (e.g. one of several images had no face)

#: command-line option -> Settings field
SETTING_OPTIONS = (("data_dir", "data_dir"), ("gallery", "gallery_dir"), ("detector", "detector"),
                   ("model", "recognition_model"), ("emotion_backend", "emotion_backend"),
                   ("threshold", "identity_threshold"), ("metric", "distance_metric"), ("store", "store_uri"))


def settings_from(args):
    from core.config import load_settings

    overrides = {key: getattr(args, flag) for flag, key in SETTING_OPTIONS if getattr(args, flag, None) is not None}
    purpose = getattr(args, "emotion_purpose", None)
    if purpose:
        overrides.update(emotion_enabled=True, emotion_purpose=purpose)
    return load_settings(**overrides)


def actor_from(args) -> Actor:
    """The operator on the server (admin rights, audited under the login name or --actor): see docs/security.md."""
    return Actor.operator(args.actor)


def load_engine(args, settings):
    from core.engine import FaceEngine
    from core.runtime import import_tensorflow_quietly

    if not getattr(args, "verbose", False):
        import_tensorflow_quietly()
    engine = FaceEngine(settings)
    report = engine.backend_report()
    log.info("detector=%s recognition=%s (%s) emotion=%s", report.detector, report.recognition.name,
             report.recognition.reason, report.as_dict()["emotion_backend"])
    return engine


class Progress:
    """A tqdm bar on stderr driven by ``(done, total)`` callbacks; total 0 = not known yet (set later)."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        from tqdm import tqdm

        # a single item needs no bar
        self.bar = tqdm(total=total or None, desc=desc, unit="item", file=sys.stderr,
                        disable=not enabled or total == 1, leave=False)

    def __call__(self, done: int, total: int) -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def progress(args, total: int, desc: str) -> Progress:
    return Progress(total, desc, enabled=not args.quiet)


def emit(args, payload, human: str) -> None:
    """``payload`` as JSON with ``--json``, else the human text (nothing when empty)."""
    if args.json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    elif human:
        sys.stdout.write(human.rstrip("\n") + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")


def face_line(rec: dict, names: dict[str, str]) -> str:
    who = names.get(rec["worker"], rec["worker"]) if rec["worker"] else (
        "unknown (ambiguous)" if rec.get("ambiguous") else "unknown")
    if rec["distance"] is None:
        line = f"  face at {rec['box']}: unknown (no worker enrolled yet)"
    else:
        line = f"  face at {rec['box']}: {who} (distance {rec['distance']}, threshold {rec['threshold']})"
    if rec.get("emotion"):
        line += f", emotion {rec['emotion']['label']} ({rec['valence']})"
    return line


Handler = Callable[..., int]
