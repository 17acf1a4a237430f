"""Trace/span ids found in log lines and metadata; levels found in labels, fields and words."""

from __future__ import annotations

import pickle

import pytest

from observatory.errors import ConfigError
from observatory.receivers.log_enrichment import (
    IdExtractor,
    default_extractor,
    detect_level,
    hex_id,
    level_value,
    severity_of,
    severity_or_text,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
NO_TRACE = bytes(16)
NO_SPAN = bytes(8)


@pytest.mark.parametrize(
    "line",
    [
        f'{{"msg":"done","trace_id":"{TRACE}","span_id":"{SPAN}"}}',
        f'{{"traceId": "{TRACE}", "spanId": "{SPAN}"}}',
        f"level=info msg=done trace_id={TRACE} span_id={SPAN}",
        f'traceID="{TRACE}" spanID="{SPAN}"',
        f"otelTraceID={TRACE} otelSpanID={SPAN} otelServiceName=api",
        f"x-trace-id={TRACE.upper()} span-id={SPAN.upper()}",
    ],
)
def test_default_patterns_find_both_ids(line: str) -> None:
    assert default_extractor().ids(line, []) == (bytes.fromhex(TRACE), bytes.fromhex(SPAN))


@pytest.mark.parametrize(
    "line",
    [
        "no ids here",
        "trace_id=abc123",  # too short
        f"trace_id={TRACE}ff",  # too long: 34 digits
        "trace_id=" + "0" * 32,  # all zeros is no id
        "trace_id=" + "z" * 32,  # not hex
        f'"parent_trace_id":"{TRACE}"',  # a JSON key is matched whole
    ],
)
def test_invalid_or_absent_trace_ids_are_zero(line: str) -> None:
    assert default_extractor().ids(line, []) == (NO_TRACE, NO_SPAN)


def test_a_span_id_alone_is_not_kept() -> None:
    assert default_extractor().ids(f"span_id={SPAN}", []) == (NO_TRACE, NO_SPAN)


def test_first_valid_match_wins() -> None:
    line = f"trace_id=nothex trace_id={TRACE}"
    assert default_extractor().ids(line, [])[0] == bytes.fromhex(TRACE)


def test_metadata_keys_win_over_the_line() -> None:
    other = "1" * 32
    metadata = [("traceID", TRACE), ("span_id", SPAN)]
    trace, span = default_extractor().ids(f"trace_id={other}", metadata)
    assert (trace.hex(), span.hex()) == (TRACE, SPAN)
    # Invalid metadata values fall back to the line.
    trace, _ = default_extractor().ids(f"trace_id={other}", [("trace_id", "xyz")])
    assert trace.hex() == other


def test_configured_patterns_replace_the_defaults() -> None:
    extractor = IdExtractor.compile([r"tid:([0-9a-f]+)"], [r"sid:([0-9a-f]+)"])
    assert extractor.ids(f"tid:{TRACE} sid:{SPAN}", []) == (
        bytes.fromhex(TRACE),
        bytes.fromhex(SPAN),
    )
    assert extractor.ids(f"trace_id={TRACE}", [])[0] == NO_TRACE


def test_bad_patterns_are_config_errors_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"logs_trace_id_patterns\[1\].*invalid regex"):
        IdExtractor.compile(["(a)", "(unclosed"], [])
    with pytest.raises(ConfigError, match=r"logs_span_id_patterns\[0\].*exactly one capture"):
        IdExtractor.compile([], ["no group"])


def test_extractor_pickles_for_worker_processes() -> None:
    extractor = pickle.loads(pickle.dumps(default_extractor()))
    assert extractor.ids(f"trace_id={TRACE}", [])[0] == bytes.fromhex(TRACE)


def test_hex_id() -> None:
    assert hex_id(SPAN, 8) == bytes.fromhex(SPAN)
    assert hex_id(SPAN, 16) is None
    assert hex_id("g" * 16, 8) is None


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("trace", (1, "trace")),
        ("DEBUG", (5, "debug")),
        ("dbg", (5, "debug")),
        ("Info", (9, "info")),
        ("notice", (9, "info")),
        ("WARNING", (13, "warn")),
        ("wrn", (13, "warn")),
        ("err", (17, "error")),
        ("Error", (17, "error")),
        ("fatal", (21, "fatal")),
        ("panic", (21, "fatal")),
        ("CRITICAL", (21, "critical")),
    ],
)
def test_level_words_map_to_otel_severity_numbers(word: str, severity: tuple[int, str]) -> None:
    assert severity_of(word) == severity


def test_unknown_level_words_keep_their_text() -> None:
    assert severity_of("verbose") is None
    assert severity_or_text("verbose") == (0, "verbose")
    assert severity_or_text(" warn ") == (13, "warn")


def test_level_value_reads_level_keys_in_any_case() -> None:
    assert level_value([("app", "x"), ("LEVEL", "warn")]) == "warn"
    assert level_value([("Severity", "error")]) == "error"
    assert level_value([("lvl", "")]) is None
    assert level_value([("levels", "x")]) is None


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ('{"ts":"2024-05-01","level":"error","msg":"boom"}', (17, "error")),
        ('{"Level": "Warning", "msg": "slow"}', (13, "warn")),
        ('{"severity":"DEBUG"}', (5, "debug")),
        ("ts=2024 caller=main.go level=info msg=started", (9, "info")),
        ('level="warn" msg="disk at 91%"', (13, "warn")),
        ("lvl=dbg msg=x", (5, "debug")),
        ("2024-05-01 12:00:00 ERROR connection refused", (17, "error")),
        ("[WARN] retrying", (13, "warn")),
        ("INFO: server started, no error", (9, "info")),
        ("panic: runtime error: index out of range", (21, "fatal")),
        ("an error occurred while reading", (17, "error")),
        ("Fatal: cannot open config", (21, "fatal")),
        ("debug: cache miss", (5, "debug")),
        ("err: timeout", (17, "error")),
        ("CRITICAL disk full", (21, "critical")),
        # A level field the words do not know falls back to the words of the line.
        ("level=verbose ERROR x", (17, "error")),
    ],
)
def test_detect_level(line: str, severity: tuple[int, str]) -> None:
    assert detect_level(line) == severity


@pytest.mark.parametrize(
    "line",
    [
        "GET /api 200 12ms",
        "printing the stack trace of the request",
        "built with debug symbols",
        "error_count=0 errors_total=3",
        "information retrieval finished",
        "",
    ],
)
def test_lines_without_a_level(line: str) -> None:
    assert detect_level(line) == (0, "")
