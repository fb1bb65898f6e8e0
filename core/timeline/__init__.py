"""Emotion-timeline store (partitioned parquet) and the queries behind the charts. See docs/timeline.md.

Modules: ``schema`` (columns, validation, ids), ``fs`` (layout, storage backends), ``sql`` (DuckDB access),
``maintenance`` (compaction, erasure, retention), ``store`` (:class:`TimelineStore`), ``queries`` (charts).
"""

from core.timeline.maintenance import RewriteReport, enforce_retention
from core.timeline.queries import (
    RESOLUTIONS,
    label_distribution,
    smoothed_valence,
    team_summary,
    weekday_hour_heatmap,
    worker_timeline,
)
from core.timeline.schema import (
    COLUMNS,
    SCHEMA,
    TimelineArgumentError,
    TimelineDataError,
    empty_frame,
    normalize_records,
    observations_to_frame,
    to_utc,
)
from core.timeline.store import TimelineStore

__all__ = [
    "COLUMNS",
    "RESOLUTIONS",
    "SCHEMA",
    "RewriteReport",
    "TimelineArgumentError",
    "TimelineDataError",
    "TimelineStore",
    "empty_frame",
    "enforce_retention",
    "label_distribution",
    "normalize_records",
    "observations_to_frame",
    "to_utc",
    "smoothed_valence",
    "team_summary",
    "weekday_hour_heatmap",
    "worker_timeline",
]
