"""The storage policy for observations, in one place: rows are stored only for enrolled workers.

A face the gallery does not name (unknown, or ambiguous between two workers) belongs to a person who gave no
consent: nothing about it is stored, not even an anonymous row. Callers learn how many faces were left out
(``StoredRows.unknown``) so they can say so, but that count is not kept either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.types import Observation


@dataclass(frozen=True)
class StoredRows:
    stored: int
    unknown: int  # faces seen but not stored (no enrolled worker named)


def storable(observations: Iterable[Observation]) -> list[Observation]:
    """The observations the policy allows to be stored: those naming an enrolled worker."""
    return [o for o in observations if o.identity.is_known]


def recording_sink(actor, store):
    """Where the live camera of ``actor``'s session may record: ``store`` when they hold ``observations.store``,
    else None (their camera shows names but stores nothing)."""
    from core.auth.roles import Permission

    return store if actor.can(Permission.STORE) else None


def store_observations(store, observations: Sequence[Observation]) -> StoredRows:
    """Append the storable ``observations`` to ``store`` (a TimelineStore); returns what was stored and left out."""
    keep = storable(observations)
    written = store.append(keep) if keep else 0
    return StoredRows(int(written), len(observations) - len(keep))
