"""The conformance runner's reading of Prometheus's test-script format."""

from __future__ import annotations

from tests.conformance.promql_script import (
    HISTOGRAM,
    OMITTED,
    STALE,
    Clear,
    Eval,
    Load,
    almost_equal,
    parse_duration,
    parse_script,
    parse_series,
    run_script,
)


def test_expanding_notation() -> None:
    _, values = parse_series('m{a="b"} 1+2x3 _ _x2 stale 5x2 10-3x1 Inf -Inf')
    inf = float("inf")
    assert values == [1, 3, 5, 7, OMITTED, OMITTED, OMITTED, STALE, 5, 5, 5, 10, 7, inf, -inf]
    _, tail = parse_series("m Inf -Inf NaN")
    assert tail[0] == float("inf") and tail[1] == float("-inf") and tail[2] != tail[2]
    _, hist = parse_series("h {{schema:0 sum:1 count:1}}x2 {{sum:1 count:1}}+{{sum:2 count:2}}x1")
    assert hist == [HISTOGRAM] * 5


def test_labels_and_durations() -> None:
    labels, _ = parse_series('{__name__="x", le="+Inf", t="a, b"} 1')
    assert labels == {"__name__": "x", "le": "+Inf", "t": "a, b"}
    assert parse_duration("1m30s") == 90_000
    assert parse_duration("10s53ms") == 10_053
    assert parse_duration("0") == 0


def test_commands() -> None:
    script = """
load 5m
  m{a="1"} 0+10x2
  m{a="1"} 7

clear

eval instant at 10m m
  expect ordered
  m{a="1"} 20

eval range from 0 to 10m step 5m m
  m{a="1"} 0 _ 20

eval_fail instant at 0 m
  expected_fail_message boom
"""
    commands = parse_script(script)
    assert isinstance(commands[0], Load) and isinstance(commands[1], Clear)
    instant, ranged, failing = commands[2:]
    assert isinstance(instant, Eval) and instant.has("ordered") and instant.start_ms == 600_000
    assert isinstance(ranged, Eval) and ranged.is_range and ranged.step_ms == 300_000
    assert isinstance(failing, Eval) and failing.expects[-1].message == "boom"


def test_runner_counts_passes_failures_and_skips() -> None:
    script = """
load 1m
  m 1 2 3
  h {{sum:1 count:1}}

eval instant at 2m m
  m 3

eval instant at 2m m
  m 4

eval instant at 0 h

eval instant at 0 sum(
  expect fail
"""
    report = run_script(script, "t")
    assert (report.passed, report.failed, report.skipped) == (2, 1, 1)


def test_almost_equal() -> None:
    assert almost_equal(1.0, 1.0 + 1e-9)
    assert not almost_equal(1.0, 1.001)
    assert almost_equal(float("nan"), float("nan"))
    assert not almost_equal(0.0, 1e-300)
