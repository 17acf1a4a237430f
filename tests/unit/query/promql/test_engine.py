from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from observatory.errors import QueryError, QueryExecutionError, QueryTimeoutError
from observatory.query.promql import (
    InMemorySource,
    LabelMatcher,
    NativeHistogramError,
    PromqlEngine,
    QueryLimits,
    RawSeries,
)
from observatory.query.promql.source import STALE_NAN

from .helpers import MINUTE, engine_with, values, vector


def test_instant_selector_uses_latest_sample_within_lookback() -> None:
    engine, _ = engine_with({'m{a="1"}': [1, 2, None, None]})
    assert vector(engine.instant("m", 2 * MINUTE)) == {(("__name__", "m"), ("a", "1")): 2.0}
    # A sample exactly one lookback ago is already out of reach.
    assert engine.instant("m", MINUTE + 300_000).data == []
    assert vector(engine.instant("m", MINUTE + 299_999)) == {(("__name__", "m"), ("a", "1")): 2.0}


def test_stale_marker_ends_the_series() -> None:
    source = InMemorySource()
    source.add({"__name__": "m"}, [0, MINUTE], [1.0, STALE_NAN])
    engine = PromqlEngine(source)
    assert engine.instant("m", 30_000).data[0][2] == 1.0
    assert engine.instant("m", 90_000).data == []
    # A stale marker is not a sample of a range either.
    assert vector(engine.instant("count_over_time(m[5m])", 90_000)) == {(): 1.0}


def test_offset_at_and_start_end() -> None:
    engine, _ = engine_with({"m": [0, 1, 2, 3, 4, 5]})
    assert engine.instant("m offset 2m", 5 * MINUTE).data[0][2] == 3.0
    assert engine.instant("m @ 60", 5 * MINUTE).data[0][2] == 1.0
    result = engine.range("m @ start()", MINUTE, 3 * MINUTE, MINUTE)
    assert values(result) == {(("__name__", "m"),): [1.0, 1.0, 1.0]}
    result = engine.range("m @ end()", MINUTE, 3 * MINUTE, MINUTE)
    assert values(result) == {(("__name__", "m"),): [3.0, 3.0, 3.0]}


def test_negative_at_is_refused() -> None:
    engine, _ = engine_with({"m": [1]})
    with pytest.raises(QueryError):
        engine.instant("m @ -10", 0)


class CountingSource:
    def __init__(self, inner: InMemorySource) -> None:
        self.inner = inner
        self.calls: list[tuple[int, int]] = []

    def select(
        self, matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int
    ) -> list[RawSeries]:
        self.calls.append((start_ms, end_ms))
        return self.inner.select(matchers, start_ms, end_ms)


def test_range_query_reads_each_selector_once() -> None:
    _, source = engine_with({"c_total": list(range(100))})
    counting = CountingSource(source)
    engine = PromqlEngine(counting)
    result = engine.range("rate(c_total[5m]) + c_total offset 1m", 10 * MINUTE, 60 * MINUTE, MINUTE)
    assert len(result.data[0][1]) == 51
    assert counting.calls == [
        (10 * MINUTE - 300_000 + 1, 60 * MINUTE),
        (9 * MINUTE - 300_000 + 1, 59 * MINUTE),
    ]


def test_subquery_steps_are_aligned() -> None:
    engine, _ = engine_with({"m": [1, 2, 3, 4, 5, 6]}, step_ms=10_000)
    # Inner steps at 20s, 30s, 40s, 50s (multiples of 10s after 50s - 35s).
    result = engine.instant("count_over_time(m[35s:10s])", 50_000)
    assert vector(result) == {(): 4.0}


def test_result_types_and_json() -> None:
    engine, _ = engine_with({'m{a="1"}': [1.5, 2.5]})
    assert engine.instant("1 + 1", MINUTE).to_prometheus_json() == {
        "resultType": "scalar",
        "result": [60.0, "2"],
    }
    assert engine.instant('"hi"', MINUTE).to_prometheus_json() == {
        "resultType": "string",
        "result": [60.0, "hi"],
    }
    assert engine.instant("m", MINUTE).to_prometheus_json() == {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "m", "a": "1"}, "value": [60.0, "2.5"]}],
    }
    assert engine.instant("m[2m]", MINUTE).to_prometheus_json()["result"] == [
        {"metric": {"__name__": "m", "a": "1"}, "values": [[0.0, "1.5"], [60.0, "2.5"]]}
    ]
    assert engine.range("m / 0", 0, MINUTE, MINUTE).to_prometheus_json()["result"] == [
        {"metric": {"a": "1"}, "values": [[0.0, "+Inf"], [60.0, "+Inf"]]}
    ]


def test_scalar_range_query_is_a_matrix() -> None:
    engine, _ = engine_with({})
    result = engine.range("time()", 0, 2 * MINUTE, MINUTE)
    assert result.result_type == "matrix"
    assert values(result) == {(): [0.0, 60.0, 120.0]}


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (0, 60_000, 0, "zero or negative query resolution step"),
        (60_000, 0, 1000, "end timestamp must not be before start time"),
        (0, 11_000_000, 1000, "exceeded maximum resolution of 11,000 points"),
    ],
)
def test_bad_range_parameters(start: int, end: int, step: int, message: str) -> None:
    engine, _ = engine_with({})
    with pytest.raises(QueryError, match=message):
        engine.range("1", start, end, step)


def test_parse_errors_and_wrong_types_are_bad_data() -> None:
    engine, _ = engine_with({})
    with pytest.raises(QueryError, match="parse error"):
        engine.instant("sum(", 0)
    with pytest.raises(QueryError, match='invalid expression type "range vector"'):
        engine.range("m[5m]", 0, MINUTE, MINUTE)


def test_sample_limit() -> None:
    engine, _ = engine_with({"m": list(range(10))}, limits=QueryLimits(max_samples=5))
    with pytest.raises(QueryExecutionError, match="too many samples"):
        engine.instant("sum_over_time(m[10m])", 9 * MINUTE)


def test_timeout() -> None:
    engine, _ = engine_with({"m": [1]}, limits=QueryLimits(timeout_seconds=0.0))
    with pytest.raises(QueryTimeoutError, match="query timed out in expression evaluation"):
        engine.instant("m", 0)


def test_native_histograms_are_refused() -> None:
    engine, source = engine_with({"h": [1]})
    source.add_native_histograms({"__name__": "h"}, [0])
    with pytest.raises(NativeHistogramError) as info:
        engine.instant("histogram_count(h)", 0)
    assert isinstance(info.value, QueryExecutionError)
    # Without native data the native-only functions have nothing to say about floats.
    engine2, _ = engine_with({"h": [1]})
    assert engine2.instant("histogram_count(h)", 0).data == []


def test_same_labelset_after_dropping_names_fails() -> None:
    engine, _ = engine_with({'a{x="1"}': [1], 'b{x="1"}': [2]})
    with pytest.raises(QueryExecutionError, match="same labelset"):
        engine.instant('-{x="1"}', 0)
    # Names kept by last_over_time keep the series apart.
    assert len(engine.instant('last_over_time({x="1"}[1m])', 0).data) == 2


def test_series_without_samples_in_range_are_dropped() -> None:
    engine, _ = engine_with({"m": [1, None, None, None, None, None, None, None]})
    result = engine.range("m", 0, 7 * MINUTE, MINUTE)
    [(_, times, vals)] = result.data
    assert times.tolist() == [0, MINUTE, 2 * MINUTE, 3 * MINUTE, 4 * MINUTE]
    assert np.all(vals == 1.0)


def test_functions_drop_the_name_before_the_next_node_sees_it() -> None:
    engine, _ = engine_with({'a_total{x="1"}': [0, 60], 'b_total{x="2"}': [0, 120]})
    result = engine.instant(
        'label_replace(rate(a_total[5m]), "n", "$1", "__name__", "(.+)")', MINUTE
    )
    assert [lbl for lbl, _, _ in result.data] == [{"x": "1"}]
    grouped = engine.instant('sum by (__name__) (rate({__name__=~".+_total"}[5m]))', MINUTE)
    assert vector(grouped) == {(): pytest.approx(0.2 + 0.4)}  # 60 and 120 over 5m
