"""DuckDB access to the stored rows: the relation ``obs`` that :meth:`TimelineStore.query` runs SQL over.

Local stores are read by DuckDB directly (``read_parquet``); remote stores are read with pyarrow + fsspec (the
worker/time filters pushed into the parquet reader) and DuckDB aggregates the Arrow table. Rows are
de-duplicated by ``obs_id`` in every partition that holds more than one file. A file that vanishes while it is
read (a compaction deleted it) makes the query list the files again and retry; a corrupt one is marked bad in
:class:`~core.timeline.fs.FileHealth`, skipped and reported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import StoreError
from core.timeline.fs import Backend, FileHealth, StoredFile, first_line
from core.timeline.schema import SCHEMA

logger = logging.getLogger(__name__)

Files = dict[str, list[StoredFile]]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def where_sql(workers: Sequence[str] | None, start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None,
              include_unknown: bool) -> str:
    """The SQL condition for the worker / time filters of a query (``true`` when there are none)."""
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


def is_io_problem(exc: Exception) -> bool:
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


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class SqlReader:
    """Runs SQL over the rows of one store; owns the (per-process) DuckDB connection."""

    def __init__(self, uri: str, backend: Backend, health: FileHealth):
        self.uri = uri
        self.backend = backend
        self.health = health
        self._mutex = threading.Lock()
        self._con: Any = None
        self._con_pid: int | None = None

    def cursor(self) -> Any:
        import duckdb

        with self._mutex:
            if self._con is None or self._con_pid != os.getpid():
                con = duckdb.connect(":memory:")
                con.execute("SET TimeZone='UTC'")
                con.execute("SET parquet_metadata_cache=true")
                self._con, self._con_pid = con, os.getpid()
            return self._con.cursor()

    def close(self) -> None:
        with self._mutex:
            if self._con is not None and self._con_pid == os.getpid():
                self._con.close()
            self._con = None

    def query(
        self,
        sql: str,
        *,
        cols: list[str],
        workers: list[str] | None,
        start_ts: pd.Timestamp | None,
        end_ts: pd.Timestamp | None,
        include_unknown: bool,
        params: dict | None,
    ) -> tuple[pa.Table, list[str]]:
        """``WITH obs AS (<matching rows>) <sql>`` -> (result, ``"<path>: <reason>"`` of each file skipped)."""
        where = where_sql(workers, start_ts, end_ts, include_unknown)
        last_exc: Exception | None = None
        for _attempt in range(100):  # each retry either relists (a file vanished) or excludes one more bad file
            problems: list[str] = []
            files = self.health.skip_bad(self.backend.all_files(start_ts, end_ts), problems)
            cur = self.cursor()
            try:
                cte, qparams = self._obs_cte(cur, files, cols, where, workers, start_ts, end_ts)
                all_params = {**qparams, **(params or {})}
                result = cur.sql(f"WITH obs AS ({cte}) {sql}", params=all_params or None).to_arrow_table()
                bad = self.health.bad
                problems += [f"{f.path}: {bad[f.path]}" for fs in files.values() for f in fs if f.path in bad]
                return result, unique(problems)
            except FileNotFoundError as exc:  # remote: a file vanished between listing and reading (compaction)
                last_exc = exc
            except Exception as exc:  # duckdb.Error: a file vanished (compaction) or is corrupt
                if not is_io_problem(exc):
                    raise
                last_exc = exc
                if not self._explain_failure(files, exc):
                    break
            finally:
                cur.close()
        raise StoreError(f"timeline store {self.uri}: cannot read: {last_exc}")

    def _explain_failure(self, files: Files, exc: Exception) -> bool:
        """After a failed read: find the vanished or corrupt file(s). True if a retry can make progress."""
        flat = [f for day_files in files.values() for f in day_files]
        message = str(exc)
        for f in flat:  # DuckDB names the file in its message
            if f.path in message:
                if not self.backend.exists(f.path):
                    return True
                self.health.mark_bad(f.path, message.splitlines()[0][:300])
                return True
        if any(not self.backend.exists(f.path) for f in flat):
            return True
        found = False
        for full in (False, True):  # footers first (cheap), then whole files
            for f in flat:
                try:
                    if full:
                        self.backend.read_file(f)
                    else:
                        pq.read_metadata(self.backend.open_input(f.path))
                except FileNotFoundError:
                    return True
                except Exception as err:
                    self.health.mark_bad(f.path, first_line(err))
                    found = True
            if found:
                return True
        return False

    def _obs_cte(self, cur, files: Files, cols: list[str], where: str, workers: list[str] | None,
                 start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None) -> tuple[str, dict]:
        col_sql = ", ".join(quote_ident(c) for c in cols)
        if not self.backend.local:
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

    def _scan_remote(self, files: Files, cols: list[str], workers: list[str] | None,
                     start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None) -> pa.Table:
        read_cols = list(dict.fromkeys(["obs_id", "time", "worker_id", *cols]))
        filters: list[tuple[str, str, Any]] = []
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
                    tables.append(self.backend.read_file(f, read_cols, filters or None).cast(schema))
                except FileNotFoundError:
                    raise  # vanished (compaction): query() lists again
                except Exception as exc:
                    self.health.mark_bad(f.path, first_line(exc))
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables)
