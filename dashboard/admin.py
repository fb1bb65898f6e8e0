"""Settings page actions: save privacy/recognition settings, run retention, load/remove the demo history.

Each returns a message for the page, or raises a FaceDashError whose text says what is wrong (nothing is saved then).
Every change writes an audit line.
"""

from __future__ import annotations

import logging

from core.config import Settings, save_overrides
from core.errors import ConfigError, FaceDashError

log = logging.getLogger(__name__)

PURPOSES = ("medical", "safety")
AI_ACT_NOTE = (
    "The EU AI Act, Article 5(1)(f), prohibits AI systems that infer the emotions of a natural person in the areas "
    "of the workplace and education institutions, **except** where the system is intended to be put in place for "
    "**medical or safety reasons** (for example detecting fatigue or distress of a machine operator). Emotion "
    "analysis is therefore off by default; enabling it requires declaring one of those two purposes and describing "
    "it. The declared purpose is shown in the privacy notice of every page that analyses faces and written to the "
    "audit log. With it off, the app recognises people but infers, stores and shows no emotion."
)


def _need_actor(actor: str) -> str:
    if not (actor or "").strip():
        raise FaceDashError("enter your name (recorded in the audit log) before changing settings")
    return actor.strip()


def privacy_problems(emotion_enabled: bool, purpose: str | None, purpose_text: str) -> list[str]:
    if not emotion_enabled:
        return []
    problems = []
    if purpose not in PURPOSES:
        problems.append("choose the purpose: medical or safety (any other purpose is prohibited at work)")
    if not (purpose_text or "").strip():
        problems.append("describe the purpose (what is detected, why, and who sees the results)")
    return problems


def save_privacy(settings: Settings, actor: str, retention_days: int, emotion_enabled: bool, purpose: str | None,
                 purpose_text: str) -> str:
    from core.privacy import audit

    actor = _need_actor(actor)
    problems = privacy_problems(emotion_enabled, purpose, purpose_text)
    if problems:
        raise ConfigError("Not saved: " + "; ".join(problems) + ".")
    changes = {
        "retention_days": int(retention_days),
        "emotion_enabled": bool(emotion_enabled),
        "emotion_purpose": purpose if purpose in PURPOSES else None,
        "emotion_purpose_text": (purpose_text or "").strip(),
    }
    path = save_overrides(changes)
    audit(settings, "settings_privacy", actor, retention_days=changes["retention_days"],
          emotion_enabled=changes["emotion_enabled"], emotion_purpose=changes["emotion_purpose"],
          emotion_purpose_text=changes["emotion_purpose_text"][:500])
    state = (f"emotion analysis ON for a {purpose} purpose" if emotion_enabled else "emotion analysis OFF")
    return f"Saved to {path}: {state}, retention {changes['retention_days']} days. The models were reloaded."


def save_recognition(settings: Settings, actor: str, threshold: float | None) -> str:
    """Save (or with ``threshold=None`` remove) the identity-threshold override."""
    from core.privacy import audit

    actor = _need_actor(actor)
    if threshold is not None and not threshold > 0:
        raise ConfigError("Not saved: the identity threshold must be greater than 0")
    path = save_overrides({"identity_threshold": threshold})
    audit(settings, "settings_recognition", actor, identity_threshold=threshold)
    what = f"identity threshold override {threshold:.4f}" if threshold is not None else \
        "no threshold override (calibrated value, else the library default)"
    return f"Saved to {path}: {what}."


def run_retention_now(settings: Settings, actor: str) -> str:
    from core.privacy import run_retention

    deleted = run_retention(settings, _need_actor(actor))
    return f"Retention applied: {deleted} row(s) older than {settings.retention_days} days deleted."


def load_demo(settings: Settings, actor: str = "dashboard") -> str:
    from core.demo import DEMO_WORKERS
    from core.demo import load_demo as _load
    from core.privacy import audit
    from core.timeline.store import TimelineStore

    days = min(14, settings.retention_days)
    with TimelineStore.from_settings(settings) as store:
        written = _load(store, days=days)
    audit(settings, "demo_load", actor or "dashboard", rows=written, workers=list(DEMO_WORKERS))
    note = "" if settings.emotion_active else (" Emotion charts stay hidden while emotion analysis is off; presence "
                                               "charts are shown.")
    return (f"Loaded {written} synthetic observations for {len(DEMO_WORKERS)} demo workers "
            f"({', '.join(DEMO_WORKERS.values())}), source 'demo', last {days} days.{note}")


def remove_demo(settings: Settings, actor: str = "dashboard") -> str:
    from core.demo import remove_demo as _remove
    from core.privacy import audit
    from core.timeline.store import TimelineStore

    with TimelineStore.from_settings(settings) as store:
        deleted = _remove(store)
    audit(settings, "demo_remove", actor or "dashboard", rows_deleted=deleted)
    return f"Removed {deleted} demo observation(s)." if deleted else "There was no demo data to remove."
