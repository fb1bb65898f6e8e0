"""Use-cases, once: the CLI, the HTTP API and the dashboard parse input, call a service and format its result.

Each service takes an explicit :class:`~core.services.actor.Actor`, applies the policies (what is stored, what is
audited, what is refused) and writes one audit format (core/audit.py). Modules:

- :mod:`core.services.actor`          who performs an action (name + front-end)
- :mod:`core.services.workers`        enroll (consent first), rename, erase, list
- :mod:`core.services.analysis`       identify, analyse and store photos and videos; emotion of aligned crops
- :mod:`core.services.observations`   the storage policy: rows only for enrolled workers
- :mod:`core.services.timeline`       retention, export, demo history, stats, compaction
- :mod:`core.services.configuration`  privacy and recognition settings, saved calibrations
- :mod:`core.services.limits`         upload size and type, free-text lengths (one check, one message)
- :mod:`core.services.health`         check the stored files (settings, gallery, embeddings, audit log, parquet); repair
- :mod:`core.services.records`        the face-record schema shared by the CLI's --json and the HTTP API
"""
