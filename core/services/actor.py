"""Who performs a use-case: every service call takes an :class:`Actor`, and every audit line records it.

The front-end that received the request says who the actor is: the CLI the login name (or ``--actor``), the HTTP
API the key's holder, the dashboard the person at the keyboard (free text today; the signed-in account once
sign-in exists). Services never guess an actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    """``name`` who (a person's name or login, an API key's name, ``system``); ``via`` which front-end."""

    name: str
    via: Channel

    def __post_init__(self) -> None:
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name:
            raise ActorError("the action needs an actor: who does it (recorded in the audit log)")
        if len(name) > MAX_ACTOR_LENGTH or _CONTROL.search(name):
            raise ActorError(f"the actor's name must be at most {MAX_ACTOR_LENGTH} printable characters")
        if self.via not in CHANNELS:
            raise ActorError(f"unknown channel {self.via!r}; one of {', '.join(CHANNELS)}")
        object.__setattr__(self, "name", name)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, "system")
