"""The embedded engine: chDB, ClickHouse in-process, under the data directory."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import chdb
import pyarrow as pa

from observatory.errors import StoreUnavailableError
from observatory.store.protocol import QueryParams

# ClickHouse logs every query into system tables by default; in one process on a laptop that
# is disk and memory spent on nothing anyone reads.
_SESSION_SETTINGS = (
    "SET log_queries = 0",
    "SET log_query_threads = 0",
    "SET log_processors_profiles = 0",
    "SET log_query_views = 0",
)


# chDB reads string parameters in ClickHouse's escaped text format: a backslash starts an
# escape and a raw tab or newline ends the value. Escaping here keeps every value exact.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _escaped(params: QueryParams | None) -> dict[str, object]:
    return {
        name: value.translate(_ESCAPES) if isinstance(value, str) else value
        for name, value in (params or {}).items()
    }


class EmbeddedStore:
    """A chDB connection; one per process, since chDB opens one data path per process."""

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn: Any = chdb.connect(str(path))  # type: ignore[no-untyped-call]
        self._closed = False
        self._close_lock = threading.Lock()
        # One call into chDB at a time. Inserts read Arrow through chDB's Python() table
        # function, which needs the interpreter lock inside chDB's own threads; a concurrent
        # query holding that lock while it waits for the connection deadlocks the process
        # (seen with a query and an insert at once). Waiting here releases it.
        self._calls = threading.Lock()
        for statement in _SESSION_SETTINGS:
            self._conn.query(statement)

    def insert(self, table: str, rows: pa.Table) -> None:
        columns = ", ".join(f"`{name}`" for name in rows.column_names)
        arrow_rows = rows  # chDB's Python() table function finds the table by this local name.
        sql = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM Python(arrow_rows)"
        try:
            with self._calls:
                cursor = self._conn.cursor()
                try:
                    cursor.execute(sql)
                finally:
                    cursor.close()
        except Exception as exc:
            raise StoreUnavailableError(f"store could not write to {table}: {exc}") from exc
        del arrow_rows

    def query(self, sql: str, params: QueryParams | None = None) -> pa.Table:
        with self._calls:
            result = self._conn.query(sql, "ArrowTable", params=_escaped(params))
        return result if isinstance(result, pa.Table) else pa.table({})

    def execute(self, sql: str, params: QueryParams | None = None) -> None:
        with self._calls:
            self._conn.query(sql, "CSV", params=_escaped(params))

    def close(self) -> None:
        with self._close_lock:
            if not self._closed:
                self._closed = True
                with self._calls:
                    self._conn.close()
