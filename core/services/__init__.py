"""Use-cases, once: the CLI, the HTTP API and the dashboard parse input, call a service and format its result.

Each service takes an explicit :class:`~core.services.actor.Actor`, applies the policies (what is stored, what is
audited, what is refused) and writes one audit format (core/audit.py). Modules:

- :mod:`core.services.actor`         who performs an action
- :mod:`core.services.observations`  the storage policy (rows only for enrolled workers)
"""
