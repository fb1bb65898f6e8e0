"""The one permission check: every service calls :func:`require` before it reads or changes anything.

A refusal is a :class:`PermissionDeniedError` (HTTP 403, CLI exit 5) naming what was refused and which role or
scope would allow it; it is written to the audit log (outcome ``failed``, ``error: not permitted``), so repeated
attempts show up there.
"""

from __future__ import annotations

import logging

from core.auth.roles import ROLE_PERMISSIONS, ROLES, SCOPES, Permission
from core.errors import FaceDashError
from core.services.actor import Actor

log = logging.getLogger(__name__)


class PermissionDeniedError(FaceDashError):
    exit_code = 5
    http_status = 403


def lowest_role(permission: Permission) -> str | None:
    return next((role for role in ROLES if permission in ROLE_PERMISSIONS[role]), None)


def scopes_for(permission: Permission) -> list[str]:
    return [scope for scope, granted in SCOPES.items() if permission in granted]


def denial_message(actor: Actor, permission: Permission, what: str) -> str:
    if actor.via == "api":
        scopes = scopes_for(permission)
        need = f"a key with the scope {' or '.join(scopes)}" if scopes else "the dashboard (no API scope allows it)"
        return f"this API key may not {what}: that needs {need}"
    role = lowest_role(permission)
    return f"{actor.name} ({actor.role or 'no role'}) may not {what}: that needs the {role} role or higher"


def require(settings, actor: Actor, permission: Permission, what: str, subject: str | None = None) -> None:
    """Return when ``actor`` holds ``permission``; else audit the attempt and raise PermissionDeniedError."""
    if not isinstance(actor, Actor):
        raise PermissionDeniedError(f"{what}: no actor given (who does it?)")
    if actor.can(permission):
        return
    message = denial_message(actor, permission, what)
    try:
        from core.audit import audit

        audit(settings, "access_denied", actor, subject if isinstance(subject, str) else None, outcome="failed",
              permission=str(permission), error="not permitted")
    except FaceDashError as exc:  # the refusal stands even when it cannot be logged
        log.warning("access denied (%s) could not be audited: %s", message, exc)
    raise PermissionDeniedError(message)
