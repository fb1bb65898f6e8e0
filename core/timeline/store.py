"""Emotion-timeline store: date-partitioned parquet files under a folder or an fsspec URI.

Layout (see docs/timeline.md)::

    <root>/date=2025-03-14/a-<ns>-<pid>-<rand>.parquet   one file per append (small, immutable)
    <root>/date=2025-03-14/c-<ns>-<pid>-<rand>.parquet   result of a compaction or a rewrite (immutable)
    <root>/date=2025-03-14/.tmp-<rand>.parquet           being written (ignored by readers)
    <root>/_quarantine/date=.../<name>                  corrupt files moved aside by compaction
    <root>/.maintenance.lock                             local stores: the file lock

Rules that make concurrent use safe:

* Files are never modified in place. A writer writes ``.tmp-*`` and renames it to a fresh, unique final name
  (``os.replace``; on object stores the single PUT of the whole object is the atomic step). A reader therefore
  only ever sees whole files, and appends need no lock at all.
* Compaction, erasure and retention (everything that deletes files) run under one exclusive lock: a
  ``filelock.FileLock`` in the store folder, or a local lock file for remote URIs.
* Every row carries ``obs_id`` (128-bit content hash unless the caller gives one). Every file holds unique ids.
  A crash between "new file renamed" and "old files deleted", or a caller retrying an append that in fact
  succeeded, can leave the same row in two files of one partition; readers therefore de-duplicate by ``obs_id``
  in every partition that holds more than one file, and compaction removes such duplicates for good.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import threading
import time as _time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import FaceDashError, StoreError
from core.types import EMOTION_VALENCE, EMOTIONS, Observation

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------

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

PARTITION_PREFIX = "date="
APPEND_PREFIX = "a-"
COMPACT_PREFIX = "c-"
TMP_PREFIX = ".tmp-"
QUARANTINE_DIR = "_quarantine"
LOCK_NAME = ".maintenance.lock"
_EPOCH = dt.date(1970, 1, 1)


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


def to_utc(value: Any, name: str = "time") -> pd.Timestamp | None:
    """``None`` | datetime | date | ISO string | pd.Timestamp -> UTC ``pd.Timestamp`` (naive values are taken as UTC)."""
    if value is None:
        return None
    try:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise TimelineArgumentError(f"{name}: cannot read {value!r} as a time ({exc})") from None
    if ts is pd.NaT:
        raise TimelineArgumentError(f"{name}: {value!r} is not a time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


_STRING_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_string(f.type))
_FLOAT_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_floating(f.type))
_INT_COLUMNS = tuple(f.name for f in SCHEMA if pa.types.is_integer(f.type))
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


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
    return _to_frame(_build_table(observations_to_columns(observations)))


def _mix(h: np.ndarray, v: np.ndarray) -> np.ndarray:
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


def _as_object(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) or values.dtype != object else values
    if len(arr):
        ok = np.fromiter((v is None or isinstance(v, str) or (isinstance(v, float) and v != v) for v in arr),
                         dtype=bool, count=len(arr)) if arr.dtype == object else None
        if ok is not None and not ok.all():
            bad = arr[~ok][0]
            raise TimelineDataError(f"column {name!r} must hold strings, got {type(bad).__name__} {bad!r}")
    return arr


def _build_table(cols: dict[str, Any], n: int | None = None) -> pa.Table:
    """Columns (lists / numpy arrays / Series) -> validated Arrow table with exactly :data:`SCHEMA`."""
    if n is None:
        n = len(cols["time"])
    # time -> int64 microseconds since the epoch, UTC
    time = cols["time"]
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
    time_us = np.asarray(series.dt.tz_convert("UTC").dt.as_unit("us").array.asi8, dtype=np.int64)

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
    if (strings["source"] == None).any():  # noqa: E711 - elementwise
        raise TimelineDataError("column 'source' has missing values")

    # label / valence / valence_score from the scores where missing
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

    # ids
    given_ids = cols.get("obs_id")
    ids = _obs_ids(time_us, strings, numbers)
    if given_ids is not None:
        given_arr = pa.array(given_ids.to_numpy(dtype=object, na_value=None) if isinstance(given_ids, pd.Series)
                             else list(given_ids), type=pa.string())
        ids = pc.if_else(pc.is_null(given_arr), ids, given_arr) if given_arr.null_count else given_arr

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
    table = pa.Table.from_arrays(arrays, schema=SCHEMA)
    return _dedup(table)


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
    return _build_table({c: data[c] for c in data.columns}, len(data))


# --------------------------------------------------------------------------------------------------
# Storage backends: local folder (os.*) or any fsspec filesystem
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    path: str
    partition: str  # "2025-03-14"
    name: str
    size: int

    @property
    def is_small(self) -> bool:
        return self.name.startswith(APPEND_PREFIX)


class _LocalBackend:
    local = True

    def __init__(self, root: str, fsync: bool):
        self.root = os.path.abspath(root)
        self.fsync = fsync

    def join(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def list_dir(self, path: str) -> list[tuple[str, bool, int, float]]:
        """(name, is_dir, size, mtime) of the entries of ``path``; [] when it does not exist."""
        out = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    out.append((entry.name, entry.is_dir(), st.st_size, st.st_mtime))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return out

    def write_atomic(self, final: str, table: pa.Table, **write_kwargs) -> None:
        directory = os.path.dirname(final)
        tmp = os.path.join(directory, f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet")
        sink = pa.BufferOutputStream()  # serialise first: one write() call is much faster than many small ones
        pq.write_table(table, sink, **write_kwargs)
        data = sink.getvalue()
        for attempt in range(3):
            try:
                os.makedirs(directory, exist_ok=True)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    if self.fsync:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, final)
                break
            except FileNotFoundError:  # the partition folder was removed under us (retention): recreate it
                if attempt == 2:
                    raise
            except BaseException:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
                raise
        if self.fsync:
            try:
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:  # pragma: no cover - platforms without directory fsync
                pass

    def open_input(self, path: str):
        return path  # pyarrow opens local paths itself (memory-mapped, fastest)

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)

    def move(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def rmdir_if_empty(self, path: str) -> None:
        try:
            os.rmdir(path)
        except OSError:
            pass


class _FsspecBackend:
    local = False

    def __init__(self, fs, root: str):
        self.fs = fs
        self.root = root.rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def makedirs(self, path: str) -> None:
        try:
            self.fs.makedirs(path, exist_ok=True)
        except Exception:  # object stores have no folders; some refuse makedirs below a bucket
            pass

    def list_dir(self, path: str) -> list[tuple[str, bool, int, float]]:
        try:
            self.fs.invalidate_cache(path)
            entries = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            out.append((name, e.get("type") == "directory", int(e.get("size") or 0), 0.0))
        return out

    def write_atomic(self, final: str, table: pa.Table, **write_kwargs) -> None:
        # Object stores make an object visible only once its single PUT completes: write the final name directly.
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **write_kwargs)
        self.makedirs(final.rsplit("/", 1)[0])
        self.fs.pipe_file(final, sink.getvalue().to_pybytes())

    def open_input(self, path: str):
        return pa.BufferReader(self.fs.cat_file(path))

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def move(self, src: str, dst: str) -> None:
        self.fs.mv(src, dst)

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def rmdir_if_empty(self, path: str) -> None:
        try:
            if not self.fs.ls(path):
                self.fs.rmdir(path)
        except Exception:
            pass


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


@dataclass
class RewriteReport:
    """What an erasure or retention run did."""

    rows_deleted: int = 0
    files_rewritten: int = 0  # files replaced by a filtered copy (or deleted because nothing was left)
    files_deleted: int = 0  # whole files/partitions dropped (retention)
    unreadable_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows_deleted": self.rows_deleted,
            "files_rewritten": self.files_rewritten,
            "files_deleted": self.files_deleted,
            "unreadable_files": list(self.unreadable_files),
        }


class TimelineStore:
    """Append-only, date-partitioned parquet store of :class:`~core.types.Observation` rows.

    Parameters
    ----------
    uri:
        A local folder (``/data/timeline``, ``file:///data/timeline``) or an fsspec URI (``s3://bucket/timeline``,
        ``gs://bucket/timeline``, ``memory://timeline`` for tests).
    flush_rows:
        Rows kept in memory before they are written as one file. ``1`` (default) writes every append at once
        (nothing is lost if the process dies). Larger values batch small appends; call :meth:`flush` / use the
        store as a context manager. Buffered rows are also flushed after ``flush_interval_s`` (checked on append)
        and before every read by this instance.
    compact_min_files:
        A partition with more files than this is compacted into one file right after an append (if no other
        process holds the maintenance lock at that moment; otherwise the next append tries again).
    lock_path:
        The maintenance lock. Default: ``<root>/.maintenance.lock`` for local stores and
        ``<tempdir>/facedash-locks/<hash of uri>.lock`` for remote ones.
    lock_timeout_s:
        How long erasure/retention/explicit compaction wait for the lock before raising :class:`StoreError`.
    fsync:
        Local stores: fsync each file and its folder before it becomes visible (survives power loss, slower).
    compression:
        Parquet codec. ``snappy`` (default) decodes about twice as fast as ``zstd`` in DuckDB; zstd is ~20 % smaller.
    threads:
        Worker threads for compaction and erasure (default: CPUs, at most 4).
    storage_options:
        Passed to fsspec for remote URIs (credentials; see docs/timeline.md).
    """

    def __init__(
        self,
        uri: str | os.PathLike,
        *,
        flush_rows: int = 1,
        flush_interval_s: float = 60.0,
        compact_min_files: int = 16,
        row_group_size: int = 16_384,
        lock_path: str | os.PathLike | None = None,
        lock_timeout_s: float = 60.0,
        stale_tmp_s: float = 3600.0,
        fsync: bool = False,
        compression: str = "snappy",
        threads: int | None = None,
        storage_options: dict | None = None,
    ):
        import fsspec

        if flush_rows < 1:
            raise TimelineArgumentError("flush_rows must be >= 1")
        if compact_min_files < 1:
            raise TimelineArgumentError("compact_min_files must be >= 1")
        self.uri = str(uri)
        try:
            fs, root = fsspec.core.url_to_fs(self.uri, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"timeline store {self.uri!r}: cannot open this URI ({exc}); for s3:// install s3fs, for gs:// gcsfs"
            ) from None
        from fsspec.implementations.local import LocalFileSystem

        if isinstance(fs, LocalFileSystem):
            self._backend: _LocalBackend | _FsspecBackend = _LocalBackend(root, fsync)
            default_lock = os.path.join(self._backend.root, LOCK_NAME)
        else:
            self._backend = _FsspecBackend(fs, root)
            digest = hashlib.sha1(self.uri.encode()).hexdigest()[:16]
            default_lock = os.path.join(tempfile.gettempdir(), "facedash-locks", f"{digest}.lock")
        self.lock_path = str(lock_path or default_lock)
        self.flush_rows = int(flush_rows)
        self.flush_interval_s = float(flush_interval_s)
        self.compact_min_files = int(compact_min_files)
        self.row_group_size = int(row_group_size)
        self.lock_timeout_s = float(lock_timeout_s)
        self.stale_tmp_s = float(stale_tmp_s)
        self.compression = compression
        self.threads = max(1, int(threads or min(4, os.cpu_count() or 1)))
        #: Problems met by the last read/query: ``"<path>: <reason>"`` for each file skipped.
        self.last_read_problems: list[str] = []
        self._buffer: list[pa.Table] = []
        self._buffer_rows = 0
        self._buffer_since: float | None = None
        self._mutex = threading.RLock()
        self._footers: dict[tuple[str, int], int | None] = {}  # (path, size) -> num_rows, None = unreadable
        self._bad: dict[str, str] = {}  # path -> why it cannot be read
        self._con = None
        self._con_pid: int | None = None
        self._lock = None
        self._lock_pid: int | None = None
        if self._backend.local:
            try:
                self._backend.makedirs(self._backend.root)
            except OSError as exc:
                raise StoreError(f"timeline store folder {self._backend.root} cannot be created ({exc})") from None

    # ---------------------------------------------------------------------------------------- construction
    @classmethod
    def from_settings(cls, settings, **kwargs) -> TimelineStore:
        """The store at ``settings.timeline_uri``; remote stores keep their lock in ``<data_dir>/.locks``."""
        uri = settings.timeline_uri
        if "lock_path" not in kwargs and "://" in uri and not uri.startswith("file://"):
            digest = hashlib.sha1(uri.encode()).hexdigest()[:16]
            kwargs["lock_path"] = Path(settings.data_dir) / ".locks" / f"timeline-{digest}.lock"
        return cls(uri, **kwargs)

    @property
    def is_local(self) -> bool:
        return self._backend.local

    @property
    def root(self) -> str:
        return self._backend.root

    def __repr__(self) -> str:
        return f"TimelineStore({self.uri!r})"

    def __enter__(self) -> TimelineStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Flush buffered rows and release the DuckDB connection."""
        self.flush()
        with self._mutex:
            if self._con is not None and self._con_pid == os.getpid():
                self._con.close()
            self._con = None

    # ---------------------------------------------------------------------------------------------- locking
    def _filelock(self):
        import filelock

        if self._lock is None or self._lock_pid != os.getpid():
            os.makedirs(os.path.dirname(self.lock_path) or ".", exist_ok=True)
            self._lock = filelock.FileLock(self.lock_path)
            self._lock_pid = os.getpid()
        return self._lock

    class _Held:
        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.lock.release()

    def maintenance_lock(self, timeout: float | None = None) -> _Held:
        """Acquire the exclusive maintenance lock (context manager); :class:`StoreError` after ``timeout``."""
        import filelock

        lock = self._filelock()
        timeout = self.lock_timeout_s if timeout is None else timeout
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise StoreError(
                f"timeline store {self.uri}: another process holds the maintenance lock {self.lock_path} "
                f"(waited {timeout:g} s); try again later"
            ) from None
        return self._Held(lock)

    # ---------------------------------------------------------------------------------------------- listing
    def _partitions(self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> list[str]:
        first = start.date().isoformat() if start is not None else None
        last = (end - pd.Timedelta(microseconds=1)).date().isoformat() if end is not None else None
        out = []
        for name, is_dir, _, _ in self._backend.list_dir(self._backend.root):
            if not is_dir or not name.startswith(PARTITION_PREFIX):
                continue
            day = name[len(PARTITION_PREFIX):]
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            out.append(day)
        return sorted(out)

    def _partition_dir(self, day: str) -> str:
        return self._backend.join(PARTITION_PREFIX + day)

    def _files(self, day: str) -> list[StoredFile]:
        directory = self._partition_dir(day)
        out = []
        for name, is_dir, size, _ in self._backend.list_dir(directory):
            if is_dir or not name.endswith(".parquet") or name.startswith((".", "_")):
                continue
            out.append(StoredFile(path=self._backend.join(PARTITION_PREFIX + day, name), partition=day, name=name, size=size))
        return sorted(out, key=lambda f: f.name)

    def _all_files(self, start=None, end=None) -> dict[str, list[StoredFile]]:
        return {day: files for day in self._partitions(start, end) if (files := self._files(day))}

    def _footer_rows(self, f: StoredFile) -> int | None:
        """Row count from the parquet footer (cached: files are immutable); None if the file is unreadable."""
        key = (f.path, f.size)
        if key not in self._footers:
            try:
                self._footers[key] = pq.read_metadata(self._backend.open_input(f.path)).num_rows
            except FileNotFoundError:
                raise
            except Exception as exc:  # corrupt / truncated / not parquet
                self._mark_bad(f.path, str(exc).splitlines()[0][:300])
                self._footers[key] = None
        return self._footers[key]

    def _read_file(self, f: StoredFile, columns: Sequence[str] | None = None, filters=None) -> pa.Table:
        source = self._backend.open_input(f.path)
        if filters:
            return pq.read_table(source, columns=list(columns) if columns else None, filters=filters)
        with pq.ParquetFile(source) as pf:  # much cheaper than read_table for the many small files
            return pf.read(columns=list(columns) if columns else None, use_threads=False)

    # ---------------------------------------------------------------------------------------------- append
    def append(self, observations: Iterable[Observation] | pd.DataFrame) -> int:
        """Store observations (or a DataFrame with the documented schema). Returns the number of rows accepted.

        Each call writes one file per UTC date it touches (unless ``flush_rows`` > 1 buffers it). A file becomes
        visible whole or not at all. Appending the same observations again is harmless: readers and compaction
        drop rows whose ``obs_id`` is already stored.
        """
        if isinstance(observations, pd.DataFrame):
            table = normalize_records(observations)
        else:
            table = _build_table(observations_to_columns(observations))
        if table.num_rows == 0:
            return 0
        with self._mutex:
            if self.flush_rows <= 1 and not self._buffer:
                days = self._write(table)
            else:
                self._buffer.append(table)
                self._buffer_rows += table.num_rows
                if self._buffer_since is None:
                    self._buffer_since = _time.monotonic()
                due = _time.monotonic() - self._buffer_since >= self.flush_interval_s
                days = self._flush_locked() if self._buffer_rows >= self.flush_rows or due else []
        self._compact_written(days)  # outside the mutex: other threads of this process keep reading/appending
        return table.num_rows

    def append_records(self, df: pd.DataFrame) -> int:
        """Same as :meth:`append` for a DataFrame (the bulk path used by video analysis and the benchmark)."""
        return self.append(df)

    @property
    def buffered_rows(self) -> int:
        return self._buffer_rows

    def flush(self) -> int:
        """Write buffered rows (if any) now. Returns the number of rows written."""
        with self._mutex:
            rows = self._buffer_rows
            days = self._flush_locked()
        self._compact_written(days)
        return rows

    def _flush_locked(self) -> list[str]:
        if not self._buffer:
            return []
        table = _dedup(pa.concat_tables(self._buffer))
        self._buffer, self._buffer_rows, self._buffer_since = [], 0, None
        return self._write(table)

    def _write(self, table: pa.Table) -> list[str]:
        """Write ``table`` as one new file per UTC date. Returns the dates written."""
        daynum = table.column("time").cast(pa.int64()).to_numpy() // 86_400_000_000
        unique_days = np.unique(daynum)
        written = []
        for number in unique_days:
            day = (_EPOCH + dt.timedelta(days=int(number))).isoformat()
            written.append(day)
            part = table if len(unique_days) == 1 else table.filter(pa.array(daynum == number))
            name = f"{APPEND_PREFIX}{_time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
            final = self._backend.join(PARTITION_PREFIX + str(day), name)
            try:
                self._backend.write_atomic(final, part, compression=self.compression,
                                           row_group_size=self.row_group_size)
            except OSError as exc:  # disk full, permissions, network: nothing of this file is visible
                raise StoreError(f"cannot write to the timeline store {self.uri}: {exc}") from exc
        return written

    def _compact_written(self, days: list[str]) -> None:
        for day in days:
            try:
                if len(self._files(day)) > self.compact_min_files:
                    self._compact_if_free(day)
            except Exception as exc:  # compaction failing must never fail an append that has been stored
                logger.warning("timeline store: compaction of %s after append failed: %s", day, exc)

    # ------------------------------------------------------------------------------------------ compaction
    def _compact_if_free(self, day: str) -> bool:
        import filelock

        lock = self._filelock()
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        try:
            self._compact_partition(day)
            return True
        finally:
            lock.release()

    def compact(self, *, min_files: int = 2) -> dict:
        """Merge every partition holding at least ``min_files`` files into one file (under the lock).

        Also removes duplicate ``obs_id`` rows, sorts rows by (worker_id, time), moves corrupt files to
        ``_quarantine/`` and deletes stale temporary files. Returns ``{"partitions": n, "files_before": n,
        "files_after": n}``.
        """
        self.flush()
        summary = {"partitions": 0, "files_before": 0, "files_after": 0}
        with self.maintenance_lock():
            todo = []
            for day in self._partitions():
                files = self._files(day)
                summary["files_before"] += len(files)
                if len(files) >= min_files or self._has_stale_tmp(day):
                    todo.append(day)
            self._map(self._compact_partition, todo)
            summary["partitions"] = len(todo)
            summary["files_after"] = sum(len(self._files(day)) for day in self._partitions())
        return summary

    def _map(self, fn, items: Sequence) -> list:
        """``[fn(x) for x in items]`` on the maintenance thread pool (pyarrow releases the GIL while it works)."""
        if self.threads <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="timeline") as pool:
            return list(pool.map(fn, items))

    def _has_stale_tmp(self, day: str) -> bool:
        now = _time.time()
        return any(
            name.startswith(TMP_PREFIX) and mtime and now - mtime > self.stale_tmp_s
            for name, _, _, mtime in self._backend.list_dir(self._partition_dir(day))
        )

    def _remove_stale_tmp(self, day: str) -> None:
        now = _time.time()
        for name, is_dir, _, mtime in self._backend.list_dir(self._partition_dir(day)):
            if not is_dir and name.startswith(TMP_PREFIX) and mtime and now - mtime > self.stale_tmp_s:
                logger.info("timeline store: removing stale temporary file %s/%s", day, name)
                self._backend.remove(self._backend.join(PARTITION_PREFIX + day, name))

    def _quarantine(self, f: StoredFile) -> None:
        dst = self._backend.join(QUARANTINE_DIR, PARTITION_PREFIX + f.partition, f.name)
        logger.warning("timeline store: moving corrupt file %s to %s", f.path, dst)
        try:
            self._backend.move(f.path, dst)
        except Exception as exc:
            logger.warning("timeline store: could not quarantine %s: %s", f.path, exc)

    def _write_partition_file(self, day: str, table: pa.Table) -> str:
        name = f"{COMPACT_PREFIX}{_time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        final = self._backend.join(PARTITION_PREFIX + day, name)
        self._backend.write_atomic(final, table, compression=self.compression, row_group_size=self.row_group_size)
        return final

    def _compact_partition(self, day: str) -> None:
        """Caller holds the lock."""
        self._remove_stale_tmp(day)
        files = self._files(day)
        tables, inputs = [], []
        for f in files:
            try:
                tables.append(self._read_file(f))
                inputs.append(f)
            except FileNotFoundError:
                continue
            except Exception as exc:
                logger.warning("timeline store: unreadable file %s during compaction: %s", f.path, exc)
                self._quarantine(f)
        if len(inputs) <= 1:
            return
        table = _dedup(pa.concat_tables([t.cast(SCHEMA) for t in tables]))
        table = table.sort_by([("worker_id", "ascending"), ("time", "ascending")])
        if table.num_rows:
            self._write_partition_file(day, table)
        for f in inputs:  # a crash in this loop leaves duplicates that readers drop by obs_id
            self._backend.remove(f.path)

    # ---------------------------------------------------------------------------------------------- rewrite
    def _rewrite(self, f: StoredFile, keep) -> int:
        """Replace ``f`` by its rows where ``keep(table)`` is true (caller holds the lock). Returns rows removed.

        The filtered copy is renamed into place before the original is deleted: a crash in between leaves
        duplicates (dropped by readers, removed by the next run), never a loss.
        """
        table = self._read_file(f)
        kept = table.filter(keep(table))
        removed = table.num_rows - kept.num_rows
        if removed == 0:
            return 0
        if kept.num_rows:
            self._write_partition_file(f.partition, kept.cast(SCHEMA))
        self._backend.remove(f.path)
        return removed

    def erase_worker(self, worker_id: str) -> int:
        """Delete every row of ``worker_id`` from every file (files are rewritten). Returns rows deleted."""
        return self.erase_worker_report(worker_id).rows_deleted

    def erase_worker_report(self, worker_id: str) -> RewriteReport:
        """:meth:`erase_worker` with details: rows deleted, files rewritten, files that could not be read."""
        if not worker_id:
            raise TimelineArgumentError("erase_worker needs a worker id")
        self.flush()
        report = RewriteReport()
        seen: set[str] = set()

        def keep(table: pa.Table):
            return pc.invert(pc.fill_null(pc.equal(table.column("worker_id"), worker_id), False))

        def erase_in(f: StoredFile) -> tuple[int, str | None]:
            try:
                ids = self._read_file(f, columns=["worker_id"]).column("worker_id")
                if not pc.any(pc.fill_null(pc.equal(ids, worker_id), False)).as_py():
                    return 0, None
                return self._rewrite(f, keep), None
            except FileNotFoundError:
                return 0, None
            except Exception as exc:  # corrupt file: cannot prove it holds no row of the worker
                logger.warning("timeline store: cannot read %s to erase a worker: %s", f.path, exc)
                return 0, f.path

        with self.maintenance_lock():
            # Repeat until a pass finds no file it has not checked: appends that land during the erasure are covered.
            for _ in range(10):
                new_files = [f for files in self._all_files().values() for f in files if f.path not in seen]
                if not new_files:
                    break
                seen.update(f.path for f in new_files)
                for removed, unreadable in self._map(erase_in, new_files):
                    report.rows_deleted += removed
                    report.files_rewritten += removed > 0
                    if unreadable:
                        report.unreadable_files.append(unreadable)
            report.unreadable_files.extend(self._quarantined_files())
        logger.info("timeline store: erased %d rows of a worker from %d files", report.rows_deleted, report.files_rewritten)
        return report

    def _quarantined_files(self) -> list[str]:
        out = []
        qroot = self._backend.join(QUARANTINE_DIR)
        for name, is_dir, _, _ in self._backend.list_dir(qroot):
            if is_dir:
                for fname, fdir, _, _ in self._backend.list_dir(self._backend.join(QUARANTINE_DIR, name)):
                    if not fdir:
                        out.append(self._backend.join(QUARANTINE_DIR, name, fname))
        return out

    def delete_before(self, cutoff: Any) -> int:
        """Delete every row with ``time < cutoff``. Whole older partitions are removed. Returns rows deleted."""
        return self.delete_before_report(cutoff).rows_deleted

    def delete_before_report(self, cutoff: Any) -> RewriteReport:
        cutoff_ts = to_utc(cutoff, "cutoff")
        self.flush()
        report = RewriteReport()
        cutoff_day = cutoff_ts.date().isoformat()
        cutoff_arrow = pa.scalar(cutoff_ts.to_pydatetime(), pa.timestamp("us", tz="UTC"))
        with self.maintenance_lock():
            for day in self._partitions():
                if day > cutoff_day:
                    break
                files = self._files(day)
                if day < cutoff_day:
                    for f in files:
                        try:
                            rows = self._footer_rows(f)
                        except FileNotFoundError:
                            continue
                        report.rows_deleted += rows or 0
                        report.files_deleted += 1
                    self._backend.remove_tree(self._partition_dir(day))
                    continue
                for f in files:  # the cutoff's own day: keep rows at or after the cutoff
                    try:
                        times = self._read_file(f, columns=["time"]).column("time")
                        if pc.all(pc.greater_equal(times, cutoff_arrow)).as_py():
                            continue
                        removed = self._rewrite(f, lambda t: pc.greater_equal(t.column("time"), cutoff_arrow))
                    except FileNotFoundError:
                        continue
                    except Exception as exc:
                        logger.warning("timeline store: cannot read %s for retention: %s", f.path, exc)
                        report.unreadable_files.append(f.path)
                        continue
                    report.rows_deleted += removed
                    report.files_rewritten += removed > 0
            for day_dir, is_dir, _, _ in self._backend.list_dir(self._backend.join(QUARANTINE_DIR)):
                if is_dir and day_dir.startswith(PARTITION_PREFIX) and day_dir[len(PARTITION_PREFIX):] < cutoff_day:
                    self._backend.remove_tree(self._backend.join(QUARANTINE_DIR, day_dir))
        logger.info("timeline store: retention removed %d rows before %s", report.rows_deleted, cutoff_ts.isoformat())
        return report

    # ---------------------------------------------------------------------------------------------- reading
    def _duckdb(self):
        import duckdb

        with self._mutex:
            if self._con is None or self._con_pid != os.getpid():
                con = duckdb.connect(":memory:")
                con.execute("SET TimeZone='UTC'")
                con.execute("SET parquet_metadata_cache=true")
                self._con, self._con_pid = con, os.getpid()
            return self._con.cursor()

    def query(
        self,
        sql: str,
        *,
        worker: str | Sequence[str] | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
        include_unknown: bool = True,
        params: dict | None = None,
    ) -> pa.Table:
        """Run DuckDB ``sql`` over a relation ``obs`` holding the (de-duplicated) rows that match the filters.

        ``worker``: one id or a list (None = everyone; ``include_unknown=False`` drops unknown faces).
        ``start`` inclusive, ``end`` exclusive. ``columns`` limits what ``obs`` exposes (faster); default all.
        Unreadable files are skipped and listed in :attr:`last_read_problems`. Returns an Arrow table.
        """
        self.flush()
        start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
        cols = list(columns) if columns else list(COLUMNS)
        bad = [c for c in cols if c not in COLUMNS]
        if bad:
            raise TimelineArgumentError(f"unknown timeline columns {bad}; the schema is {list(COLUMNS)}")
        workers = [worker] if isinstance(worker, str) else (list(worker) if worker is not None else None)
        where = _where_sql(workers, start_ts, end_ts, include_unknown)
        last_exc: Exception | None = None
        for _attempt in range(100):  # each retry either relists (a file vanished) or excludes one more bad file
            problems: list[str] = []
            files = self._skip_bad(self._all_files(start_ts, end_ts), problems)
            cur = self._duckdb()
            try:
                cte, qparams = self._obs_cte(cur, files, cols, where, workers, start_ts, end_ts)
                all_params = {**qparams, **(params or {})}
                result = cur.sql(f"WITH obs AS ({cte}) {sql}", params=all_params or None).to_arrow_table()
                problems += [f"{f.path}: {self._bad[f.path]}" for fs in files.values() for f in fs if f.path in self._bad]
                self.last_read_problems = _unique(problems)
                return result
            except FileNotFoundError as exc:  # remote: a file vanished between listing and reading (compaction)
                last_exc = exc
            except Exception as exc:  # duckdb.Error: a file vanished (compaction) or is corrupt
                if not _is_io_problem(exc):
                    raise
                last_exc = exc
                if not self._explain_failure(files, exc):
                    break
            finally:
                cur.close()
        raise StoreError(f"timeline store {self.uri}: cannot read: {last_exc}")

    def _mark_bad(self, path: str, reason: str) -> None:
        if path not in self._bad:
            logger.warning("timeline store: skipping unreadable file %s (%s)", path, reason)
        self._bad[path] = reason

    def _skip_bad(self, files: dict[str, list[StoredFile]], problems: list[str]) -> dict[str, list[StoredFile]]:
        """Drop files known to be unreadable (names are never reused, so the verdict is cached)."""
        if not self._bad:
            return files
        out: dict[str, list[StoredFile]] = {}
        for day, day_files in files.items():
            good = []
            for f in day_files:
                reason = self._bad.get(f.path)
                if reason is None:
                    good.append(f)
                else:
                    logger.debug("timeline store: skipping unreadable file %s", f.path)
                    problems.append(f"{f.path}: {reason}")
            if good:
                out[day] = good
        return out

    def _explain_failure(self, files: dict[str, list[StoredFile]], exc: Exception) -> bool:
        """After a failed read: find the vanished or corrupt file(s). True if a retry can make progress."""
        flat = [f for day_files in files.values() for f in day_files]
        message = str(exc)
        for f in flat:  # DuckDB names the file in its message
            if f.path in message:
                if not self._backend.exists(f.path):
                    return True
                self._mark_bad(f.path, message.splitlines()[0][:300])
                return True
        if any(not self._backend.exists(f.path) for f in flat):
            return True
        found = False
        for full in (False, True):  # footers first (cheap), then whole files
            for f in flat:
                try:
                    if full:
                        self._read_file(f)
                    else:
                        pq.read_metadata(self._backend.open_input(f.path))
                except FileNotFoundError:
                    return True
                except Exception as err:
                    self._mark_bad(f.path, str(err).splitlines()[0][:300])
                    found = True
            if found:
                return True
        return False

    def _obs_cte(self, cur, files, cols, where, workers, start_ts, end_ts) -> tuple[str, dict]:
        col_sql = ", ".join(_q(c) for c in cols)
        if not self._backend.local:
            table = self._scan_remote(files, cols, workers, start_ts, end_ts)
            cur.register("_obs_src", table)
            return f"SELECT {col_sql} FROM (SELECT DISTINCT ON (obs_id) * FROM _obs_src WHERE {where})", {}
        clean = [f.path for day_files in files.values() if len(day_files) == 1 for f in day_files]
        dirty = [f.path for day_files in files.values() if len(day_files) > 1 for f in day_files]
        parts, params = [], {}
        if clean:
            parts.append(f"SELECT {col_sql} FROM read_parquet($clean) WHERE {where}")
            params["clean"] = clean
        if dirty:
            inner = col_sql if "obs_id" in cols else f"obs_id, {col_sql}"
            parts.append(
                f"SELECT {col_sql} FROM (SELECT DISTINCT ON (obs_id) {inner} FROM read_parquet($dirty) WHERE {where})"
            )
            params["dirty"] = dirty
        if not parts:
            cur.register("_obs_empty", SCHEMA.empty_table())
            parts.append(f"SELECT {col_sql} FROM _obs_empty")
        return " UNION ALL ".join(parts), params

    def _scan_remote(self, files, cols, workers, start_ts, end_ts) -> pa.Table:
        read_cols = list(dict.fromkeys(["obs_id", "time", "worker_id", *cols]))
        filters = []
        if workers is not None:
            filters.append(("worker_id", "in", workers))
        if start_ts is not None:
            filters.append(("time", ">=", start_ts.to_pydatetime()))
        if end_ts is not None:
            filters.append(("time", "<", end_ts.to_pydatetime()))
        schema = pa.schema([SCHEMA.field(c) for c in read_cols])
        tables = []
        for day_files in files.values():
            for f in day_files:
                try:
                    tables.append(self._read_file(f, read_cols, filters or None).cast(schema))
                except FileNotFoundError:
                    raise  # vanished (compaction): query() lists again
                except Exception as exc:
                    self._mark_bad(f.path, str(exc).splitlines()[0][:300])
        if not tables:
            return pa.schema([SCHEMA.field(c) for c in read_cols]).empty_table()
        return pa.concat_tables(tables)

    def read(
        self,
        worker: str | Sequence[str] | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
        *,
        include_unknown: bool = True,
    ) -> pd.DataFrame:
        """Stored rows as a DataFrame sorted by (time, obs_id); see :data:`SCHEMA` / docs/timeline.md for columns.

        Dtypes: ``time`` datetime64[us, UTC]; strings ``str`` (missing = NaN); scores, ``valence_score``,
        ``distance``, ``threshold``, ``detector_confidence`` float32 (missing = NaN); ``box_*`` Int32 (nullable).
        """
        cols = list(columns) if columns else list(COLUMNS)
        order = [c for c in ("time", "obs_id") if c in cols] or cols[:1]
        table = self.query(
            f"SELECT * FROM obs ORDER BY {', '.join(_q(c) for c in order)}",
            worker=worker, start=start, end=end, columns=cols, include_unknown=include_unknown,
        )
        return _to_frame(table.cast(pa.schema([SCHEMA.field(c) for c in cols])))

    def count(self, worker: str | Sequence[str] | None = None, start: Any = None, end: Any = None) -> int:
        table = self.query("SELECT count(*) AS n FROM obs", worker=worker, start=start, end=end, columns=["time"])
        return int(table.column("n")[0].as_py())

    def workers(self) -> list[str]:
        """Known worker ids that have rows (sorted)."""
        table = self.query(
            "SELECT DISTINCT worker_id FROM obs WHERE worker_id IS NOT NULL ORDER BY 1", columns=["worker_id"]
        )
        return [v for v in table.column("worker_id").to_pylist()]

    def stats(self) -> dict:
        """Summary: rows, unknown_rows, workers, files, small_files, partitions, bytes, first_time, last_time
        (ISO strings or None), corrupt_files (names of skipped or quarantined files), uri."""
        problems: list[str] = []
        files = self._all_files()
        all_files = [f for day_files in files.values() for f in day_files]
        table = self.query(
            "SELECT count(*) AS n, count(*) FILTER (WHERE worker_id IS NULL) AS unknown, "
            "count(DISTINCT worker_id) AS workers, min(time) AS first, max(time) AS last FROM obs",
            columns=["time", "worker_id"],
        )
        problems.extend(self.last_read_problems)
        row = {k: v[0] for k, v in table.to_pydict().items()}
        first, last = row["first"], row["last"]
        return {
            "uri": self.uri,
            "rows": int(row["n"]),
            "unknown_rows": int(row["unknown"]),
            "workers": int(row["workers"]),
            "files": len(all_files),
            "small_files": sum(f.is_small for f in all_files),
            "partitions": len(files),
            "bytes": sum(f.size for f in all_files),
            "first_time": first.isoformat() if first is not None else None,
            "last_time": last.isoformat() if last is not None else None,
            "corrupt_files": _unique([p.split(": ", 1)[0] for p in problems] + self._quarantined_files()),
        }

    def file_paths(self) -> list[str]:
        """Every visible data file (for tests and tools)."""
        return [f.path for day_files in self._all_files().values() for f in day_files]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _where_sql(workers, start_ts, end_ts, include_unknown: bool) -> str:
    conds = []
    if workers is not None:
        if not workers:
            conds.append("false")
        elif len(workers) == 1:
            conds.append(f"worker_id = {_lit(workers[0])}")
        else:
            conds.append(f"worker_id IN ({', '.join(_lit(w) for w in workers)})")
    elif not include_unknown:
        conds.append("worker_id IS NOT NULL")
    if start_ts is not None:
        conds.append(f"time >= TIMESTAMPTZ {_lit(start_ts.isoformat())}")
    if end_ts is not None:
        conds.append(f"time < TIMESTAMPTZ {_lit(end_ts.isoformat())}")
    return " AND ".join(conds) or "true"


def _is_io_problem(exc: Exception) -> bool:
    """True for errors that may come from a vanished or corrupt file (not from a mistake in the SQL)."""
    if isinstance(exc, OSError):
        return True
    try:
        import duckdb
    except ImportError:  # pragma: no cover
        return False
    sql_mistakes = tuple(
        k for k in (getattr(duckdb, n, None) for n in ("ParserException", "BinderException", "CatalogException",
                                                        "SyntaxException", "NotImplementedException")) if k
    )
    return isinstance(exc, duckdb.Error) and not isinstance(exc, sql_mistakes)


def _dedup(table: pa.Table) -> pa.Table:
    """Keep the first row of each obs_id."""
    ids = table.column("obs_id")
    if len(pc.unique(ids)) == table.num_rows:
        return table
    dup = pd.Series(ids.to_numpy(zero_copy_only=False)).duplicated().to_numpy()
    logger.debug("dropping %d rows with duplicate obs_id", int(dup.sum()))
    return table.filter(pa.array(~dup))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    for name in ("box_x", "box_y", "box_w", "box_h"):
        if name in frame.columns:
            frame[name] = frame[name].astype("Int32")
    return frame


def empty_frame(columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An empty DataFrame with the dtypes :meth:`TimelineStore.read` returns."""
    cols = list(columns) if columns else list(COLUMNS)
    return _to_frame(pa.schema([SCHEMA.field(c) for c in cols]).empty_table())


def enforce_retention(store: TimelineStore, days: int, now: Any = None) -> int:
    """Delete rows older than ``days`` days before ``now`` (default: the current time). Returns rows deleted.

    The app calls this at start-up; ``python -m core timeline retain`` calls it (and writes an audit line).
    """
    if days is None or int(days) < 1:
        raise TimelineArgumentError(f"retention days must be >= 1, got {days!r}")
    now_ts = to_utc(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    cutoff = now_ts - pd.Timedelta(days=int(days))
    return store.delete_before(cutoff)
