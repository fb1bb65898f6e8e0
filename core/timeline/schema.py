"""Row schema of the timeline store: columns and dtypes, validation of incoming rows, the ``obs_id`` content hash.

Everything here is pure data handling (pyarrow / pandas / numpy); nothing touches the file system. See the
"Row schema" section of docs/timeline.md for the meaning of each column.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import FaceDashError, StoreError
from core.types import EMOTION_VALENCE, EMOTIONS, Observation

logger = logging.getLogger(__name__)

#: Arrow schema of every stored file (and of :meth:`TimelineStore.read`). ``worker_id`` null = unknown face.
SCHEMA = pa.schema(
    [
        pa.field("obs_id", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("worker_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        *[pa.field(name, pa.float32()) for name in EMOTIONS],
        pa.field("label", pa.string()),
        pa.field("valence", pa.string()),
        pa.field("valence_score", pa.float32()),
        pa.field("distance", pa.float32()),
        pa.field("threshold", pa.float32()),
        pa.field("recognition_model", pa.string()),
        pa.field("metric", pa.string()),
        pa.field("emotion_model", pa.string()),
        pa.field("detector", pa.string()),
        pa.field("detector_confidence", pa.float32()),
        pa.field("box_x", pa.int32()),
        pa.field("box_y", pa.int32()),
        pa.field("box_w", pa.int32()),
        pa.field("box_h", pa.int32()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
SCORE_COLUMNS: tuple[str, ...] = EMOTIONS
REQUIRED_COLUMNS = ("time", "source")
VALENCES = ("positive", "negative", "neutral")

#: +1 for positive classes, -1 for negative, 0 for neutral: ``valence_score = scores @ VALENCE_WEIGHTS``.
VALENCE_WEIGHTS = np.array(
    [{"positive": 1.0, "negative": -1.0, "neutral": 0.0}[EMOTION_VALENCE[e]] for e in EMOTIONS], dtype=np.float64
)

# Columns that define an observation's identity for the content hash (obs_id).
_HASH_COLUMNS = (
    "time", "worker_id", "source", *EMOTIONS, "distance", "recognition_model", "emotion_model", "detector",
    "box_x", "box_y", "box_w", "box_h",
)
_HASH_KEYS = ("facedash-obs-id1", "facedash-obs-id2")

_STRING_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_string(f.type))
_FLOAT_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_floating(f.type))
_INT_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_integer(f.type))
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class TimelineDataError(StoreError):
    """Rows handed to the store do not match the documented schema."""

    exit_code = 2
    http_status = 422


class TimelineArgumentError(FaceDashError):
    """A query or command argument is invalid (bad resolution, bad time, missing option)."""

    exit_code = 2
    http_status = 400


# --------------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------------


FIRST_YEAR, LAST_YEAR = 1970, 2200


def to_utc(value: Any, name: str = "time") -> pd.Timestamp | None:
    """``None`` | datetime | date | ISO string | pd.Timestamp -> UTC ``pd.Timestamp`` (naive values are taken as UTC)."""
    if value is None:
        return None
    try:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):  # the parser's own message may echo control characters
        raise TimelineArgumentError(f"{name}: cannot read {value!r} as a time (use ISO 8601, e.g. 2026-03-14 or "
                                    "2026-03-14T09:30:00+01:00)") from None
    if ts is pd.NaT:
        raise TimelineArgumentError(f"{name}: {value!r} is not a time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:  # partitions are days since 1970; pandas ends in 2262
        raise TimelineArgumentError(f"{name}: {value!r} is outside {FIRST_YEAR}-{LAST_YEAR}, the years the store keeps")
    return ts.as_unit("us")


def observations_to_columns(observations: Iterable[Observation]) -> dict[str, list]:
    """Observation values -> ``{column: list}`` (no ``obs_id``/``valence_score``: :func:`build_table` adds them)."""
    cols: dict[str, list] = {name: [] for name in COLUMNS if name not in ("obs_id", "valence_score")}
    nan = float("nan")
    no_scores = (nan,) * len(EMOTIONS)
    for obs in observations:
        if not isinstance(obs, Observation):
            raise TimelineDataError(f"append() expects Observation values or a DataFrame, got {type(obs).__name__}")
        emotion, ident, face = obs.emotion, obs.identity, obs.face
        cols["time"].append(obs.time)
        cols["worker_id"].append(ident.worker_id)
        cols["source"].append(obs.source)
        for name, score in zip(EMOTIONS, emotion.scores if emotion is not None else no_scores):
            cols[name].append(score)
        cols["label"].append(emotion.label if emotion is not None else None)
        cols["valence"].append(emotion.valence if emotion is not None else None)
        cols["emotion_model"].append(emotion.model if emotion is not None else None)
        cols["distance"].append(float(ident.distance))
        cols["threshold"].append(float(ident.threshold))
        cols["recognition_model"].append(ident.model)
        cols["metric"].append(ident.metric)
        cols["detector"].append(face.detector or None)
        cols["detector_confidence"].append(float(face.confidence))
        cols["box_x"].append(face.box.x)
        cols["box_y"].append(face.box.y)
        cols["box_w"].append(face.box.w)
        cols["box_h"].append(face.box.h)
    return cols


def observations_to_frame(observations: Iterable[Observation]) -> pd.DataFrame:
    """Observation values as a DataFrame with the stored schema and dtypes (``obs_id`` included)."""
    return to_frame(build_table(observations_to_columns(observations)))


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame with the dtypes :meth:`TimelineStore.read` documents (``box_*`` nullable Int32)."""
    frame = table.to_pandas()
    for name in ("box_x", "box_y", "box_w", "box_h"):
        if name in frame.columns:
            frame[name] = frame[name].astype("Int32")
    return frame


def empty_frame(columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An empty DataFrame with the dtypes :meth:`TimelineStore.read` returns."""
    cols = list(columns) if columns else list(COLUMNS)
    return to_frame(pa.schema([SCHEMA.field(c) for c in cols]).empty_table())


def dedup(table: pa.Table) -> pa.Table:
    """Keep the first row of each obs_id."""
    ids = table.column("obs_id")
    if len(pc.unique(ids)) == table.num_rows:
        return table
    dup = pd.Series(ids.to_numpy(zero_copy_only=False)).duplicated().to_numpy()
    logger.debug("dropping %d rows with duplicate obs_id", int(dup.sum()))
    return table.filter(pa.array(~dup))


# --------------------------------------------------------------------------------------------------
# obs_id: deterministic content hash
# --------------------------------------------------------------------------------------------------


def _mix(h: np.ndarray, v: np.ndarray | np.uint64) -> np.ndarray:
    """Combine 64-bit words (splitmix64 finaliser over h ^ v); numpy uint64 arithmetic wraps around."""
    x = (h ^ v) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _obs_ids(time_us: np.ndarray, strings: dict[str, np.ndarray], numbers: dict[str, np.ndarray]) -> pa.Array:
    """Deterministic 128-bit content hash per row as 32 lowercase hex characters (same content -> same id)."""
    n = len(time_us)
    words = [time_us.astype(np.int64).view(np.uint64)]
    for name in _HASH_COLUMNS:
        if name in strings:
            words.append(pd.util.hash_array(strings[name], hash_key=_HASH_KEYS[0], categorize=False))
        elif name in numbers:
            v = np.asarray(numbers[name], dtype=np.float64)
            v = np.where(np.isnan(v), np.nan, v) + 0.0  # one NaN bit pattern, -0.0 -> 0.0
            words.append(v.view(np.uint64))
    h1 = np.full(n, 0x243F6A8885A308D3, dtype=np.uint64)
    h2 = np.full(n, 0x13198A2E03707344, dtype=np.uint64)
    for w in words:
        h1 = _mix(h1, w)
        h2 = _mix(h2, _mix(w, np.uint64(0xA4093822299F31D0)))
    raw = np.empty((n, 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = h1, h2
    b = raw.view(np.uint8).reshape(n, 16)
    chars = np.empty((n, 32), dtype=np.uint8)
    chars[:, 0::2], chars[:, 1::2] = _HEX[b >> 4], _HEX[b & 15]
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _with_given_ids(ids: pa.Array, given_ids: Any) -> pa.Array:
    """Caller-supplied ``obs_id`` values where given, the content hash where they are null."""
    if given_ids is None:
        return ids
    given_arr = pa.array(given_ids.to_numpy(dtype=object, na_value=None) if isinstance(given_ids, pd.Series)
                         else list(given_ids), type=pa.string())
    return pc.if_else(pc.is_null(given_arr), ids, given_arr) if given_arr.null_count else given_arr


# --------------------------------------------------------------------------------------------------
# Validation: columns -> Arrow table with exactly SCHEMA
# --------------------------------------------------------------------------------------------------


def _as_object(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) or values.dtype != object else values
    if len(arr):
        ok = np.fromiter((v is None or isinstance(v, str) or (isinstance(v, float) and v != v) for v in arr),
                         dtype=bool, count=len(arr)) if arr.dtype == object else None
        if ok is not None and not ok.all():
            bad = arr[~ok][0]
            raise TimelineDataError(f"column {name!r} must hold strings, got {type(bad).__name__} {bad!r}")
    return arr


def _time_micros(time: Any) -> np.ndarray:
    """Column ``time`` -> int64 microseconds since the epoch, UTC (timezone-aware values only, no gaps)."""
    if isinstance(time, pd.Series) and isinstance(time.dtype, pd.DatetimeTZDtype):
        series = time
    else:
        values = list(time) if not isinstance(time, pd.Series) else time.tolist()
        if not all(isinstance(v, dt.datetime) and v.tzinfo is not None for v in values):
            kind = time.dtype if isinstance(time, pd.Series) else "values"
            raise TimelineDataError(f"column 'time' must be timezone-aware datetimes (UTC), got {kind}")
        series = pd.Series(pd.to_datetime(values, utc=True))
    if series.isna().any():
        raise TimelineDataError("column 'time' has missing values")
    return np.asarray(series.dt.tz_convert("UTC").dt.as_unit("us").array.asi8, dtype=np.int64)


def _string_columns(cols: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """Every string column but ``obs_id`` as an object array (missing columns: all None)."""
    strings: dict[str, np.ndarray] = {}
    for name in _STRING_COLUMNS:
        if name == "obs_id":
            continue
        values = cols.get(name)
        if values is None:
            strings[name] = np.full(n, None, dtype=object)
        elif isinstance(values, pd.Series):
            if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object) or (
                values.dtype == object and not values.map(lambda v: v is None or isinstance(v, str) or v != v).all()
            ):
                raise TimelineDataError(f"column {name!r} must hold strings, got dtype {values.dtype}")
            strings[name] = values.to_numpy(dtype=object, na_value=None)
        else:
            strings[name] = _as_object(values, name)
    return strings


def _number_columns(cols: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """Every float/int column as float64 (missing = NaN); ``valence_score`` only when given."""
    numbers: dict[str, np.ndarray] = {}
    for name in (*_FLOAT_COLUMNS, *_INT_COLUMNS):
        if name == "valence_score" and cols.get(name) is None:
            continue
        values = cols.get(name)
        if values is None:
            numbers[name] = np.full(n, np.nan)
            continue
        try:
            numbers[name] = np.asarray(
                values.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(values, pd.Series) else values,
                dtype=np.float64,
            )
        except (TypeError, ValueError):
            raise TimelineDataError(f"column {name!r} must be numeric") from None
    return numbers


def _derive_emotion_fields(strings: dict[str, np.ndarray], numbers: dict[str, np.ndarray], n: int) -> None:
    """Fill ``label``, ``valence``, ``valence_score`` from the 7 scores where missing; check their values (in place)."""
    scores = np.column_stack([numbers[e] for e in EMOTIONS]) if n else np.empty((0, len(EMOTIONS)))
    missing_scores = np.isnan(scores)
    complete = ~missing_scores.any(axis=1)
    partial = ~complete & ~missing_scores.all(axis=1)
    if partial.any():
        raise TimelineDataError(
            f"row {int(np.argmax(partial))}: give all 7 emotion scores ({', '.join(EMOTIONS)}) or none of them"
        )
    label = strings["label"]
    missing = (label == None)  # noqa: E711
    if missing.any():
        derived = np.asarray(EMOTIONS, dtype=object)[np.argmax(np.nan_to_num(scores, nan=-1.0), axis=1)]
        label = np.where(missing & complete, derived, label)
        strings["label"] = label
    bad = sorted(set(label[label != None]) - set(EMOTIONS))  # noqa: E711
    if bad:
        raise TimelineDataError(f"column 'label' has values {bad} outside {list(EMOTIONS)}")
    valence = strings["valence"]
    missing = (valence == None) & (label != None)  # noqa: E711
    if missing.any():
        valence = valence.copy()
        valence[missing] = [EMOTION_VALENCE[v] for v in label[missing]]
        strings["valence"] = valence
    bad = sorted(set(valence[valence != None]) - set(VALENCES))  # noqa: E711
    if bad:
        raise TimelineDataError(f"column 'valence' has values {bad} outside {list(VALENCES)}")
    derived_score = np.where(complete, np.nan_to_num(scores) @ VALENCE_WEIGHTS, np.nan)
    given = numbers.get("valence_score")
    numbers["valence_score"] = derived_score if given is None else np.where(np.isnan(given), derived_score, given)
    distance = numbers["distance"]
    numbers["distance"] = np.where(np.isfinite(distance), distance, np.nan)


def _assemble(ids: pa.Array, time_us: np.ndarray, strings: dict[str, np.ndarray],
              numbers: dict[str, np.ndarray]) -> pa.Table:
    arrays = []
    try:
        for f in SCHEMA:
            if f.name == "obs_id":
                arrays.append(ids)
            elif f.name == "time":
                arrays.append(pa.array(time_us, type=pa.int64()).view(f.type))
            elif f.name in strings:
                arrays.append(pa.array(strings[f.name], type=f.type, from_pandas=True))
            else:
                arrays.append(pa.array(numbers[f.name], type=f.type, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TimelineDataError(f"column {f.name!r} does not fit the schema ({f.type}): {exc}") from None
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def build_table(cols: dict[str, Any], n: int | None = None) -> pa.Table:
    """Columns (lists / numpy arrays / Series) -> validated Arrow table with exactly :data:`SCHEMA`.

    Rows with the same ``obs_id`` are dropped but the first.
    """
    if n is None:
        n = len(cols["time"])
    time_us = _time_micros(cols["time"])
    strings = _string_columns(cols, n)
    numbers = _number_columns(cols, n)
    if (strings["source"] == None).any():  # noqa: E711 - elementwise
        raise TimelineDataError("column 'source' has missing values")
    _derive_emotion_fields(strings, numbers, n)
    ids = _with_given_ids(_obs_ids(time_us, strings, numbers), cols.get("obs_id"))
    return dedup(_assemble(ids, time_us, strings, numbers))


def normalize_records(data: pd.DataFrame) -> pa.Table:
    """Validate a DataFrame against the schema and return an Arrow table with exactly :data:`SCHEMA`.

    Required columns: ``time`` (timezone-aware) and ``source``. Every other column is optional: missing ones
    are null. ``label``, ``valence`` and ``valence_score`` are derived from the 7 scores where they are
    missing; ``obs_id`` is the content hash where missing. Duplicate ``obs_id`` values within the batch are dropped.
    """
    if not isinstance(data, pd.DataFrame):
        raise TimelineDataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    unknown = [c for c in data.columns if c not in COLUMNS]
    if unknown:
        raise TimelineDataError(f"unknown timeline columns {unknown}; the schema is {list(COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in data.columns]
    if missing:
        raise TimelineDataError(f"timeline rows need the columns {missing}")
    return build_table({c: data[c] for c in data.columns}, len(data))
