"""The PromQL engine: instant and range queries over a series source."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from observatory.errors import ObservatoryError, QueryError, QueryExecutionError
from observatory.query.promql.ast import Node, parse, value_type
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.evaluator import evaluate
from observatory.query.promql.format import QueryResult
from observatory.query.promql.labels import to_dict
from observatory.query.promql.source import SeriesSource
from observatory.query.promql.values import InstantVector, RangeVector, Value, finalize_names

__all__ = ["PromqlEngine", "QueryLimits", "QueryResult"]

_DOCUMENTED = {"matrix": "range vector", "string": "string"}


@dataclass(frozen=True)
class QueryLimits:
    max_samples: int = 50_000_000  # samples loaded into memory by one query
    max_points_per_series: int = 11_000  # range query resolution: (end-start)/step + 1
    timeout_seconds: float = 120.0


def _vector_rows(vec: InstantVector, time_ms: int) -> list[tuple[dict[str, str], int, float]]:
    vec = finalize_names(vec)
    rows: list[int] = np.nonzero(vec.present[:, 0])[0].tolist() if vec.steps else []
    return [(to_dict(vec.labels[r]), time_ms, float(vec.values[r, 0])) for r in rows]


def _range_rows(rv: RangeVector) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    out = []
    for series in sorted(rv.series, key=lambda s: s.labels):
        lo, hi = rv.bounds(series)
        if hi[0] > lo[0]:
            window = slice(int(lo[0]), int(hi[0]))
            out.append((to_dict(series.labels), series.times[window], series.values[window]))
    return out


def _matrix_rows(
    vec: InstantVector, grid: Grid
) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    vec = finalize_names(vec)
    order = sorted(range(len(vec.labels)), key=lambda i: vec.labels[i])
    return [
        (to_dict(vec.labels[i]), grid.times[vec.present[i]], vec.values[i][vec.present[i]])
        for i in order
        if vec.present[i].any()
    ]


class PromqlEngine:
    def __init__(
        self,
        source: SeriesSource,
        lookback_ms: int = 300_000,
        limits: QueryLimits = QueryLimits(),
    ) -> None:
        self.source = source
        self.lookback_ms = lookback_ms
        self.limits = limits

    def instant(self, query: str, time_ms: int) -> QueryResult:
        node = parse(query)
        ctx = self._context(time_ms, time_ms, 0)
        value = self._run(node, Grid(np.array([time_ms], dtype=np.int64)), ctx)
        if isinstance(value, np.ndarray):
            return QueryResult("scalar", (time_ms, float(value[0])), ctx.annotations)
        if isinstance(value, str):
            return QueryResult("string", (time_ms, value), ctx.annotations)
        if isinstance(value, RangeVector):
            return QueryResult("matrix", _range_rows(value), ctx.annotations)
        return QueryResult("vector", _vector_rows(value, time_ms), ctx.annotations)

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        self._check_range(start_ms, end_ms, step_ms)
        node = parse(query)
        kind = value_type(node)
        if kind not in ("vector", "scalar"):
            raise QueryError(
                f'invalid expression type "{_DOCUMENTED[kind]}" for range query, '
                "must be Scalar or instant Vector"
            )
        ctx = self._context(start_ms, end_ms, step_ms)
        grid = Grid.span(start_ms, end_ms, step_ms)
        value = self._run(node, grid, ctx)
        if isinstance(value, np.ndarray):
            series: tuple[dict[str, str], np.ndarray, np.ndarray] = (
                {},
                grid.times,
                value.astype(np.float64),
            )
            return QueryResult("matrix", [series], ctx.annotations)
        if not isinstance(value, InstantVector):
            raise QueryExecutionError("range query did not evaluate to a vector")
        return QueryResult("matrix", _matrix_rows(value, grid), ctx.annotations)

    def _check_range(self, start_ms: int, end_ms: int, step_ms: int) -> None:
        if step_ms <= 0:
            raise QueryError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        if end_ms < start_ms:
            raise QueryError("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms + 1 > self.limits.max_points_per_series:
            raise QueryError(
                f"exceeded maximum resolution of {self.limits.max_points_per_series:,} points "
                "per timeseries. Try decreasing the query resolution (?step=XX)"
            )

    def _context(self, start_ms: int, end_ms: int, step_ms: int) -> QueryContext:
        deadline = time.monotonic() + self.limits.timeout_seconds
        return QueryContext(
            self.source,
            self.lookback_ms,
            start_ms,
            end_ms,
            step_ms,
            self.limits.max_samples,
            deadline,
        )

    @staticmethod
    def _run(node: Node, grid: Grid, ctx: QueryContext) -> Value:
        try:
            with np.errstate(all="ignore"):
                return evaluate(node, grid, ctx)
        except ObservatoryError:
            raise
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
            raise QueryExecutionError(f"unexpected error: {type(exc).__name__}: {exc}") from exc
