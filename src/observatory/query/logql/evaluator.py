"""The LogQL metric-query evaluator: a syntax tree and a sample source in, series out.

Every node is evaluated for all steps at once (see metric_values). Range aggregations ask the
source once for their samples and aggregate them per window with numpy; vector aggregations and
binary operators then work on the dense (series, steps) arrays. Like Loki, `sum by (g)` over an
additive range aggregation groups the samples before the windows, so `sum(rate(...))` over
thousands of streams never holds thousands of series.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.logql import ast
from observatory.query.logql.binary_ops import evaluate_binary
from observatory.query.logql.metric_values import (
    Labels,
    Scalar,
    Value,
    Vector,
    drop_empty_rows,
    drop_labels,
    get_label,
    labels_of,
    merge_same_labels,
    set_label,
    stack_rows,
)
from observatory.query.logql.range_functions import (
    UNWRAPPED_ONLY,
    Windows,
    apply_range,
    window_sum,
)
from observatory.query.logql.vector_ops import aggregate, group_key
from observatory.query.promql.label_functions import expand_template
from observatory.query.promql.regex import translate

ERROR_LABEL = "__error__"
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass
class SampleSeries:
    """What the data source returns for one range aggregation."""

    labels: dict[str, str]
    timestamps: np.ndarray  # int64 nanoseconds, ascending
    values: np.ndarray  # float64, same length


class RangeSource(Protocol):
    def range_samples(
        self, agg: ast.RangeAggregation, start_ns: int, end_ns: int, step_ns: int
    ) -> Sequence[SampleSeries]:
        """Samples of agg.query with timestamps in
        (start_ns - agg.range_ns - agg.offset_ns, end_ns - agg.offset_ns].

        Line counts for count_over_time, rate without unwrap and absent_over_time (1 per line,
        or per time bucket aligned so every window holds whole buckets); byte counts for
        bytes_over_time and bytes_rate; unwrapped values otherwise. Labels are the entries'
        final labels without the unwrapped one; agg.grouping is not applied.
        """
        ...


@dataclass
class MetricSeries:
    labels: dict[str, str]
    timestamps: np.ndarray  # int64 ns: the evaluation steps where the series has a value
    values: np.ndarray  # float64


@dataclass
class MetricResult:
    series: list[MetricSeries]
    is_scalar: bool = False  # a query like `1 + 2`: one unlabelled series


def evaluation_steps(start_ns: int, end_ns: int, step_ns: int) -> np.ndarray:
    """start, start+step, ... up to end inclusive; an instant query (start == end) has one."""
    if end_ns < start_ns:
        raise QueryError("end timestamp must not be before start time")
    if start_ns == end_ns:
        return np.array([start_ns], dtype=np.int64)
    if step_ns <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    count = (end_ns - start_ns) // step_ns + 1
    return start_ns + step_ns * np.arange(count, dtype=np.int64)


def check_pipeline_errors(series: Sequence[SampleSeries]) -> None:
    """Metrics may not carry extraction errors: the query must filter them out."""
    for s in series:
        error = s.labels.get(ERROR_LABEL, "")
        if error:
            raise QueryExecutionError(f'pipeline error: {error}, use `| __error__=""` to filter it')


def absent_labels(selector: Sequence[ast.Matcher]) -> Labels:
    """Labels fixed by exactly one equality matcher, as Loki reports absent series."""
    fixed: dict[str, str] = {}
    unfixed: set[str] = set()
    for m in selector:
        if m.op == ast.MatchOp.EQ and m.name not in fixed:
            fixed[m.name] = m.value
        else:
            unfixed.add(m.name)
    return labels_of({k: v for k, v in fixed.items() if k not in unfixed})


def _merged_samples(parts: list[SampleSeries]) -> tuple[np.ndarray, np.ndarray]:
    """The samples of several series in one time-ordered sequence (stable on ties)."""
    if len(parts) == 1:
        return np.asarray(parts[0].timestamps, np.int64), np.asarray(parts[0].values, np.float64)
    times = np.concatenate([np.asarray(p.timestamps, np.int64) for p in parts])
    values = np.concatenate([np.asarray(p.values, np.float64) for p in parts])
    order = np.argsort(times, kind="stable")
    return times[order], values[order]


def _grouped_series(
    series: Sequence[SampleSeries], grouping: ast.Grouping | None
) -> dict[Labels, list[SampleSeries]]:
    keyed = sorted(((labels_of(s.labels), s) for s in series), key=lambda pair: pair[0])
    groups: dict[Labels, list[SampleSeries]] = {}
    for lbl, s in keyed:
        key = lbl if grouping is None else group_key(lbl, grouping)
        groups.setdefault(key, []).append(s)
    return groups


# Range aggregations whose per-series values add up to the value of the merged series: `sum`
# over them can group the samples first, as Loki pushes the grouping down to the extractor.
_ADDITIVE_RANGE_OPS = frozenset(
    {
        ast.RangeOp.COUNT_OVER_TIME,
        ast.RangeOp.RATE,
        ast.RangeOp.BYTES_OVER_TIME,
        ast.RangeOp.BYTES_RATE,
        ast.RangeOp.SUM_OVER_TIME,
    }
)


def pushed_down_grouping(node: ast.VectorAggregation) -> ast.Grouping | None:
    """The grouping `sum by (g) (range_agg)` can apply to the range aggregation's samples."""
    inner = node.expr
    if (
        node.op == ast.VectorOp.SUM
        and isinstance(inner, ast.RangeAggregation)
        and inner.grouping is None
        and inner.op in _ADDITIVE_RANGE_OPS
    ):
        return node.grouping or ast.Grouping(())
    return None


def _limit_error(limit: int) -> QueryExecutionError:
    return QueryExecutionError(f"maximum of series ({limit}) reached for a single query")


class _Evaluator:
    def __init__(
        self, steps: np.ndarray, bounds: tuple[int, int, int], source: RangeSource, limit: int
    ) -> None:
        self.steps = steps
        self.bounds = bounds
        self.source = source
        self.limit = limit

    def value(self, expr: ast.MetricExpr, limit: int | None = None) -> Value:
        """The value of a node; `limit` bounds its series (the intermediate limit by default)."""
        bound = self.limit if limit is None else limit
        result = self._dispatch(expr, bound)
        if isinstance(result, Vector) and result.live_rows() > bound:
            raise _limit_error(bound)
        return result

    def vector(self, expr: ast.MetricExpr, context: str) -> Vector:
        result = self.value(expr)
        if not isinstance(result, Vector):
            raise QueryError(f"expected type vector in {context}, got scalar")
        return result

    def _dispatch(self, expr: ast.MetricExpr, limit: int) -> Value:
        if isinstance(expr, ast.RangeAggregation):
            return self._range(expr, expr.grouping, limit)
        if isinstance(expr, ast.VectorAggregation):
            return aggregate(expr, self._aggregated(expr))
        if isinstance(expr, ast.BinaryOp):
            return evaluate_binary(expr, self.value(expr.lhs), self.value(expr.rhs))
        if isinstance(expr, ast.NumberLiteral):
            return Scalar(np.full(len(self.steps), float(expr.value)))
        if isinstance(expr, ast.VectorLiteral):
            n = len(self.steps)
            return Vector([()], np.full((1, n), float(expr.value)), np.ones((1, n), dtype=bool))
        if isinstance(expr, ast.LabelReplace):
            return label_replace(expr, self.vector(expr.expr, "label_replace"))
        raise QueryError(f"unsupported metric expression {type(expr).__name__}")

    def _aggregated(self, node: ast.VectorAggregation) -> Vector:
        """The input of a vector aggregation, grouped at the source when that is exact."""
        grouping = pushed_down_grouping(node)
        if grouping is not None and isinstance(node.expr, ast.RangeAggregation):
            return self._range(node.expr, grouping, self.limit)
        return self.vector(node.expr, f"{node.op} aggregation")

    def _range(
        self, agg: ast.RangeAggregation, grouping: ast.Grouping | None, limit: int
    ) -> Vector:
        unwrapped = agg.query.unwrap is not None
        if agg.op in UNWRAPPED_ONLY and not unwrapped:
            raise QueryError(f"invalid aggregation {agg.op} without unwrap")
        series = self.source.range_samples(agg, *self.bounds)
        check_pipeline_errors(series)
        ends = self.steps - agg.offset_ns
        if agg.op == ast.RangeOp.ABSENT_OVER_TIME:
            return self._absent(agg, series, ends)
        labels: list[Labels] = []
        values: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        for lbl, parts in _grouped_series(series, grouping).items():
            times, samples = _merged_samples(parts)
            windows = Windows.of(times, ends, agg.range_ns)
            value, present = apply_range(
                agg.op, samples, windows, agg.range_ns, unwrapped, agg.param
            )
            if not present.any():
                continue
            # Checked while building, so a query over too many streams fails before it
            # allocates a (series, steps) array for all of them.
            if len(labels) == limit:
                raise _limit_error(limit)
            labels.append(lbl)
            values.append(value[None, :])
            masks.append(present[None, :])
        return stack_rows(labels, values, masks, len(self.steps))

    def _absent(
        self, agg: ast.RangeAggregation, series: Sequence[SampleSeries], ends: np.ndarray
    ) -> Vector:
        seen = np.zeros(len(ends), dtype=bool)
        for s in series:
            times, samples = _merged_samples([s])
            windows = Windows.of(times, ends, agg.range_ns)
            if agg.query.unwrap is None:
                seen |= window_sum(samples, windows) > 0
            else:
                seen |= windows.n > 0
        n = len(ends)
        return Vector([absent_labels(agg.query.selector)], np.ones((1, n)), ~seen[None, :])


def label_replace(node: ast.LabelReplace, vec: Vector) -> Vector:
    """PromQL's label_replace: the regex must match the whole source value."""
    if not _LABEL_NAME.fullmatch(node.destination):
        raise QueryError(f'invalid destination label name in label_replace: "{node.destination}"')
    try:
        pattern = re.compile("(?:" + translate(node.regex) + ")")
    except re.error as exc:
        raise QueryError(f"invalid regex in label_replace: {exc}") from exc
    labels: list[Labels] = []
    for lbl in vec.labels:
        match = pattern.fullmatch(get_label(lbl, node.source))
        if match is None:
            labels.append(lbl)
            continue
        replaced = expand_template(node.replacement, match)
        if replaced:
            labels.append(set_label(lbl, node.destination, replaced))
        else:
            labels.append(drop_labels(lbl, (node.destination,)))
    return merge_same_labels(Vector(labels, vec.values, vec.present))


def sort_operator(expr: ast.MetricExpr) -> ast.VectorOp | None:
    """The outermost sort or sort_desc in the query, which orders an instant result by value."""
    if isinstance(expr, ast.VectorAggregation):
        if expr.op in (ast.VectorOp.SORT, ast.VectorOp.SORT_DESC):
            return expr.op
        return sort_operator(expr.expr)
    if isinstance(expr, ast.BinaryOp):
        return sort_operator(expr.lhs) or sort_operator(expr.rhs)
    if isinstance(expr, ast.LabelReplace):
        return sort_operator(expr.expr)
    return None


def _row_order(vec: Vector, by_value: ast.VectorOp | None) -> list[int]:
    rows = range(len(vec.labels))
    if by_value is None:
        return sorted(rows, key=vec.labels.__getitem__)
    first = vec.values[:, 0]
    sign = -1.0 if by_value == ast.VectorOp.SORT_DESC else 1.0

    def key(i: int) -> tuple[bool, float, Labels]:
        nan = bool(np.isnan(first[i]))
        return nan, 0.0 if nan else sign * float(first[i]), vec.labels[i]

    return sorted(rows, key=key)


def to_result(value: Value, steps: np.ndarray, by_value: ast.VectorOp | None) -> MetricResult:
    """Series with their points, sorted by labels (or by value for a sorted instant query)."""
    if isinstance(value, Scalar):
        return MetricResult([MetricSeries({}, steps.copy(), value.values.copy())], is_scalar=True)
    vec = drop_empty_rows(value)
    order = _row_order(vec, by_value if len(steps) == 1 else None)
    series = [
        MetricSeries(
            dict(vec.labels[i]), steps[vec.present[i]].copy(), vec.values[i][vec.present[i]].copy()
        )
        for i in order
    ]
    return MetricResult(series)


def evaluate(
    expr: ast.MetricExpr,
    start_ns: int,
    end_ns: int,
    step_ns: int,
    source: RangeSource,
    max_series: int = 500,
    max_intermediate_series: int | None = None,
) -> MetricResult:
    """Evaluates a metric query at start, start+step, ... end (one step when start == end).

    The result may hold at most `max_series` series, and so may every intermediate result
    unless `max_intermediate_series` sets another bound for them.
    """
    steps = evaluation_steps(start_ns, end_ns, step_ns)
    inner_limit = max_series if max_intermediate_series is None else max_intermediate_series
    evaluator = _Evaluator(steps, (start_ns, end_ns, step_ns), source, inner_limit)
    return to_result(evaluator.value(expr, max_series), steps, sort_operator(expr))
