"""Prometheus's series notation, as promqltest scripts and promtool's unit tests write it."""

from __future__ import annotations

import math

import pytest

from observatory.query.promql.series_notation import (
    HISTOGRAM,
    OMITTED,
    STALE,
    expand_token,
    parse_duration,
    parse_metric,
    parse_series,
    parse_values,
)


@pytest.mark.parametrize(
    ("token", "values"),
    [
        ("-2+4x3", [-2, 2, 6, 10]),  # the examples of promtool's documentation
        ("1-2x4", [1, -1, -3, -5, -7]),
        ("7x2", [7, 7, 7]),
        ("0x10", [0.0] * 11),  # a repetition, not hexadecimal
        ("_", [OMITTED]),
        ("_x3", [OMITTED] * 3),
        ("stale", [STALE]),
        ("1e3", [1000]),
        ("0.5+0.25x2", [0.5, 0.75, 1.0]),
    ],
)
def test_expanding_notation(token: str, values: list[object]) -> None:
    assert expand_token(token) == values


def test_special_values_and_histograms() -> None:
    inf, ninf, nan = parse_values("Inf -Inf NaN")
    assert (inf, ninf) == (math.inf, -math.inf) and isinstance(nan, float) and math.isnan(nan)
    assert parse_values("{{schema:0 sum:1 count:1}}x2") == [HISTOGRAM] * 3


def test_series_with_labels() -> None:
    labels, values = parse_series("http_requests_total{job='api', code=`500`} 1 2")
    assert labels == {"__name__": "http_requests_total", "job": "api", "code": "500"}
    assert values == [1, 2]


def test_metric_forms() -> None:
    assert parse_metric('{__name__="up", job="a"}') == ({"__name__": "up", "job": "a"}, "")
    assert parse_metric('{"http.requests", le="+Inf"}')[0] == {
        "__name__": "http.requests",
        "le": "+Inf",
    }
    assert parse_metric('up{empty="", tab="a\\tb"} 1') == ({"__name__": "up", "tab": "a\tb"}, " 1")
    assert parse_metric("{}") == ({}, "")
    assert parse_metric("") == ({}, "")


@pytest.mark.parametrize(
    "text",
    ['up{job="a"', 'up{job="a}', "up{job=a}", 'up{job=~"a"}', 'up{1="a"}', 'up{x="\\u12"}'],
)
def test_broken_label_sets_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_metric(text)


def test_broken_values_raise_value_error() -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_values("1 2 three")


def test_durations_as_prometheus_parses_them() -> None:
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("10s53ms") == 10_053
    assert parse_duration("1y") == 365 * 86_400_000
    assert parse_duration("0") == 0
    for bad in ("", "1m1h", "1.5h", "-1m", "5"):
        with pytest.raises(ValueError):
            parse_duration(bad)
