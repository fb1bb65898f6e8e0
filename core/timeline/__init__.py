"""Emotion-timeline store (partitioned parquet) and the queries behind the charts. See docs/timeline.md."""

from core.timeline.queries import (
    RESOLUTIONS,
    label_distribution,
    smoothed_valence,
    team_summary,
    weekday_hour_heatmap,
    worker_timeline,
)
from core.timeline.store import (
    COLUMNS,
    SCHEMA,
    RewriteReport,
    TimelineArgumentError,
    TimelineDataError,
    TimelineStore,
    empty_frame,
    enforce_retention,
    normalize_records,
    observations_to_frame,
    to_utc,
)

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
