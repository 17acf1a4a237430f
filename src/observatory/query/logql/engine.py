"""LogQL queries end to end: parse, read through the store, evaluate, with Loki's limits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.evaluator import MetricSeries, evaluate
from observatory.query.logql.parser import parse_expr
from observatory.query.logql.reader import LogEntry, LogReader, ReadStats
from observatory.store.protocol import Store

MAX_POINTS_PER_SERIES = 11_000


@dataclass(frozen=True)
class LogqlLimits:
    max_entries: int = 5000
    max_series: int = 500
    timeout_seconds: float = 120.0


@dataclass
class Stream:
    labels: dict[str, str]
    entries: list[tuple[int, str]]


@dataclass
class QueryResult:
    """`kind` is Loki's resultType: streams, matrix, vector or scalar."""

    kind: str
    stats: ReadStats
    streams: list[Stream] = field(default_factory=list)
    series: list[MetricSeries] = field(default_factory=list)


class LogqlEngine:
    def __init__(self, store: Store, tenant: str, limits: LogqlLimits) -> None:
        self.store = store
        self.tenant = tenant
        self.limits = limits

    def range(
        self, text: str, start_ns: int, end_ns: int, step_ns: int, limit: int, backward: bool
    ) -> QueryResult:
        expr = parse_expr(text)
        reader = self._reader()
        if isinstance(expr, ast.LogQuery):
            self._check_limit(limit)
            entries = reader.entries(expr, start_ns, end_ns, limit, backward)
            return QueryResult("streams", reader.stats, streams=group_streams(entries))
        check_steps(start_ns, end_ns, step_ns)
        result = evaluate(expr, start_ns, end_ns, step_ns, reader, self.limits.max_series)
        # A range query is a matrix even for a literal (`1+1`), as Loki answers it.
        return QueryResult("matrix", reader.stats, series=result.series)

    def instant(self, text: str, at_ns: int) -> QueryResult:
        expr = parse_expr(text)
        if isinstance(expr, ast.LogQuery):
            raise QueryError(
                "log queries are not supported as an instant query type, please change your "
                "query to a range query type"
            )
        reader = self._reader()
        result = evaluate(expr, at_ns, at_ns, 1, reader, self.limits.max_series)
        kind = "scalar" if result.is_scalar else "vector"
        return QueryResult(kind, reader.stats, series=result.series)

    def _reader(self) -> LogReader:
        return LogReader(self.store, self.tenant, time.monotonic() + self.limits.timeout_seconds)

    def _check_limit(self, limit: int) -> None:
        if limit > self.limits.max_entries:
            raise QueryError(
                f"max entries limit per query exceeded, limit > max_entries_limit "
                f"({limit} > {self.limits.max_entries}) (setting logs_query_max_entries)"
            )


def check_steps(start_ns: int, end_ns: int, step_ns: int) -> None:
    if end_ns < start_ns:
        raise QueryError("end timestamp must not be before or equal to start time")
    if step_ns <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if (end_ns - start_ns) // step_ns + 1 > MAX_POINTS_PER_SERIES:
        raise QueryError(
            "exceeded maximum resolution of 11,000 points per timeseries. Try increasing the "
            "value of the step parameter"
        )


def group_streams(entries: list[LogEntry]) -> list[Stream]:
    """Entries grouped by their label sets, each stream in the order the entries came."""
    streams: dict[frozenset[tuple[str, str]], Stream] = {}
    for entry in entries:
        key = frozenset(entry.labels.items())
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = Stream(entry.labels, [])
        stream.entries.append((entry.timestamp_ns, entry.line))
    return list(streams.values())
