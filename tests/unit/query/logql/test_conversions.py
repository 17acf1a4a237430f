"""Go's readings of label values (ParseFloat, ParseDuration, humanize.ParseBytes) and `%v`."""

from __future__ import annotations

import math

import pytest

from observatory.query.logql.conversions import (
    format_float,
    parse_bytes,
    parse_duration_ns,
    parse_float,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1.0), ("-2.5", -2.5), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("+Inf", math.inf)],
)
def test_parse_float(text: str, expected: float) -> None:
    assert parse_float(text) == expected


@pytest.mark.parametrize("text", ["", " 1", "1_000", "abc", "0x10", "1e400"])
def test_parse_float_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"strconv\.ParseFloat"):
        parse_float(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("250ms", 250_000_000),
        ("1.5h", 5_400_000_000_000),
        ("2h45m", 9_900_000_000_000),
        ("1m30s", 90_000_000_000),
        ("-1.5s", -1_500_000_000),
        ("0.10ms", 100_000),
        ("1us", 1_000),
        ("1\u00b5s", 1_000),
        ("3ns", 3),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("5", 'time: missing unit in duration "5"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        (".s", 'time: invalid duration ".s"'),
        ("1h ", 'time: unknown unit "h " in duration "1h "'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration_ns(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("20B", 20),
        ("42MB", 42_000_000),
        ("1.5KiB", 1536),
        ("1 kb", 1000),
        ("1,024", 1024),
        ("2GiB", 2 * 1024**3),
        ("1k", 1000),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["-1KB", "12 parsecs", "MB"])
def test_parse_bytes_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.0, "3"),
        (1.25, "1.25"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.nan, "NaN"),
        (-math.inf, "-Inf"),
    ],
)
def test_format_float_like_go(value: float, expected: str) -> None:
    assert format_float(value) == expected
