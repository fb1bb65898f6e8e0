"""The access policy in one table: what each permission allows, which role holds which, what each API scope grants.

Roles are cumulative (each holds everything of the one before it): ``viewer`` < ``manager`` < ``hr`` < ``admin``.
The services check permissions (core/services/access.py); the dashboard's navigation shows only the pages whose
permission the signed-in role holds; API keys carry scopes, each granting a few permissions. docs/security.md
prints this table.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import FaceDashError


class Permission(StrEnum):
    TEAM_HISTORY = "history.team"  # team-level emotion/presence charts (no per-worker view)
    EVALUATION = "evaluation.read"  # model quality reports (no personal data)
    LIVE = "live.view"  # the live camera page
    IDENTIFY = "faces.identify"  # who is in a photo (no emotion)
    ANALYZE = "faces.analyze"  # identity + emotion of photos and videos
    STORE = "observations.store"  # save analysed observations to the timeline (live recording too)
    WORKER_HISTORY = "history.worker"  # one worker's history
    WORKERS_READ = "workers.read"  # worker ids, names and photo counts
    WORKERS_WRITE = "workers.write"  # enroll, rename, erase
    CONSENT_READ = "consent.read"  # consent records
    EXPORT = "timeline.export"  # take a worker's rows out of the system (CSV, parquet)
    SETTINGS = "settings.write"  # recognition threshold, calibration
    PRIVACY = "privacy.write"  # emotion analysis and its purpose, retention period
    RETENTION = "retention.run"  # run the retention rule now
    DEMO = "demo.manage"  # load or remove the synthetic demo history
    MAINTENANCE = "maintenance"  # compaction, check and repair of stored files
    USERS = "users.manage"  # accounts and roles
    API_KEYS = "api_keys.manage"  # create and revoke API keys
    AUDIT = "audit.read"  # read and export the audit log


P = Permission
ROLES: tuple[str, ...] = ("viewer", "manager", "hr", "admin")
_ADDED: dict[str, tuple[Permission, ...]] = {
    "viewer": (P.TEAM_HISTORY, P.EVALUATION),
    "manager": (P.LIVE, P.IDENTIFY, P.ANALYZE, P.STORE, P.WORKER_HISTORY, P.WORKERS_READ),
    "hr": (P.WORKERS_WRITE, P.CONSENT_READ, P.EXPORT),
    "admin": (P.SETTINGS, P.PRIVACY, P.RETENTION, P.DEMO, P.MAINTENANCE, P.USERS, P.API_KEYS, P.AUDIT),
}
ROLE_DESCRIPTIONS = {
    "viewer": "team-level charts and model quality",
    "manager": "live camera, uploads, each worker's history",
    "hr": "enroll, rename and erase workers, consent records, exports",
    "admin": "settings, emotion purpose, retention, users, API keys, audit log",
}


def _cumulative() -> dict[str, frozenset[Permission]]:
    out: dict[str, frozenset[Permission]] = {}
    held: set[Permission] = set()
    for role in ROLES:
        held |= set(_ADDED[role])
        out[role] = frozenset(held)
    return out


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = _cumulative()
ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)

#: API-key scopes and the permissions each grants (a key holds the union of its scopes').
SCOPES: dict[str, frozenset[Permission]] = {
    "identify": frozenset({P.IDENTIFY}),
    "analyze": frozenset({P.ANALYZE}),
    "store": frozenset({P.STORE}),
    "workers:read": frozenset({P.WORKERS_READ}),
    "workers:write": frozenset({P.WORKERS_WRITE}),
}


#: A role without ``history.worker`` sees team charts only when at least this many workers are in them (a "team"
#: of one or two would show individuals).
MIN_TEAM_SIZE = 3


class RoleError(FaceDashError):
    """An unknown role or scope name."""


def check_role(role: str) -> str:
    if role not in ROLE_PERMISSIONS:
        raise RoleError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def check_scopes(scopes) -> tuple[str, ...]:
    """The scopes, sorted and without repeats; RoleError naming an unknown one (or none given)."""
    names = sorted({str(s).strip() for s in scopes if str(s).strip()})
    unknown = [s for s in names if s not in SCOPES]
    if unknown:
        raise RoleError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    if not names:
        raise RoleError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(names)


def role_permissions(role: str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[check_role(role)]


def scope_permissions(scopes) -> frozenset[Permission]:
    out: set[Permission] = set()
    for scope in check_scopes(scopes):
        out |= SCOPES[scope]
    return frozenset(out)
