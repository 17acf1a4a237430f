from __future__ import annotations

import math

import pytest

from observatory.query.promql.floats import (
    format_f,
    format_g,
    format_openmetrics,
    format_sample,
    parse_go_float,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (-3.25, "-3.25"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-07"),
        (1e-6, "0.000001"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_sample_format_matches_prometheus_json(value: float, text: str) -> None:
    assert format_sample(value) == text


def test_go_formats() -> None:
    assert format_f(1e21) == "1000000000000000000000"
    assert format_g(1e6) == "1e+06"
    assert format_g(100000.0) == "100000"
    assert format_g(1e-5) == "1e-05"
    assert format_openmetrics(1.0) == "1.0"
    assert format_openmetrics(0.25) == "0.25"


@pytest.mark.parametrize(
    ("text", "value"),
    [("+Inf", math.inf), ("1e0", 1.0), (".2", 0.2), ("-0.1", -0.1), ("0x1p-2", 0.25)],
)
def test_parse_go_float(text: str, value: float) -> None:
    assert parse_go_float(text) == value


@pytest.mark.parametrize("text", ["", " 1", "1_0", "Hello World", "1e"])
def test_parse_go_float_rejects(text: str) -> None:
    assert parse_go_float(text) is None
