"""Chart queries over a :class:`~core.timeline.store.TimelineStore`. Every function returns a pandas DataFrame
with the columns and dtypes documented in its docstring (and in docs/timeline.md), also when nothing matches.

Common arguments: ``start`` is inclusive and ``end`` exclusive (datetime, date, ISO string; naive = UTC);
``worker`` is one worker id, a list of ids, or None for everyone; ``tz`` is an IANA time-zone name used to
cut buckets / hours / weekdays (output times are always UTC instants).

Rows whose emotion analysis was disabled (scores null) count in ``n`` but not in means and label counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.timeline.schema import TimelineArgumentError
from core.timeline.store import TimelineStore
from core.types import EMOTION_VALENCE, EMOTIONS

RESOLUTIONS = ("raw", "minute", "hour", "day")
_UNKNOWN_KEY = "\x00unknown"  # group key for unknown faces (worker_id null) in team_summary
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LABEL_COUNT_COLUMNS = tuple(f"n_{e}" for e in EMOTIONS)

#: Columns of :func:`worker_timeline`.
TIMELINE_COLUMNS = ("time", "n", *EMOTIONS, *LABEL_COUNT_COLUMNS, "valence_score", "label")
#: Columns of :func:`team_summary`.
TEAM_COLUMNS = (
    "worker_id", "n", "n_emotion", "first_time", "last_time", *EMOTIONS, "valence_score", "label",
    "share_positive", "share_negative", "share_neutral",
)
DISTRIBUTION_COLUMNS = ("label", "n", "share")
HEATMAP_COLUMNS = ("weekday", "weekday_name", "hour", "n", "valence_score")
SMOOTHED_COLUMNS = ("time", "n", "valence_score", "valence_smooth")


def _check_tz(tz: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimelineArgumentError(f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'") from None
    return tz


def _check_resolution(resolution: str, allowed: Sequence[str] = RESOLUTIONS) -> str:
    if resolution not in allowed:
        raise TimelineArgumentError(f"unknown resolution {resolution!r}; choose one of {', '.join(allowed)}")
    return resolution


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bucket_sql(resolution: str, tz: str) -> str:
    if resolution == "raw":
        return "time"
    if tz == "UTC":
        return f"date_trunc('{resolution}', time)"
    return f"timezone({_lit(tz)}, date_trunc('{resolution}', timezone({_lit(tz)}, time)))"


def _utc(series: pd.Series) -> pd.Series:
    out = pd.to_datetime(series, utc=True)
    return out.dt.as_unit("us")


def _top_label(counts: pd.DataFrame) -> pd.Series:
    """Most frequent label per row from n_<label> columns (ties: FER-2013 order); NaN where all are 0."""
    values = counts[list(LABEL_COUNT_COLUMNS)].to_numpy()
    if len(values) == 0:
        return pd.Series([], dtype="str", index=counts.index)
    idx = values.argmax(axis=1)
    labels = np.asarray(EMOTIONS, dtype=object)[idx]
    labels = np.where(values.max(axis=1) > 0, labels, None)
    return pd.Series(labels, index=counts.index, dtype="str")


def _score_sql() -> str:
    means = ", ".join(f'avg("{e}")::DOUBLE AS "{e}"' for e in EMOTIONS)
    counts = ", ".join(f"count(*) FILTER (WHERE label = '{e}') AS n_{e}" for e in EMOTIONS)
    return f"{means}, {counts}, avg(valence_score)::DOUBLE AS valence_score"


def _finish(frame: pd.DataFrame, columns: Sequence[str], ints: Sequence[str] = (), floats: Sequence[str] = (),
            times: Sequence[str] = (), strings: Sequence[str] = ()) -> pd.DataFrame:
    for c in ints:
        frame[c] = frame[c].fillna(0).astype("int64")
    for c in floats:
        frame[c] = frame[c].astype("float64")
    for c in times:
        frame[c] = _utc(frame[c])
    for c in strings:
        frame[c] = frame[c].astype("str")
    return frame[list(columns)].reset_index(drop=True)


def worker_timeline(
    store: TimelineStore,
    worker_id: str | Sequence[str],
    start: Any = None,
    end: Any = None,
    resolution: str = "hour",
    *,
    tz: str = "UTC",
) -> pd.DataFrame:
    """One worker's emotions over time, one row per bucket that has rows (``resolution='raw'``: per observation).

    ``worker_id`` may also be a list of ids: the buckets then pool those workers (the dashboard's "team" view).

    Columns (:data:`TIMELINE_COLUMNS`):

    ========================= ===================== ==========================================================
    time                      datetime64[us, UTC]   bucket start (raw: observation time); buckets cut in ``tz``
    n                         int64                 observations in the bucket (raw: 1)
    angry ... neutral         float64               mean probability of each FER-2013 class (NaN: no emotion)
    n_angry ... n_neutral     int64                 how many observations had that top label
    valence_score             float64               mean of P(positive) - P(negative), in [-1, 1]
    label                     str                   most frequent top label in the bucket (NaN: none)
    ========================= ===================== ==========================================================
    """
    _check_resolution(resolution)
    _check_tz(tz)
    if worker_id is None or (isinstance(worker_id, str) and not worker_id.strip()):
        raise TimelineArgumentError("worker_timeline needs a worker id (or a list of ids)")
    cols = ["time", *EMOTIONS, "label", "valence_score"]
    if resolution == "raw":
        counts = ", ".join(f"(label = '{e}')::BIGINT AS n_{e}" for e in EMOTIONS)
        means = ", ".join(f'"{e}"::DOUBLE AS "{e}"' for e in EMOTIONS)
        sql = (f"SELECT time, 1::BIGINT AS n, {means}, {counts}, valence_score::DOUBLE AS valence_score "
               f"FROM obs ORDER BY time")
    else:
        sql = (f"SELECT {_bucket_sql(resolution, tz)} AS time, count(*) AS n, {_score_sql()} "
               f"FROM obs GROUP BY 1 ORDER BY 1")
    frame = store.query(sql, worker=worker_id, start=start, end=end, columns=cols).to_pandas()
    frame["label"] = _top_label(frame.fillna({c: 0 for c in LABEL_COUNT_COLUMNS}))
    return _finish(frame, TIMELINE_COLUMNS, ints=("n", *LABEL_COUNT_COLUMNS), floats=(*EMOTIONS, "valence_score"),
                   times=("time",))


def team_summary(
    store: TimelineStore, start: Any = None, end: Any = None, *, include_unknown: bool = False
) -> pd.DataFrame:
    """One row per worker (sorted by id; unknown faces as worker_id NaN when ``include_unknown``).

    Columns (:data:`TEAM_COLUMNS`):

    ======================================= ===================== ============================================
    worker_id                               str                   worker id (NaN = unknown faces)
    n                                       int64                 observations
    n_emotion                               int64                 observations with an emotion result
    first_time, last_time                   datetime64[us, UTC]   first / last observation
    angry ... neutral                       float64               mean class probabilities
    valence_score                           float64               mean P(positive) - P(negative)
    label                                   str                   most frequent top label
    share_positive/negative/neutral         float64               fraction of ``n_emotion`` with that valence
    ======================================= ===================== ============================================
    """
    # One pass grouped by (worker, label): sums and counts; means, shares and top labels are combined in pandas.
    sums = ", ".join(f'sum("{e}")::DOUBLE AS "{e}"' for e in EMOTIONS)
    sql = (
        "SELECT worker_id, label, count(*) AS n, count(neutral) AS n_scores, count(valence_score) AS n_valence, "
        f"min(time) AS first_time, max(time) AS last_time, {sums}, sum(valence_score)::DOUBLE AS valence_total "
        "FROM obs GROUP BY worker_id, label"
    )
    cols = ["time", "worker_id", *EMOTIONS, "label", "valence_score"]
    groups = store.query(sql, start=start, end=end, columns=cols, include_unknown=include_unknown).to_pandas()
    key = groups["worker_id"].astype(object).where(groups["worker_id"].notna(), _UNKNOWN_KEY)
    groups = groups.assign(_key=key.to_numpy())
    agg = groups.groupby("_key", sort=False).agg(
        n=("n", "sum"), n_scores=("n_scores", "sum"), n_valence=("n_valence", "sum"),
        first_time=("first_time", "min"), last_time=("last_time", "max"),
        **{e: (e, "sum") for e in EMOTIONS}, valence_total=("valence_total", "sum"),
    )
    labelled = groups[groups["label"].notna()]
    counts = labelled.pivot_table(index="_key", columns="label", values="n", aggfunc="sum", fill_value=0)
    counts = counts.reindex(index=agg.index, columns=list(EMOTIONS), fill_value=0).fillna(0).astype("int64")
    counts.columns = list(LABEL_COUNT_COLUMNS)
    frame = agg.join(counts)
    frame["n_emotion"] = frame[list(LABEL_COUNT_COLUMNS)].sum(axis=1)
    scored = frame["n_scores"].astype("float64").replace(0, np.nan)
    for e in EMOTIONS:
        frame[e] = frame[e] / scored
    frame["valence_score"] = frame["valence_total"] / frame["n_valence"].astype("float64").replace(0, np.nan)
    frame["label"] = _top_label(frame)
    denom = frame["n_emotion"].astype("float64").replace(0, np.nan)
    for valence in ("positive", "negative", "neutral"):
        members = [f"n_{e}" for e in EMOTIONS if EMOTION_VALENCE[e] == valence]
        frame[f"share_{valence}"] = frame[members].sum(axis=1) / denom
    frame["worker_id"] = pd.Series(frame.index, index=frame.index, dtype=object).where(
        frame.index != _UNKNOWN_KEY, None)
    frame = frame.assign(_unknown=frame["worker_id"].isna()).sort_values(["_unknown", "worker_id"])
    return _finish(frame, TEAM_COLUMNS, ints=("n", "n_emotion"),
                   floats=(*EMOTIONS, "valence_score", "share_positive", "share_negative", "share_neutral"),
                   times=("first_time", "last_time"), strings=("worker_id",))


def label_distribution(
    store: TimelineStore, worker: str | Sequence[str] | None = None, start: Any = None, end: Any = None
) -> pd.DataFrame:
    """How often each top label occurs: always 7 rows in FER-2013 order.

    Columns: ``label`` (str), ``n`` (int64), ``share`` (float64, n / total with an emotion; NaN if total is 0).
    """
    table = store.query("SELECT label, count(*) AS n FROM obs WHERE label IS NOT NULL GROUP BY label",
                        worker=worker, start=start, end=end, columns=["label"])
    counts = dict(zip(table.column("label").to_pylist(), table.column("n").to_pylist()))
    frame = pd.DataFrame({"label": pd.Series(EMOTIONS, dtype="str"),
                          "n": np.array([int(counts.get(e, 0)) for e in EMOTIONS], dtype="int64")})
    total = int(frame["n"].sum())
    frame["share"] = frame["n"] / total if total else np.nan
    frame["share"] = frame["share"].astype("float64")
    return frame[list(DISTRIBUTION_COLUMNS)]


def weekday_hour_heatmap(
    store: TimelineStore,
    worker: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    *,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Hour-of-day x weekday grid (in ``tz``): always 168 rows, weekday-major.

    Columns: ``weekday`` (int64, 0 = Monday), ``weekday_name`` (str, "Mon".."Sun"), ``hour`` (int64, 0-23),
    ``n`` (int64 observations), ``valence_score`` (float64 mean; NaN where no emotion was recorded).
    Pivot for a chart with ``frame.pivot(index="weekday_name", columns="hour", values="valence_score")``.
    """
    _check_tz(tz)
    local = "time" if tz == "UTC" else f"timezone({_lit(tz)}, time)"
    sql = (f"SELECT (isodow({local}) - 1)::BIGINT AS weekday, hour({local})::BIGINT AS hour, count(*) AS n, "
           f"avg(valence_score)::DOUBLE AS valence_score FROM obs GROUP BY ALL")
    got = store.query(sql, worker=worker, start=start, end=end, columns=["time", "valence_score"]).to_pandas()
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    frame = (got.set_index(["weekday", "hour"]).reindex(grid) if len(got)
             else pd.DataFrame({"n": 0, "valence_score": np.nan}, index=grid)).reset_index()
    frame["weekday_name"] = pd.Series(np.asarray(WEEKDAY_NAMES, dtype=object)[frame["weekday"].to_numpy()], dtype="str")
    return _finish(frame, HEATMAP_COLUMNS, ints=("weekday", "hour", "n"), floats=("valence_score",))


def smoothed_valence(
    store: TimelineStore,
    worker: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    *,
    resolution: str = "minute",
    window: str | pd.Timedelta = "15min",
    tz: str = "UTC",
) -> pd.DataFrame:
    """Valence over time with a trailing time-window average (weighted by observation count).

    Columns: ``time`` (datetime64[us, UTC] bucket start), ``n`` (int64 observations with an emotion),
    ``valence_score`` (float64 bucket mean of P(positive) - P(negative)), ``valence_smooth`` (float64 mean over
    the trailing ``window`` — a pandas offset such as "15min", "2h", "7D" — ending at this bucket).
    """
    _check_resolution(resolution)
    _check_tz(tz)
    try:
        window_td = pd.Timedelta(window)
    except (ValueError, TypeError):
        raise TimelineArgumentError(f"window {window!r} is not a duration such as '15min' or '2h'") from None
    if window_td <= pd.Timedelta(0):
        raise TimelineArgumentError(f"window must be positive, got {window!r}")
    sql = (f"SELECT {_bucket_sql(resolution, tz)} AS time, count(valence_score) AS n, "
           f"sum(valence_score)::DOUBLE AS total FROM obs WHERE valence_score IS NOT NULL GROUP BY 1 ORDER BY 1")
    frame = store.query(sql, worker=worker, start=start, end=end, columns=["time", "valence_score"]).to_pandas()
    frame["time"] = _utc(frame["time"])
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("float64")
    frame["valence_score"] = frame["total"] / frame["n"].replace(0, np.nan)
    if len(frame):
        rolled = frame.set_index("time")[["total", "n"]].astype("float64").rolling(window_td).sum()
        frame["valence_smooth"] = (rolled["total"] / rolled["n"].replace(0, np.nan)).to_numpy()
    else:
        frame["valence_smooth"] = pd.Series([], dtype="float64")
    return _finish(frame, SMOOTHED_COLUMNS, ints=("n",), floats=("valence_score", "valence_smooth"),
                   times=("time",))
