"""The narrow interface the pipeline and the query layer see of any store engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa

QueryParams = Mapping[str, Any]


class Store(Protocol):
    """A ClickHouse-SQL store. Methods block; callers run them in worker threads."""

    def insert(self, table: str, rows: pa.Table) -> None:
        """Write rows; once this returns the rows are durable."""

    def query(self, sql: str, params: QueryParams | None = None) -> pa.Table:
        """Run a SELECT with `{name:Type}` parameters and return the result."""

    def execute(self, sql: str, params: QueryParams | None = None) -> None:
        """Run a statement that returns nothing (DDL, ALTER, OPTIMIZE)."""

    def close(self) -> None: ...
