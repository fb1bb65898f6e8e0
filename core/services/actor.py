"""Who performs a use-case: every service call takes an :class:`Actor`, and every audit line records it.

The front-end that received the request says who the actor is and what they may do:

- the dashboard: the signed-in account (or identity-provider user) with its role (:meth:`Actor.signed_in`);
- the HTTP API: the API key's name with the permissions of its scopes (:meth:`Actor.api_key`);
- the CLI: the operator of the server (:meth:`Actor.operator`), the login name (or ``--actor``) with the admin
  role: whoever can run it can read the data folder anyway; it is audited like everyone else;
- the system itself for scheduled work such as retention at start-up (:meth:`Actor.system`).

Services never guess an actor, and check its permissions (core/services/access.py) before they do anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.auth.roles import ALL_PERMISSIONS, Permission, role_permissions, scope_permissions
from core.errors import FaceDashError
from core.services.limits import CONTROL_CHARACTERS

#: The front-ends (and the system itself, for scheduled work such as retention at start-up).
Channel = Literal["cli", "api", "dashboard", "system"]
CHANNELS: tuple[str, ...] = ("cli", "api", "dashboard", "system")
MAX_ACTOR_LENGTH = 100
_CONTROL = CONTROL_CHARACTERS


class ActorError(FaceDashError):
    """The actor is missing or not a short printable name."""

    exit_code = 2
    http_status = 400


@dataclass(frozen=True)
class Actor:
    """``name`` who (an account, an API key's name, a login name, ``system``); ``via`` which front-end;
    ``permissions`` what they may do; ``role`` the role those came from (None for an API key)."""

    name: str
    via: Channel
    permissions: frozenset[Permission] = field(default=frozenset())
    role: str | None = None

    def __post_init__(self) -> None:
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name:
            raise ActorError("the action needs an actor: who does it (recorded in the audit log)")
        if len(name) > MAX_ACTOR_LENGTH or _CONTROL.search(name):
            raise ActorError(f"the actor's name must be at most {MAX_ACTOR_LENGTH} printable characters")
        if self.via not in CHANNELS:
            raise ActorError(f"unknown channel {self.via!r}; one of {', '.join(CHANNELS)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "permissions", frozenset(self.permissions))

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @classmethod
    def signed_in(cls, name: str, role: str, via: Channel = "dashboard") -> Actor:
        return cls(name, via, role_permissions(role), role)

    @classmethod
    def api_key(cls, name: str, scopes) -> Actor:
        return cls(name, "api", scope_permissions(scopes), None)

    @classmethod
    def operator(cls, name: str) -> Actor:
        """The CLI's user on the server: admin rights (they hold the data folder's files anyway), audited."""
        return cls(name, "cli", ALL_PERMISSIONS, "admin")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, "system", ALL_PERMISSIONS, "system")
