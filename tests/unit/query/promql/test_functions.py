from __future__ import annotations

import math

import pytest

from observatory.errors import QueryExecutionError

from .helpers import MINUTE, engine_with, values, vector


def test_rate_extrapolates_to_window_edges() -> None:
    engine, _ = engine_with({"c_total": [0, 10, 20, 30, 40, 50, 60]})
    # Samples cover 4 of the 5 minutes; they are 1 minute apart, so the rate is extrapolated.
    assert vector(engine.instant("rate(c_total[5m])", 6 * MINUTE)) == {(): pytest.approx(1 / 6)}
    assert vector(engine.instant("increase(c_total[5m])", 6 * MINUTE)) == {(): pytest.approx(50)}


def test_rate_does_not_extrapolate_below_zero_and_handles_resets() -> None:
    engine, _ = engine_with({"c_total": [1, 11, 21, 5, 15]})
    # Samples 11, 21, 5, 15 in (0, 4m]: 10 up to the reset, 5 from zero, then 10: 25, seen over
    # 3 of the 4 minutes and extrapolated to the window start.
    increase = vector(engine.instant("increase(c_total[4m])", 4 * MINUTE))[()]
    assert increase == pytest.approx(25 * 4 / 3)
    assert vector(engine.instant("resets(c_total[5m])", 4 * MINUTE)) == {(): 1.0}
    assert vector(engine.instant("changes(c_total[5m])", 4 * MINUTE)) == {(): 4.0}


def test_irate_and_idelta() -> None:
    engine, _ = engine_with({"c_total": [0, 60, 180, 30]})
    assert vector(engine.instant("irate(c_total[5m])", 2 * MINUTE)) == {(): 2.0}
    assert vector(engine.instant("irate(c_total[5m])", 3 * MINUTE)) == {(): 0.5}  # reset
    assert vector(engine.instant("idelta(c_total[5m])", 3 * MINUTE)) == {(): -150.0}


def test_deriv_and_predict_linear() -> None:
    engine, _ = engine_with({"g": [0, 60, 120, 180]})
    assert vector(engine.instant("deriv(g[5m])", 3 * MINUTE)) == {(): pytest.approx(1.0)}
    assert vector(engine.instant("predict_linear(g[5m], 60)", 3 * MINUTE)) == {
        (): pytest.approx(240.0)
    }


def test_over_time_family() -> None:
    engine, _ = engine_with({"g": [3, 1, 4, 1, 5]})
    at = 4 * MINUTE

    def one(query: str) -> float:
        return vector(engine.instant(query, at))[()]

    assert one("sum_over_time(g[5m])") == 14
    assert one("avg_over_time(g[5m])") == pytest.approx(2.8)
    assert one("min_over_time(g[5m])") == 1
    assert one("max_over_time(g[5m])") == 5
    assert one("count_over_time(g[5m])") == 5
    assert one("stdvar_over_time(g[5m])") == pytest.approx(2.56)
    assert one("quantile_over_time(0.5, g[5m])") == 3
    assert one("mad_over_time(g[5m])") == 2  # median 3; deviations 0 1 2 2 2
    assert one("present_over_time(g[5m])") == 1
    assert vector(engine.instant("last_over_time(g[5m])", at)) == {(("__name__", "g"),): 5.0}
    assert one("ts_of_max_over_time(g[5m])") == 240
    assert one("ts_of_min_over_time(g[5m])") == 180  # the last of equal minima


def test_kahan_summation_keeps_small_values() -> None:
    engine, _ = engine_with({"g": [1, 1e100, 1, -1e100]})
    assert vector(engine.instant("sum_over_time(g[5m])", 3 * MINUTE)) == {(): 2.0}


def test_absent_labels_come_from_equality_matchers() -> None:
    engine, _ = engine_with({"up": [1]})
    result = engine.instant('absent(nope{job="a", instance=~"x", env="p"})', 0)
    assert vector(result) == {(("env", "p"), ("job", "a")): 1.0}
    assert engine.instant("absent(up)", 0).data == []
    assert vector(engine.instant("absent_over_time(nope[1m])", 0)) == {(): 1.0}


def test_label_replace_and_join() -> None:
    engine, _ = engine_with({'m{src="value-10",other="x"}': [1]})
    result = engine.instant('label_replace(m, "dst", "d-$1", "src", "value-(.*)")', 0)
    assert list(result.data[0][0].items()) == [
        ("__name__", "m"),
        ("dst", "d-10"),
        ("other", "x"),
        ("src", "value-10"),
    ]
    # The regex must match the whole value.
    assert "dst" not in engine.instant('label_replace(m, "dst", "$1", "src", "10")', 0).data[0][0]
    joined = engine.instant('label_join(m, "j", "-", "src", "missing", "other")', 0)
    assert joined.data[0][0]["j"] == "value-10--x"
    with pytest.raises(QueryExecutionError):
        engine.instant('label_replace(m, "dst", "", "src", "(")', 0)


def test_sort_functions_order_instant_results() -> None:
    engine, _ = engine_with({'m{i="10"}': [2], 'm{i="9"}': [math.nan], 'm{i="1"}': [3]})
    order = [lbl["i"] for lbl, _, _ in engine.instant("sort(m)", 0).data]
    assert order == ["10", "1", "9"]  # NaN last
    order = [lbl["i"] for lbl, _, _ in engine.instant("sort_desc(m)", 0).data]
    assert order == ["1", "10", "9"]
    order = [lbl["i"] for lbl, _, _ in engine.instant('sort_by_label(m, "i")', 0).data]
    assert order == ["1", "9", "10"]  # natural order


def test_date_functions() -> None:
    engine, _ = engine_with({})
    at = 1136239445  # 2006-01-02 22:04:05 UTC, a Monday
    for func, expected in [
        ("year", 2006),
        ("month", 1),
        ("day_of_month", 2),
        ("day_of_year", 2),
        ("day_of_week", 1),
        ("hour", 22),
        ("minute", 4),
        ("days_in_month", 31),
    ]:
        assert vector(engine.instant(f"{func}(vector({at}))", 0)) == {(): expected}, func
    assert vector(engine.instant("year()", 0)) == {(): 1970}


def test_clamp_round_and_math() -> None:
    engine, _ = engine_with({'m{k="a"}': [-2.5], 'm{k="b"}': [7.25]})
    assert sorted(vector(engine.instant("clamp(m, -1, 5)", 0)).values()) == [-1, 5]
    assert engine.instant("clamp(m, 5, -1)", 0).data == []
    assert sorted(vector(engine.instant("round(m)", 0)).values()) == [-2, 7]
    assert sorted(vector(engine.instant("round(m, 0.5)", 0)).values()) == [-2.5, 7.5]
    assert sorted(vector(engine.instant("abs(m)", 0)).values()) == [2.5, 7.25]
    assert sorted(vector(engine.instant("sgn(m)", 0)).values()) == [-1, 1]


def test_timestamp_of_a_selector_is_the_sample_time() -> None:
    engine, _ = engine_with({"m": [1, None, None]})
    assert vector(engine.instant("timestamp(m)", 2 * MINUTE)) == {(): 0.0}
    assert vector(engine.instant("timestamp(-m)", 2 * MINUTE)) == {(): 120.0}


def test_histogram_quantile_on_classic_buckets() -> None:
    engine, _ = engine_with(
        {
            'h_bucket{le="1"}': [10],
            'h_bucket{le="2"}': [5],  # not monotonic: treated as 10
            'h_bucket{le="4"}': [30],
            'h_bucket{le="+Inf"}': [40],
        }
    )
    result = engine.instant("histogram_quantile(0.5, h_bucket)", 0)
    assert vector(result) == {(): pytest.approx(2 + 2 * (20 - 10) / 20)}
    assert any("monotonicity" in w for w in result.warnings)
    low = engine.instant("histogram_quantile(0.1, h_bucket)", 0)
    assert vector(low) == {(): pytest.approx(0.4)}
    assert vector(engine.instant("histogram_quantile(0.99, h_bucket)", 0)) == {(): 4.0}
    fraction = engine.instant("histogram_fraction(0, 1, h_bucket)", 0)
    assert vector(fraction) == {(): pytest.approx(0.25)}


def test_histogram_quantile_needs_le_and_inf_bucket() -> None:
    engine, _ = engine_with({'h_bucket{le="1"}': [1], 'h_bucket{le="2"}': [2], "bad": [1]})
    assert math.isnan(vector(engine.instant("histogram_quantile(0.5, h_bucket)", 0))[()])
    result = engine.instant("histogram_quantile(0.5, bad)", 0)
    assert result.data == [] and "bucket label" in result.warnings[0]


def test_scalar_vector_time() -> None:
    engine, _ = engine_with({"m": [4], "n": [1, 2]})
    assert engine.instant("scalar(m)", 0).data == (0, 4.0)
    assert math.isnan(engine.instant('scalar({__name__=~"m|n"})', 0).data[1])
    assert values(engine.range("vector(time())", 0, MINUTE, MINUTE)) == {(): [0.0, 60.0]}
