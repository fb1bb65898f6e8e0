"""Settings changes made at run time (the dashboard's Settings page): privacy and recognition.

Policy: emotion analysis is enabled only with a declared purpose (medical or safety, EU AI Act Art. 5(1)(f)) and a
description of it; every change is validated against Settings before it is saved and is audited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.audit import append_audit, audit_record
from core.auth.roles import Permission
from core.config import save_overrides
from core.errors import ConfigError
from core.services.access import require
from core.services.actor import Actor
from core.services.limits import MAX_TEXT

PURPOSES = ("medical", "safety")


@dataclass(frozen=True)
class PrivacyChoice:
    retention_days: int
    emotion_enabled: bool
    emotion_purpose: str | None
    emotion_purpose_text: str


def privacy_problems(emotion_enabled: bool, purpose: str | None, purpose_text: str) -> list[str]:
    """What prevents saving this privacy choice (the page disables its button while this is not empty)."""
    problems = []
    if emotion_enabled:
        if purpose not in PURPOSES:
            problems.append("choose the purpose: medical or safety (any other purpose is prohibited at work)")
        if not (purpose_text or "").strip():
            problems.append("describe the purpose (what is detected, why, and who sees the results)")
    if len((purpose_text or "").strip()) > MAX_TEXT:
        problems.append(f"the purpose description is longer than {MAX_TEXT} characters")
    return problems


def save_privacy(settings, actor: Actor, choice: PrivacyChoice) -> Path:
    """Validate and save the privacy settings; returns the overrides file written."""
    require(settings, actor, Permission.PRIVACY, "change the privacy settings")
    problems = privacy_problems(choice.emotion_enabled, choice.emotion_purpose, choice.emotion_purpose_text)
    if problems:
        raise ConfigError("Not saved: " + "; ".join(problems) + ".")
    changes: dict[str, Any] = {
        "retention_days": int(choice.retention_days),
        "emotion_enabled": bool(choice.emotion_enabled),
        "emotion_purpose": choice.emotion_purpose if choice.emotion_purpose in PURPOSES else None,
        "emotion_purpose_text": (choice.emotion_purpose_text or "").strip(),
    }
    record = audit_record("settings_privacy", actor, None, **changes)
    path = save_overrides(changes)
    append_audit(settings, record)
    return path


def save_recognition(settings, actor: Actor, threshold: float | None) -> Path:
    """Save (or with ``threshold=None`` remove) the identity-threshold override."""
    require(settings, actor, Permission.SETTINGS, "change the recognition threshold")
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise ConfigError("Not saved: the identity threshold must be a number greater than 0")
    record = audit_record("settings_recognition", actor, None, identity_threshold=threshold)
    path = save_overrides({"identity_threshold": threshold})
    append_audit(settings, record)
    return path


def save_calibration(engine, actor: Actor, result: dict) -> Path:
    """Save a calibration run's threshold (and margin) for the engine's model and metric; audited."""
    require(engine.settings, actor, Permission.SETTINGS, "save a calibration")
    threshold = result.get("threshold")
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold <= 0:
        raise ConfigError(f"the calibration chose no usable threshold ({threshold!r}); nothing was saved")
    record = audit_record("calibration_saved", actor, None, model=str(result["model"]), metric=str(result["metric"]),
                          threshold=float(threshold), margin=result.get("margin"),
                          target_far=result.get("target_far"))
    engine.gallery.save_calibration(result["model"], result["metric"], result)
    append_audit(engine.settings, record)
    return engine.gallery.calibration_path
