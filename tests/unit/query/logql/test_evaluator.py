"""The LogQL metric evaluator against a fake sample source, with golden values from Loki's rules.

Times are in seconds in the helpers. A window is (t - offset - range, t - offset]: a sample
exactly `range` before the window's end is out, one at its end is in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.logql import ast
from observatory.query.logql.evaluator import (
    MetricResult,
    SampleSeries,
    evaluate,
)

S = 1_000_000_000
Op = ast.RangeOp
Vo = ast.VectorOp
B = ast.BinaryOpKind


class FakeSource:
    """Fixed series per selector (its first matcher's value), cut to the requested window."""

    def __init__(self, data: dict[str, list[SampleSeries]]) -> None:
        self.data = data
        self.calls: list[tuple[ast.RangeAggregation, int, int, int]] = []

    def range_samples(
        self, agg: ast.RangeAggregation, start_ns: int, end_ns: int, step_ns: int
    ) -> Sequence[SampleSeries]:
        self.calls.append((agg, start_ns, end_ns, step_ns))
        low = start_ns - agg.range_ns - agg.offset_ns
        high = end_ns - agg.offset_ns
        out = []
        for s in self.data.get(agg.query.selector[0].value, []):
            keep = (s.timestamps > low) & (s.timestamps <= high)
            out.append(SampleSeries(dict(s.labels), s.timestamps[keep], s.values[keep]))
        return out


def series(labels: dict[str, str], points: list[tuple[float, float]]) -> SampleSeries:
    times = np.array([round(t * S) for t, _ in points], dtype=np.int64)
    return SampleSeries(labels, times, np.array([v for _, v in points], dtype=np.float64))


def lines(labels: dict[str, str], times: list[float]) -> SampleSeries:
    return series(labels, [(t, 1.0) for t in times])


def query(app: str = "a", unwrap: bool = False, *extra: ast.Matcher) -> ast.LogQuery:
    selector = (ast.Matcher("app", ast.MatchOp.EQ, app), *extra)
    return ast.LogQuery(selector, (), ast.Unwrap("latency") if unwrap else None)


def rng(
    op: ast.RangeOp,
    range_s: float,
    app: str = "a",
    offset_s: float = 0,
    param: float | None = None,
    grouping: ast.Grouping | None = None,
) -> ast.RangeAggregation:
    unwrap = op not in ast.LINE_RANGE_OPS
    return ast.RangeAggregation(
        op, query(app, unwrap), round(range_s * S), round(offset_s * S), param, grouping
    )


def gauge(app: str = "g") -> ast.RangeAggregation:
    """last_over_time over 10s: the value of each series' sample in the last 10s."""
    return rng(Op.LAST_OVER_TIME, 10, app)


def run(
    expr: ast.MetricExpr,
    source: FakeSource,
    start: float,
    end: float | None = None,
    step: float = 0,
    max_series: int = 500,
) -> MetricResult:
    end = start if end is None else end
    return evaluate(expr, round(start * S), round(end * S), round(step * S), source, max_series)


Points = dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]


def points(result: MetricResult) -> Points:
    return {
        tuple(sorted(s.labels.items())): [
            (int(t) / S, float(v)) for t, v in zip(s.timestamps, s.values, strict=True)
        ]
        for s in result.series
    }


def single(result: MetricResult) -> float:
    """The one value of a one-series instant result."""
    assert len(result.series) == 1 and len(result.series[0].values) == 1
    return float(result.series[0].values[0])


def L(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


A = {"app": "a"}


# ------------------------------------------------------------------ range aggregations

IRREGULAR = FakeSource({"a": [lines(A, [5, 10, 20, 21, 40, 60])]})


def test_count_over_time_window_is_left_open_right_closed() -> None:
    result = run(ast.RangeAggregation(Op.COUNT_OVER_TIME, query(), 20 * S), IRREGULAR, 20, 80, 20)
    # t=20: 5,10,20; t=40: 21,40 (20 is out); t=60: 60 (40 is out); t=80: nothing.
    assert points(result) == {L(app="a"): [(20, 3), (40, 2), (60, 1)]}


def test_rate_divides_the_count_by_the_range_seconds() -> None:
    result = run(rng(Op.RATE, 20), IRREGULAR, 20, 60, 20)
    assert points(result) == {L(app="a"): [(20, 0.15), (40, 0.1), (60, 0.05)]}


def test_instant_count_over_time() -> None:
    assert single(run(rng(Op.COUNT_OVER_TIME, 60), IRREGULAR, 60)) == 6
    assert single(run(rng(Op.COUNT_OVER_TIME, 55), IRREGULAR, 60)) == 5


def test_pre_aggregated_line_buckets_are_summed() -> None:
    source = FakeSource({"a": [series(A, [(10, 4), (20, 3), (30, 0)])]})
    result = run(rng(Op.COUNT_OVER_TIME, 10), source, 10, 30, 10)
    # A bucket counting no lines gives no point, as no line would in Loki.
    assert points(result) == {L(app="a"): [(10, 4), (20, 3)]}
    assert points(run(rng(Op.RATE, 20), source, 20)) == {L(app="a"): [(20, 0.35)]}


def test_bytes_over_time_and_bytes_rate() -> None:
    source = FakeSource({"a": [series(A, [(10, 100), (20, 50), (30, 25), (31, 0)])]})
    assert single(run(rng(Op.BYTES_OVER_TIME, 30), source, 30)) == 175
    assert single(run(rng(Op.BYTES_RATE, 25), source, 30)) == 175 / 25
    # A line of zero bytes still makes a point.
    assert points(run(rng(Op.BYTES_OVER_TIME, 1), source, 31)) == {L(app="a"): [(31, 0)]}


UNWRAPPED = FakeSource({"a": [series(A, [(10, 1.5), (20, 2.5), (30, 4.0), (40, 0.25)])]})


def test_sum_over_time_per_step() -> None:
    result = run(rng(Op.SUM_OVER_TIME, 30), UNWRAPPED, 30, 50, 10)
    assert points(result) == {L(app="a"): [(30, 8.0), (40, 6.75), (50, 4.25)]}


def test_avg_min_max_first_last_over_time() -> None:
    at = 40.0
    assert single(run(rng(Op.AVG_OVER_TIME, 30), UNWRAPPED, at)) == pytest.approx(6.75 / 3)
    assert single(run(rng(Op.MIN_OVER_TIME, 30), UNWRAPPED, at)) == 0.25
    assert single(run(rng(Op.MAX_OVER_TIME, 30), UNWRAPPED, at)) == 4.0
    assert single(run(rng(Op.FIRST_OVER_TIME, 30), UNWRAPPED, at)) == 2.5
    assert single(run(rng(Op.LAST_OVER_TIME, 30), UNWRAPPED, at)) == 0.25


def test_rate_of_unwrapped_values_is_their_sum_per_second() -> None:
    assert single(run(rng(Op.RATE, 30), UNWRAPPED, 40)) == pytest.approx(6.75 / 30)


def test_max_and_min_skip_nan_unless_all_are_nan() -> None:
    source = FakeSource(
        {
            "a": [series(A, [(1, math.nan), (2, 2.0), (3, 1.0)])],
            "n": [series({"app": "n"}, [(1, math.nan)])],
        }
    )
    assert single(run(rng(Op.MAX_OVER_TIME, 10), source, 3)) == 2.0
    assert single(run(rng(Op.MIN_OVER_TIME, 10), source, 3)) == 1.0
    assert math.isnan(single(run(rng(Op.MAX_OVER_TIME, 10, "n"), source, 3)))


def test_stdvar_and_stddev_are_population_statistics() -> None:
    values = [2, 4, 4, 4, 5, 5, 7, 9]
    source = FakeSource({"a": [series(A, [(i + 1, v) for i, v in enumerate(values)])]})
    assert single(run(rng(Op.STDVAR_OVER_TIME, 10), source, 8)) == pytest.approx(4.0)
    assert single(run(rng(Op.STDDEV_OVER_TIME, 10), source, 8)) == pytest.approx(2.0)
    assert single(run(rng(Op.STDDEV_OVER_TIME, 1), source, 8)) == 0.0


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 2.5), (0.9, 3.7), (0.0, 1.0), (1.0, 4.0), (-0.5, -math.inf), (1.5, math.inf)],
)
def test_quantile_over_time_interpolates(q: float, expected: float) -> None:
    source = FakeSource({"a": [series(A, [(1, 4.0), (2, 1.0), (3, 3.0), (4, 2.0)])]})
    result = run(rng(Op.QUANTILE_OVER_TIME, 10, param=q), source, 4)
    assert single(result) == pytest.approx(expected)


def test_quantile_sorts_nan_first_like_loki() -> None:
    source = FakeSource({"a": [series(A, [(1, 1.0), (2, math.nan), (3, 2.0)])]})
    assert math.isnan(single(run(rng(Op.QUANTILE_OVER_TIME, 10, param=0.0), source, 3)))
    assert single(run(rng(Op.QUANTILE_OVER_TIME, 10, param=1.0), source, 3)) == 2.0


def test_rate_counter_counts_resets() -> None:
    source = FakeSource({"a": [series(A, [(10, 1), (20, 3), (30, 6), (40, 2), (50, 5)])]})
    # Increase 5 - 1, plus 6 lost at the reset to 2: 10 over 50 seconds.
    assert single(run(rng(Op.RATE_COUNTER, 50), source, 50)) == pytest.approx(0.2)
    # One sample in the window: Loki answers 0 rather than nothing.
    assert points(run(rng(Op.RATE_COUNTER, 5), source, 50)) == {L(app="a"): [(50, 0.0)]}


def test_offset_shifts_the_window_not_the_timestamp() -> None:
    source = FakeSource({"a": [lines(A, [15, 20, 30, 40, 45])]})
    agg = rng(Op.COUNT_OVER_TIME, 20, offset_s=10)
    # Window (20, 40] for the step at 50.
    assert points(run(agg, source, 50)) == {L(app="a"): [(50, 2)]}
    assert source.calls[-1][1:] == (50 * S, 50 * S, 0)


def test_grouping_merges_input_series_before_the_window_function() -> None:
    source = FakeSource(
        {
            "a": [
                series({"app": "a", "host": "h1", "path": "/x"}, [(10, 1.0), (30, 3.0)]),
                series({"app": "a", "host": "h1", "path": "/y"}, [(20, 2.0)]),
                series({"app": "a", "host": "h2", "path": "/x"}, [(25, 10.0)]),
            ]
        }
    )
    by_host = ast.Grouping(("host",))
    result = run(rng(Op.SUM_OVER_TIME, 30, grouping=by_host), source, 30)
    assert points(result) == {L(host="h1"): [(30, 6.0)], L(host="h2"): [(30, 10.0)]}
    first = run(rng(Op.FIRST_OVER_TIME, 30, grouping=by_host), source, 30)
    last = run(rng(Op.LAST_OVER_TIME, 30, grouping=by_host), source, 30)
    assert points(first)[L(host="h1")] == [(30, 1.0)]
    assert points(last)[L(host="h1")] == [(30, 3.0)]
    without = ast.Grouping(("path",), without=True)
    avg = run(rng(Op.AVG_OVER_TIME, 30, grouping=without), source, 30)
    assert points(avg) == {L(app="a", host="h1"): [(30, 2.0)], L(app="a", host="h2"): [(30, 10.0)]}
    everything = run(rng(Op.MAX_OVER_TIME, 30, grouping=ast.Grouping(())), source, 30)
    assert points(everything) == {(): [(30, 10.0)]}


def test_without_grouping_each_series_is_its_own_output() -> None:
    source = FakeSource(
        {"a": [lines({"app": "a", "x": "1"}, [1]), lines({"app": "a", "x": "2"}, [1, 2])]}
    )
    assert points(run(rng(Op.COUNT_OVER_TIME, 10), source, 2)) == {
        L(app="a", x="1"): [(2, 1)],
        L(app="a", x="2"): [(2, 2)],
    }


def test_absent_over_time_reports_missing_steps_with_equality_labels() -> None:
    source = FakeSource({"a": [lines(A, [15])]})
    agg = ast.RangeAggregation(
        Op.ABSENT_OVER_TIME,
        query("a", False, ast.Matcher("env", ast.MatchOp.RE, "prod.*")),
        10 * S,
    )
    # The line at 15 is seen by the windows ending at 15 and 20 only.
    result = run(agg, source, 10, 30, 5)
    assert points(result) == {L(app="a"): [(10, 1), (25, 1), (30, 1)]}


def test_absent_over_time_is_empty_when_data_exists_and_drops_doubled_labels() -> None:
    source = FakeSource({"a": [lines(A, [5])]})
    assert run(rng(Op.ABSENT_OVER_TIME, 10), source, 10).series == []
    agg = ast.RangeAggregation(
        Op.ABSENT_OVER_TIME,
        query(
            "none",
            False,
            ast.Matcher("job", ast.MatchOp.EQ, "j"),
            ast.Matcher("job", ast.MatchOp.EQ, "k"),
        ),
        10 * S,
    )
    assert points(run(agg, source, 10)) == {L(app="none"): [(10, 1)]}


def test_pipeline_error_label_fails_the_query() -> None:
    source = FakeSource({"a": [series({"app": "a", "__error__": "JSONParserErr"}, [(1, 1.0)])]})
    with pytest.raises(QueryExecutionError, match="pipeline error: JSONParserErr"):
        run(rng(Op.COUNT_OVER_TIME, 10), source, 5)


def test_empty_error_label_is_no_error() -> None:
    source = FakeSource({"a": [series({"app": "a", "__error__": ""}, [(1, 1.0)])]})
    assert points(run(rng(Op.COUNT_OVER_TIME, 10), source, 5)) == {L(app="a"): [(5, 1)]}


def test_unwrapped_aggregation_without_unwrap_is_rejected() -> None:
    agg = ast.RangeAggregation(Op.SUM_OVER_TIME, query(), 10 * S)
    with pytest.raises(QueryError, match="sum_over_time without unwrap"):
        run(agg, FakeSource({}), 5)


def test_quantile_needs_its_parameter() -> None:
    with pytest.raises(QueryError, match="quantile"):
        run(rng(Op.QUANTILE_OVER_TIME, 10), UNWRAPPED, 20)


def test_source_is_called_once_per_range_aggregation() -> None:
    source = FakeSource({"a": [lines(A, [1])], "b": [lines({"app": "b"}, [1])]})
    expr = ast.BinaryOp(
        B.ADD, rng(Op.COUNT_OVER_TIME, 10), ast.VectorAggregation(Vo.SUM, rng(Op.RATE, 10, "b"))
    )
    run(expr, source, 0, 100, 5)
    assert [(c[0].query.selector[0].value, c[1:]) for c in source.calls] == [
        ("a", (0, 100 * S, 5 * S)),
        ("b", (0, 100 * S, 5 * S)),
    ]


def _naive(op: ast.RangeOp, values: list[float], param: float, seconds: float) -> float:
    if op == Op.SUM_OVER_TIME:
        return math.fsum(values)
    if op == Op.AVG_OVER_TIME:
        return math.fsum(values) / len(values)
    if op == Op.MIN_OVER_TIME:
        return min(values)
    if op == Op.MAX_OVER_TIME:
        return max(values)
    if op == Op.STDVAR_OVER_TIME:
        return float(np.var(values))
    if op == Op.QUANTILE_OVER_TIME:
        return float(np.quantile(values, param))
    if op == Op.FIRST_OVER_TIME:
        return values[0]
    if op == Op.LAST_OVER_TIME:
        return values[-1]
    increase = values[-1] - values[0]
    increase += sum(p for p, c in itertools.pairwise(values) if c < p)
    return increase / seconds if len(values) > 1 else 0.0


@pytest.mark.parametrize(
    "op",
    [
        Op.SUM_OVER_TIME,
        Op.AVG_OVER_TIME,
        Op.MIN_OVER_TIME,
        Op.MAX_OVER_TIME,
        Op.STDVAR_OVER_TIME,
        Op.QUANTILE_OVER_TIME,
        Op.FIRST_OVER_TIME,
        Op.LAST_OVER_TIME,
        Op.RATE_COUNTER,
    ],
)
def test_vectorised_windows_match_a_per_window_computation(op: ast.RangeOp) -> None:
    # Overlapping windows (range > step), some empty, with ties and negative values.
    rand = np.random.default_rng(7)
    times = np.sort(rand.choice(np.arange(1, 400), size=150, replace=False)).astype(float)
    values = np.round(rand.normal(10, 5, size=150), 3)
    source = FakeSource({"a": [series(A, list(zip(times, values, strict=True)))]})
    result = points(run(rng(op, 37, param=0.3), source, 0, 420, 9))[L(app="a")]
    expected = []
    for step in range(0, 421, 9):
        inside = [v for t, v in zip(times, values, strict=True) if step - 37 < t <= step]
        if inside:
            expected.append((float(step), _naive(op, inside, 0.3, 37.0)))
    assert [t for t, _ in result] == [t for t, _ in expected]
    assert [v for _, v in result] == pytest.approx([v for _, v in expected], rel=1e-9)


# ------------------------------------------------------------------ vector aggregations

GAUGES = FakeSource(
    {
        "g": [
            series({"app": "a", "host": "h1"}, [(10, 1.0)]),
            series({"app": "a", "host": "h2"}, [(10, 2.0)]),
            series({"app": "b", "host": "h1"}, [(10, 5.0)]),
            series({"app": "b", "host": "h3"}, [(10, 8.0)]),
        ]
    }
)


def agg(
    op: ast.VectorOp, *labels: str, without: bool = False, param: float | None = None
) -> ast.VectorAggregation:
    grouping = ast.Grouping(labels, without) if labels or without else None
    return ast.VectorAggregation(op, gauge(), grouping, param)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (Vo.SUM, {L(app="a"): 3.0, L(app="b"): 13.0}),
        (Vo.AVG, {L(app="a"): 1.5, L(app="b"): 6.5}),
        (Vo.MIN, {L(app="a"): 1.0, L(app="b"): 5.0}),
        (Vo.MAX, {L(app="a"): 2.0, L(app="b"): 8.0}),
        (Vo.COUNT, {L(app="a"): 2.0, L(app="b"): 2.0}),
        (Vo.STDVAR, {L(app="a"): 0.25, L(app="b"): 2.25}),
        (Vo.STDDEV, {L(app="a"): 0.5, L(app="b"): 1.5}),
    ],
)
def test_aggregations_by_label(op: ast.VectorOp, expected: dict[object, float]) -> None:
    result = points(run(agg(op, "app"), GAUGES, 10))
    assert {k: v[0][1] for k, v in result.items()} == pytest.approx(expected)


def test_aggregation_without_labels_and_without_grouping() -> None:
    assert points(run(agg(Vo.SUM, "app", without=True), GAUGES, 10)) == {
        L(host="h1"): [(10, 6.0)],
        L(host="h2"): [(10, 2.0)],
        L(host="h3"): [(10, 8.0)],
    }
    assert points(run(agg(Vo.SUM), GAUGES, 10)) == {(): [(10, 16.0)]}
    assert points(run(agg(Vo.COUNT, without=True), GAUGES, 10)) == {
        L(app="a", host="h1"): [(10, 1.0)],
        L(app="a", host="h2"): [(10, 1.0)],
        L(app="b", host="h1"): [(10, 1.0)],
        L(app="b", host="h3"): [(10, 1.0)],
    }


def test_series_without_a_value_at_a_step_take_no_part() -> None:
    source = FakeSource(
        {
            "g": [
                series({"app": "a", "x": "1"}, [(10, 1.0), (20, 4.0)]),
                series({"app": "a", "x": "2"}, [(10, 3.0)]),
            ]
        }
    )
    expr = ast.VectorAggregation(Vo.AVG, gauge())
    assert points(run(expr, source, 10, 30, 10)) == {(): [(10, 2.0), (20, 4.0)]}
    count = ast.VectorAggregation(Vo.COUNT, gauge())
    assert points(run(count, source, 10, 30, 10)) == {(): [(10, 2.0), (20, 1.0)]}


def test_max_vector_aggregation_replaces_nan() -> None:
    source = FakeSource(
        {
            "g": [
                series({"app": "a", "x": "1"}, [(10, math.nan)]),
                series({"app": "a", "x": "2"}, [(10, -3.0)]),
            ]
        }
    )
    assert single(run(ast.VectorAggregation(Vo.MAX, gauge()), source, 10)) == -3.0
    assert single(run(ast.VectorAggregation(Vo.MIN, gauge()), source, 10)) == -3.0


def test_topk_and_bottomk_keep_the_original_labels() -> None:
    top = points(run(agg(Vo.TOPK, param=2), GAUGES, 10))
    assert top == {L(app="b", host="h1"): [(10, 5.0)], L(app="b", host="h3"): [(10, 8.0)]}
    bottom = points(run(agg(Vo.BOTTOMK, "app", param=1), GAUGES, 10))
    assert bottom == {L(app="a", host="h1"): [(10, 1.0)], L(app="b", host="h1"): [(10, 5.0)]}


def test_topk_ties_go_to_the_smaller_label_set_and_nan_comes_last() -> None:
    source = FakeSource(
        {
            "g": [
                series({"app": "z"}, [(10, 3.0)]),
                series({"app": "n"}, [(10, math.nan)]),
                series({"app": "b"}, [(10, 3.0)]),
                series({"app": "c"}, [(10, 1.0)]),
            ]
        }
    )
    top = ast.VectorAggregation(Vo.TOPK, gauge(), None, 1)
    assert points(run(top, source, 10)) == {L(app="b"): [(10, 3.0)]}
    bottom = ast.VectorAggregation(Vo.BOTTOMK, gauge(), None, 3)
    assert set(points(run(bottom, source, 10))) == {L(app="b"), L(app="c"), L(app="z")}


def test_topk_is_chosen_per_step() -> None:
    source = FakeSource(
        {
            "g": [
                series({"app": "a"}, [(10, 1.0), (20, 5.0)]),
                series({"app": "b"}, [(10, 2.0), (20, 3.0)]),
            ]
        }
    )
    result = run(ast.VectorAggregation(Vo.TOPK, gauge(), None, 1), source, 10, 20, 10)
    assert points(result) == {L(app="a"): [(20, 5.0)], L(app="b"): [(10, 2.0)]}


def test_topk_with_k_below_one_is_empty() -> None:
    assert run(agg(Vo.TOPK, param=0), GAUGES, 10).series == []


def test_sort_orders_an_instant_result_by_value() -> None:
    asc = run(ast.VectorAggregation(Vo.SORT, gauge()), GAUGES, 10)
    assert [float(s.values[0]) for s in asc.series] == [1.0, 2.0, 5.0, 8.0]
    desc = run(ast.VectorAggregation(Vo.SORT_DESC, gauge()), GAUGES, 10)
    assert [float(s.values[0]) for s in desc.series] == [8.0, 5.0, 2.0, 1.0]


def test_results_are_sorted_by_labels_otherwise() -> None:
    result = run(ast.VectorAggregation(Vo.SORT_DESC, gauge()), GAUGES, 10, 20, 10)
    assert [s.labels for s in result.series] == [
        {"app": "a", "host": "h1"},
        {"app": "a", "host": "h2"},
        {"app": "b", "host": "h1"},
        {"app": "b", "host": "h3"},
    ]


# ------------------------------------------------------------------ binary operators


def num(v: float) -> ast.NumberLiteral:
    return ast.NumberLiteral(v)


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        (B.ADD, 1, 2, 3.0),
        (B.SUB, 1, 2, -1.0),
        (B.MUL, 3, 4, 12.0),
        (B.DIV, 3, 4, 0.75),
        (B.DIV, 1, 0, math.nan),
        (B.MOD, 7, 3, 1.0),
        (B.MOD, -7, 3, -1.0),
        (B.MOD, 5, 0, math.nan),
        (B.POW, 2, 3, 8.0),
        (B.GT, 3, 2, 1.0),
        (B.LT, 3, 2, 0.0),
        (B.EQ, 2, 2, 1.0),
    ],
)
def test_scalar_folding(op: ast.BinaryOpKind, a: float, b: float, expected: float) -> None:
    result = run(ast.BinaryOp(op, num(a), num(b)), FakeSource({}), 0, 20, 10)
    assert result.is_scalar
    assert result.series[0].labels == {}
    assert [int(t) for t in result.series[0].timestamps] == [0, 10 * S, 20 * S]
    np.testing.assert_array_equal(result.series[0].values, [expected] * 3)


def test_top_level_number_is_a_scalar() -> None:
    result = run(num(4.5), FakeSource({}), 7)
    assert result.is_scalar and points(result) == {(): [(7, 4.5)]}


def test_vector_and_scalar_arithmetic_keeps_labels_and_operand_order() -> None:
    times = run(ast.BinaryOp(B.MUL, gauge(), num(2)), GAUGES, 10)
    assert points(times)[L(app="b", host="h3")] == [(10, 16.0)]
    minus = run(ast.BinaryOp(B.SUB, num(10), gauge()), GAUGES, 10)
    assert points(minus)[L(app="a", host="h2")] == [(10, 8.0)]
    divided = run(ast.BinaryOp(B.DIV, gauge(), num(0)), GAUGES, 10)
    assert all(math.isnan(v[0][1]) for v in points(divided).values())


def test_comparison_with_a_scalar_filters_and_keeps_the_vector_value() -> None:
    kept = points(run(ast.BinaryOp(B.GT, gauge(), num(2)), GAUGES, 10))
    assert kept == {L(app="b", host="h1"): [(10, 5.0)], L(app="b", host="h3"): [(10, 8.0)]}
    # The scalar on the left: still the vector's value survives.
    left = points(run(ast.BinaryOp(B.LT, num(4), gauge()), GAUGES, 10))
    assert left == kept


def test_bool_comparison_gives_zero_or_one() -> None:
    result = points(run(ast.BinaryOp(B.GE, gauge(), num(2), return_bool=True), GAUGES, 10))
    assert {k: v[0][1] for k, v in result.items()} == {
        L(app="a", host="h1"): 0.0,
        L(app="a", host="h2"): 1.0,
        L(app="b", host="h1"): 1.0,
        L(app="b", host="h3"): 1.0,
    }


LEFT = FakeSource(
    {
        "l": [
            series({"app": "a", "host": "h1"}, [(10, 6.0)]),
            series({"app": "a", "host": "h2"}, [(10, 9.0)]),
            series({"app": "b", "host": "h1"}, [(10, 4.0)]),
        ],
        "r": [
            series({"app": "a", "host": "h1"}, [(10, 2.0)]),
            series({"app": "b", "host": "h9"}, [(10, 0.0)]),
        ],
        "t": [
            series({"app": "a", "team": "red"}, [(10, 3.0)]),
            series({"app": "b", "team": "blue"}, [(10, 2.0)]),
        ],
    }
)


def lhs() -> ast.RangeAggregation:
    return gauge("l")


def binop(
    op: ast.BinaryOpKind,
    right: str,
    matching: ast.VectorMatching | None = None,
    return_bool: bool = False,
    left: ast.MetricExpr | None = None,
) -> ast.BinaryOp:
    return ast.BinaryOp(op, left or lhs(), gauge(right), return_bool, matching)


def test_one_to_one_matches_on_all_labels() -> None:
    assert points(run(binop(B.DIV, "r"), LEFT, 10)) == {L(app="a", host="h1"): [(10, 3.0)]}


def test_on_keeps_only_the_matching_labels() -> None:
    src = FakeSource({"l": LEFT.data["l"][:1] + LEFT.data["l"][2:], "t": LEFT.data["t"]})
    result = run(binop(B.ADD, "t", ast.VectorMatching(True, ("app",))), src, 10)
    assert points(result) == {L(app="a"): [(10, 9.0)], L(app="b"): [(10, 6.0)]}


def test_ignoring_drops_the_ignored_labels() -> None:
    src = FakeSource({"l": LEFT.data["l"][2:], "r": LEFT.data["r"]})
    result = run(binop(B.SUB, "r", ast.VectorMatching(False, ("host",))), src, 10)
    assert points(result) == {L(app="b"): [(10, 4.0)]}


def test_division_by_zero_between_vectors_is_nan() -> None:
    src = FakeSource({"l": LEFT.data["l"][2:], "r": LEFT.data["r"]})
    result = points(run(binop(B.DIV, "r", ast.VectorMatching(True, ("app",))), src, 10))
    assert math.isnan(result[L(app="b")][0][1])


def test_group_left_copies_labels_from_the_one_side() -> None:
    matching = ast.VectorMatching(True, ("app",), "left", ("team",))
    result = run(binop(B.MUL, "t", matching), LEFT, 10)
    assert points(result) == {
        L(app="a", host="h1", team="red"): [(10, 18.0)],
        L(app="a", host="h2", team="red"): [(10, 27.0)],
        L(app="b", host="h1", team="blue"): [(10, 8.0)],
    }


def test_group_right_keeps_the_operand_order() -> None:
    matching = ast.VectorMatching(True, ("app",), "right", ("team",))
    result = run(ast.BinaryOp(B.DIV, gauge("t"), lhs(), False, matching), LEFT, 10)
    assert points(result) == {
        L(app="a", host="h1", team="red"): [(10, 0.5)],
        L(app="a", host="h2", team="red"): [(10, 3 / 9)],
        L(app="b", host="h1", team="blue"): [(10, 0.5)],
    }


def test_many_to_one_without_group_modifier_is_an_error() -> None:
    with pytest.raises(QueryExecutionError, match="many-to-one matching must be explicit"):
        run(binop(B.ADD, "t", ast.VectorMatching(True, ("app",))), LEFT, 10)


def test_duplicates_on_the_one_side_are_an_error() -> None:
    matching = ast.VectorMatching(True, ("host",), "left")
    with pytest.raises(QueryExecutionError, match="duplicate series on the right hand-side"):
        run(ast.BinaryOp(B.ADD, gauge("r"), lhs(), False, matching), LEFT, 10)


def test_vector_comparison_filters_with_the_left_value_or_gives_bool() -> None:
    matching = ast.VectorMatching(True, ("app",), "left")
    kept = run(binop(B.GT, "t", matching), LEFT, 10)
    assert points(kept) == {
        L(app="a", host="h1"): [(10, 6.0)],
        L(app="a", host="h2"): [(10, 9.0)],
        L(app="b", host="h1"): [(10, 4.0)],
    }
    src = FakeSource({"l": LEFT.data["l"], "r": LEFT.data["r"]})
    flags = run(binop(B.LT, "r", return_bool=True), src, 10)
    assert points(flags) == {L(app="a", host="h1"): [(10, 0.0)]}


def test_and_or_unless() -> None:
    on_app = ast.VectorMatching(True, ("app",))
    src = FakeSource({"l": LEFT.data["l"], "r": LEFT.data["r"][:1]})
    both = points(run(binop(B.AND, "r", on_app), src, 10))
    assert set(both) == {L(app="a", host="h1"), L(app="a", host="h2")}
    unless = points(run(binop(B.UNLESS, "r", on_app), src, 10))
    assert unless == {L(app="b", host="h1"): [(10, 4.0)]}
    either = points(
        run(binop(B.OR, "r"), FakeSource({"l": LEFT.data["l"][2:], "r": LEFT.data["r"]}), 10)
    )
    assert either == {
        L(app="a", host="h1"): [(10, 2.0)],
        L(app="b", host="h1"): [(10, 4.0)],
        L(app="b", host="h9"): [(10, 0.0)],
    }


def test_or_adds_right_series_only_where_the_left_has_no_match() -> None:
    src = FakeSource(
        {
            "l": [series({"app": "a"}, [(10, 1.0)])],
            "r": [series({"app": "a"}, [(10, 7.0), (20, 8.0)])],
        }
    )
    assert points(run(binop(B.OR, "r"), src, 10, 20, 10)) == {L(app="a"): [(10, 1.0), (20, 8.0)]}


def test_vector_literal_is_an_unlabelled_series_at_every_step() -> None:
    result = run(ast.BinaryOp(B.ADD, ast.VectorLiteral(2), num(1)), FakeSource({}), 0, 10, 5)
    assert not result.is_scalar
    assert points(result) == {(): [(0, 3.0), (5, 3.0), (10, 3.0)]}
    summed = run(
        ast.BinaryOp(B.ADD, ast.VectorAggregation(Vo.SUM, gauge()), ast.VectorLiteral(1)),
        GAUGES,
        10,
    )
    assert points(summed) == {(): [(10, 17.0)]}


def test_set_operator_between_scalars_is_rejected() -> None:
    with pytest.raises(QueryError, match="set operator"):
        run(ast.BinaryOp(B.AND, num(1), num(2)), FakeSource({}), 0)


# ------------------------------------------------------------------ label_replace, limits, steps


def test_label_replace_sets_the_destination_from_groups() -> None:
    expr = ast.LabelReplace(gauge(), "cluster", "$1-x", "host", "h(.*)")
    result = points(run(expr, GAUGES, 10))
    assert L(app="a", cluster="1-x", host="h1") in result
    assert len(result) == 4


def test_label_replace_without_match_keeps_labels_and_empty_result_deletes() -> None:
    no_match = points(run(ast.LabelReplace(gauge(), "x", "y", "host", "h"), GAUGES, 10))
    assert L(app="a", host="h1") in no_match
    deleted = points(run(ast.LabelReplace(gauge(), "host", "", "host", "h3"), GAUGES, 10))
    assert deleted[L(app="b")] == [(10, 8.0)]
    assert L(app="b", host="h3") not in deleted


def test_label_replace_collision_is_an_error_and_bad_regex_a_query_error() -> None:
    with pytest.raises(QueryExecutionError, match="same labelset"):
        run(ast.LabelReplace(gauge(), "host", "", "app", "a"), GAUGES, 10)
    with pytest.raises(QueryError, match="invalid regex"):
        run(ast.LabelReplace(gauge(), "x", "", "app", "("), GAUGES, 10)


def test_max_series_applies_to_final_and_intermediate_results() -> None:
    with pytest.raises(QueryExecutionError, match=r"maximum of series \(3\) reached"):
        run(gauge(), GAUGES, 10, max_series=3)
    with pytest.raises(QueryExecutionError, match="maximum of series"):
        run(ast.VectorAggregation(Vo.SUM, gauge()), GAUGES, 10, max_series=3)
    assert len(run(gauge(), GAUGES, 10, max_series=4).series) == 4


def test_series_without_points_are_dropped() -> None:
    result = run(ast.BinaryOp(B.GT, gauge(), num(100)), GAUGES, 10)
    assert result.series == []


def test_step_rules() -> None:
    with pytest.raises(QueryError, match="step"):
        run(gauge(), GAUGES, 0, 10, 0)
    with pytest.raises(QueryError, match="end timestamp"):
        run(gauge(), GAUGES, 10, 0, 1)
    # The last step is the last one not after end.
    result = run(num(1), FakeSource({}), 0, 25, 10)
    assert [int(t) // S for t in result.series[0].timestamps] == [0, 10, 20]


TRACED = FakeSource(
    {
        "a": [
            lines({"app": "a", "level": "info", "trace_id": str(i)}, [float(i + 1)])
            for i in range(5)
        ]
        + [lines({"app": "a", "level": "error", "trace_id": "9"}, [1, 2])]
    }
)


def test_sum_groups_additive_range_aggregations_at_the_source() -> None:
    # Six series (one per trace) would exceed the limit of 2; `sum by` groups them first.
    expr = ast.VectorAggregation(Vo.SUM, rng(Op.COUNT_OVER_TIME, 10), ast.Grouping(("level",)))
    result = run(expr, TRACED, 10, max_series=2)
    assert points(result) == {L(level="error"): [(10, 2.0)], L(level="info"): [(10, 5.0)]}
    rate = ast.VectorAggregation(Vo.SUM, rng(Op.RATE, 10))
    assert points(run(rate, TRACED, 10, max_series=1)) == {(): [(10, 0.7)]}


def test_other_aggregations_see_every_series() -> None:
    expr = ast.VectorAggregation(Vo.COUNT, rng(Op.COUNT_OVER_TIME, 10), ast.Grouping(("level",)))
    with pytest.raises(QueryExecutionError, match=r"maximum of series \(2\)"):
        run(expr, TRACED, 10, max_series=2)
    relaxed = evaluate(expr, 10 * S, 10 * S, 0, TRACED, max_series=2, max_intermediate_series=10)
    assert points(relaxed) == {L(level="error"): [(10, 1.0)], L(level="info"): [(10, 5.0)]}


def test_a_looser_intermediate_limit_does_not_loosen_the_final_one() -> None:
    expr = rng(Op.COUNT_OVER_TIME, 10)
    with pytest.raises(QueryExecutionError, match=r"maximum of series \(2\)"):
        evaluate(expr, 10 * S, 10 * S, 0, TRACED, max_series=2, max_intermediate_series=100)
    # And a stricter one applies only below the top.
    result = evaluate(expr, 10 * S, 10 * S, 0, TRACED, max_series=6, max_intermediate_series=1)
    assert len(result.series) == 6
