"""Settings page actions: save privacy/recognition settings, run retention, load/remove the demo history.

Each parses the page's inputs, calls a service (core/services/) and returns a message for the page, or raises a
FaceDashError whose text says what is wrong (nothing is saved then). The services write the audit lines.
"""

from __future__ import annotations

import logging

from core.config import Settings
from core.services import configuration, timeline
from core.services.actor import Actor
from core.services.configuration import PURPOSES, PrivacyChoice, privacy_problems

log = logging.getLogger(__name__)

__all__ = ["AI_ACT_NOTE", "PURPOSES", "load_demo", "privacy_problems", "remove_demo", "run_retention_now",
           "save_privacy", "save_recognition"]

AI_ACT_NOTE = (
    "The EU AI Act, Article 5(1)(f), prohibits AI systems that infer the emotions of a natural person in the areas "
    "of the workplace and education institutions, **except** where the system is intended to be put in place for "
    "**medical or safety reasons** (for example detecting fatigue or distress of a machine operator). Emotion "
    "analysis is therefore off by default; enabling it requires declaring one of those two purposes and describing "
    "it. The declared purpose is shown in the privacy notice of every page that analyses faces and written to the "
    "audit log. With it off, the app recognises people but infers, stores and shows no emotion."
)


def save_privacy(settings: Settings, actor: Actor, retention_days: int, emotion_enabled: bool, purpose: str | None,
                 purpose_text: str) -> str:
    choice = PrivacyChoice(int(retention_days), bool(emotion_enabled), purpose, purpose_text or "")
    path = configuration.save_privacy(settings, actor, choice)
    state = f"emotion analysis ON for a {purpose} purpose" if emotion_enabled else "emotion analysis OFF"
    return f"Saved to {path}: {state}, retention {choice.retention_days} days. The models were reloaded."


def save_recognition(settings: Settings, actor: Actor, threshold: float | None) -> str:
    """Save (or with ``threshold=None`` remove) the identity-threshold override."""
    path = configuration.save_recognition(settings, actor, threshold)
    what = f"identity threshold override {threshold:.4f}" if threshold is not None else \
        "no threshold override (calibrated value, else the library default)"
    return f"Saved to {path}: {what}."


def run_retention_now(settings: Settings, actor: Actor) -> str:
    deleted = timeline.apply_retention(settings, actor)
    return f"Retention applied: {deleted} row(s) older than {settings.retention_days} days deleted."


def load_demo(settings: Settings, actor: Actor) -> str:
    from core.demo import DEMO_WORKERS

    written, days = timeline.load_demo(settings, actor)
    note = "" if settings.emotion_active else (" Emotion charts stay hidden while emotion analysis is off; presence "
                                               "charts are shown.")
    return (f"Loaded {written} synthetic observations for {len(DEMO_WORKERS)} demo workers "
            f"({', '.join(DEMO_WORKERS.values())}), source 'demo', last {days} days.{note}")


def remove_demo(settings: Settings, actor: Actor) -> str:
    deleted = timeline.remove_demo(settings, actor)
    return f"Removed {deleted} demo observation(s)." if deleted else "There was no demo data to remove."
