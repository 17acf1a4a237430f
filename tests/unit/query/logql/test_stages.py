"""LogPipeline: line filters, parsers, label filters, formatting, drop/keep and unwrap.

Expectations come from Loki's LogQL documentation (log queries, parser expressions, label
filter expressions, line_format/label_format, drop/keep) and its error-label behaviour.
"""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.stages import LogPipeline, line_filter_matches

M = ast.MatchOp
C = ast.CompareOp

NGINX = (
    '0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 '
    '"-" "Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" ""'
)
DOC_JSON = (
    '{"protocol": "HTTP/2.0", "servers": ["129.0.1.1","10.2.1.3"], "request": {"time": "6.032",'
    ' "method": "GET", "host": "foo.grafana.net", "size": "55", "headers": {"Accept": "*/*",'
    ' "User-Agent": "curl/7.68.0"}}, "response": {"status": 401, "size": "228",'
    ' "latency_seconds": "6.031"}}'
)
LOGFMT_LINE = (
    'at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200'
)


def run(
    stages: list[ast.Stage], line: str, labels: dict[str, str] | None = None, ts: int = 0
) -> tuple[str, dict[str, str]] | None:
    return LogPipeline(stages).process(ts, line, dict(labels or {}))


def labels_of(
    stages: list[ast.Stage], line: str, base: dict[str, str] | None = None
) -> dict[str, str]:
    result = run(stages, line, base)
    assert result is not None
    return result[1]


# ---------------------------------------------------------------- line filters


@pytest.mark.parametrize(
    ("op", "values", "line", "expected"),
    [
        (ast.LineOp.CONTAINS, ("error",), "an error happened", True),
        (ast.LineOp.CONTAINS, ("error",), "an Error happened", False),  # case-sensitive
        (ast.LineOp.NOT_CONTAINS, ("timeout",), "error: timeout", False),
        (ast.LineOp.CONTAINS, ("foo", "bar"), "xbarx", True),  # `or` alternatives
        (ast.LineOp.NOT_CONTAINS, ("foo", "bar"), "xbarx", False),
        (ast.LineOp.MATCHES, ("tsdb-ops.*io:2003",), "x tsdb-ops-1.io:2003 y", True),  # unanchored
        (ast.LineOp.MATCHES, (r"error=\w+",), "level=warn error=", False),
        (ast.LineOp.MATCHES, ("(?i)ERROR",), "an error", True),
        (ast.LineOp.NOT_MATCHES, ("^GET",), "GET /", False),
        (ast.LineOp.PATTERN, ("<_> foo <_>",), "a foo b", True),
        (ast.LineOp.PATTERN, ("<_> bar",), "foo bar baz", False),  # the whole line must fit
        (ast.LineOp.PATTERN, ("<_> baz",), "foo bar baz", True),
        (ast.LineOp.PATTERN, ("foo <_>",), "foo bar baz", True),
        (ast.LineOp.PATTERN, ("<_> bar <_>",), " bar ", False),  # no empty captures
        (ast.LineOp.NOT_PATTERN, ("<_> bar",), "foo bar baz", True),
    ],
)
def test_line_filters(op: ast.LineOp, values: tuple[str, ...], line: str, expected: bool) -> None:
    node = ast.LineFilter(op, values)
    assert line_filter_matches(node, line) is expected
    assert (run([node], line) is not None) is expected


def test_chained_line_filters_all_apply() -> None:
    stages: list[ast.Stage] = [
        ast.LineFilter(ast.LineOp.CONTAINS, ("error",)),
        ast.LineFilter(ast.LineOp.NOT_CONTAINS, ("timeout",)),
    ]
    pipeline = LogPipeline(stages)
    assert pipeline.line_only
    assert pipeline.process(0, "error: disk full", {"a": "b"}) == ("error: disk full", {"a": "b"})
    assert pipeline.process(0, "error: timeout", {}) is None
    assert not LogPipeline([*stages, ast.JsonParser()]).line_only


def test_invalid_line_regex_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="error parsing regexp"):
        LogPipeline([ast.LineFilter(ast.LineOp.MATCHES, ("(unclosed",))])


# ---------------------------------------------------------------- json


def test_json_flattens_nested_objects_and_skips_arrays() -> None:
    assert labels_of([ast.JsonParser()], DOC_JSON) == {
        "protocol": "HTTP/2.0",
        "request_time": "6.032",
        "request_method": "GET",
        "request_host": "foo.grafana.net",
        "request_size": "55",
        "request_headers_Accept": "*/*",
        "request_headers_User_Agent": "curl/7.68.0",
        "response_status": "401",
        "response_size": "228",
        "response_latency_seconds": "6.031",
    }


def test_json_key_sanitizing_and_value_types() -> None:
    line = '{"a.b": {"c": "d"}, "e": "f", "n": 1.50, "t": true, "z": null, "1st": "x"}'
    assert labels_of([ast.JsonParser()], line) == {
        "a_b_c": "d",
        "e": "f",
        "n": "1.50",  # numbers keep their JSON text
        "t": "true",
        "_1st": "x",  # no leading digit
    }


def test_json_with_parameters() -> None:
    params = (
        ("first_server", "servers[0]"),
        ("ua", 'request.headers["User-Agent"]'),
        ("server_list", "servers"),
        ("headers", "request.headers"),
        ("status", "response.status"),
        ("missing", "request.nope"),
    )
    assert labels_of([ast.JsonParser(params)], DOC_JSON) == {
        "first_server": "129.0.1.1",
        "ua": "curl/7.68.0",
        "server_list": '["129.0.1.1","10.2.1.3"]',  # arrays and objects as written
        "headers": '{"Accept": "*/*", "User-Agent": "curl/7.68.0"}',
        "status": "401",
        "missing": "",
    }


def test_json_parameter_with_quoted_key() -> None:
    line = '{"key with space": {"x": [1, {"y": "deep"}]}}'
    params = (("a", "['key with space'].x[1].y"), ("b", '["key with space"]'))
    got = labels_of([ast.JsonParser(params)], line)
    assert got == {"a": "deep", "b": '{"x": [1, {"y": "deep"}]}'}


def test_json_bad_path_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="cannot parse expression"):
        LogPipeline([ast.JsonParser((("a", "x..y"),))])


def test_invalid_json_keeps_the_entry_with_an_error() -> None:
    result = run([ast.JsonParser()], "INFO GET / loki.net 200", {"job": "varlogs"})
    assert result is not None
    line, got = result
    assert line == "INFO GET / loki.net 200"
    assert got["__error__"] == "JSONParserErr"
    assert got["__error_details__"]
    assert got["job"] == "varlogs"


def test_extracted_name_colliding_with_a_stream_label_gets_suffix() -> None:
    got = labels_of([ast.JsonParser()], '{"app": "inner", "level": "info"}', {"app": "outer"})
    assert got == {"app": "outer", "app_extracted": "inner", "level": "info"}


def test_first_value_of_a_duplicated_key_wins() -> None:
    got = labels_of([ast.JsonParser()], '{"a_b": "first", "a": {"b": "second"}}')
    assert got == {"a_b": "first"}


# ---------------------------------------------------------------- logfmt


def test_logfmt_docs_example() -> None:
    assert labels_of([ast.LogfmtParser()], LOGFMT_LINE) == {
        "at": "info",
        "method": "GET",
        "path": "/",
        "host": "grafana.net",
        "fwd": "124.133.124.161",
        "service": "8ms",
        "status": "200",
    }


def test_logfmt_with_parameters_renames() -> None:
    node = ast.LogfmtParser(params=(("host", "host"), ("fwd_ip", "fwd")))
    assert labels_of([node], LOGFMT_LINE) == {"host": "grafana.net", "fwd_ip": "124.133.124.161"}


def test_logfmt_quoted_values_and_empty_keys() -> None:
    line = r'msg="hello \"world\"" lone empty= x=1'
    assert labels_of([ast.LogfmtParser()], line) == {"msg": 'hello "world"', "x": "1"}
    kept = labels_of([ast.LogfmtParser(keep_empty=True)], line)
    assert kept == {"msg": 'hello "world"', "lone": "", "empty": "", "x": "1"}


@pytest.mark.parametrize("bad", ["=value", "foo=bar=buzz", 'fo"o=bar'])
def test_logfmt_skips_malformed_pairs_unless_strict(bad: str) -> None:
    line = f"a=1 {bad} b=2"
    assert labels_of([ast.LogfmtParser()], line) == {"a": "1", "b": "2"}
    strict = labels_of([ast.LogfmtParser(strict=True)], line)
    assert strict["a"] == "1"
    assert "b" not in strict  # strict parsing stops at the bad pair
    assert strict["__error__"] == "LogfmtParserErr"
    assert strict["__error_details__"].startswith("logfmt syntax error at pos")


# ---------------------------------------------------------------- pattern, regexp, unpack


def test_pattern_nginx_docs_example() -> None:
    node = ast.PatternParser('<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>')
    assert labels_of([node], NGINX) == {
        "ip": "0.191.12.2",
        "method": "GET",
        "uri": "/api/plugins/versioncheck",
        "status": "200",
        "size": "2",
        "agent": "Go-http-client/2.0",
    }


def test_pattern_unanchored_with_leading_skip() -> None:
    line = (
        "level=debug ts=2021-06-10T09:24:13.472094048Z caller=logging.go:66 "
        'traceID=0568b66ad2d9294c msg="POST /loki/api/v1/push (204) 16.652862ms"'
    )
    node = ast.PatternParser('<_> msg="<method> <path> (<status>) <latency>"')
    got = labels_of([node], line)
    assert got == {
        "method": "POST",
        "path": "/loki/api/v1/push",
        "status": "204",
        "latency": "16.652862ms",
    }


def test_pattern_partial_match_keeps_what_was_found() -> None:
    got = labels_of([ast.PatternParser("<a> <b> | <c>")], "one two three")
    assert got == {"a": "one", "b": "two three"}  # the missed literal: b takes the rest
    assert labels_of([ast.PatternParser("GET <path>")], "POST /x") == {}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("<_> foo", "at least one capture is required"),
        ("<a><b>", "consecutive capture"),
        ("<a> <a>", "duplicate capture"),
    ],
)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        LogPipeline([ast.PatternParser(pattern)])


def test_regexp_docs_example() -> None:
    node = ast.RegexpParser(
        r"(?P<method>\w+) (?P<path>[\w|/]+) \((?P<status>\d+?)\) (?P<duration>.*)"
    )
    assert labels_of([node], "POST /api/prom/api/v1/query_range (200) 1.5s") == {
        "method": "POST",
        "path": "/api/prom/api/v1/query_range",
        "status": "200",
        "duration": "1.5s",
    }


def test_regexp_go_named_group_syntax_and_no_match() -> None:
    node = ast.RegexpParser(r"id=(?<id>\d+)")
    assert labels_of([node], "x id=42") == {"id": "42"}
    assert labels_of([node], "nothing") == {}


def test_regexp_needs_a_named_group() -> None:
    with pytest.raises(QueryError, match="at least one named capture"):
        LogPipeline([ast.RegexpParser(r"(\d+)")])


def test_unpack_replaces_the_line_with_entry() -> None:
    line = '{"container": "myapp", "pod": "pod-3223f", "_entry": "original log message"}'
    result = run([ast.UnpackParser()], line, {"job": "j"})
    assert result == (
        "original log message",
        {"job": "j", "container": "myapp", "pod": "pod-3223f"},
    )


def test_unpack_not_an_object_is_a_json_error() -> None:
    got = labels_of([ast.UnpackParser()], "plain text")
    assert got["__error__"] == "JSONParserErr"


def test_decolorize_strips_ansi_sequences() -> None:
    result = run([ast.Decolorize()], "\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[0m")
    assert result is not None and result[0] == "red and green"


# ---------------------------------------------------------------- label filters


def logfmt_then(expr: ast.LabelFilterExpr) -> list[ast.Stage]:
    return [ast.LogfmtParser(), ast.LabelFilter(expr)]


@pytest.mark.parametrize(
    ("expr", "line", "kept"),
    [
        (ast.NumberLabelFilter("status", C.GE, 400), "status=404", True),
        (ast.NumberLabelFilter("status", C.GE, 400), "status=200", False),
        (ast.NumberLabelFilter("status", C.EQ, 200), "status=200.0", True),
        (ast.NumberLabelFilter("status", C.GT, 1), "other=1", False),  # missing label drops
        (ast.DurationLabelFilter("duration", C.GT, 10), "duration=1m30s", True),
        (ast.DurationLabelFilter("duration", C.GE, 0.02), "duration=20ms", True),
        (ast.DurationLabelFilter("duration", C.LT, 0.02), "duration=250us", True),
        (ast.BytesLabelFilter("size", C.EQ, 20_000), "size=20KB", True),
        (ast.BytesLabelFilter("size", C.GT, 20 * 1024 * 1024), "size=20MB", False),
        (ast.BytesLabelFilter("size", C.EQ, 1536), "size=1.5KiB", True),
        (ast.StringLabelFilter("method", M.EQ, "GET"), "method=GET", True),
        (ast.StringLabelFilter("method", M.NRE, "2.."), "method=200", False),
        (ast.StringLabelFilter("method", M.RE, "G.."), "method=GETX", False),  # anchored
        (ast.StringLabelFilter("missing", M.EQ, ""), "a=1", True),  # missing reads as ""
    ],
)
def test_label_filters(expr: ast.LabelFilterExpr, line: str, kept: bool) -> None:
    assert (run(logfmt_then(expr), line) is not None) is kept


def test_label_filter_precedence_and_or() -> None:
    # `duration >= 20ms or method="GET" and size <= 20KB` groups left to right.
    expr = ast.AndFilter(
        ast.OrFilter(
            ast.DurationLabelFilter("duration", C.GE, 0.02),
            ast.StringLabelFilter("method", M.EQ, "GET"),
        ),
        ast.BytesLabelFilter("size", C.LE, 20_000),
    )
    assert run(logfmt_then(expr), "duration=1s method=POST size=1KB") is not None
    assert run(logfmt_then(expr), "duration=1ms method=GET size=30KB") is None
    assert run(logfmt_then(expr), "duration=1ms method=POST size=1KB") is None


def test_unconvertible_value_keeps_entry_with_label_filter_error() -> None:
    got = labels_of(logfmt_then(ast.NumberLabelFilter("status", C.GT, 100)), "status=abc")
    assert got["__error__"] == "LabelFilterErr"
    assert "invalid syntax" in got["__error_details__"]
    bad_duration = labels_of(logfmt_then(ast.DurationLabelFilter("d", C.GT, 1)), "d=5")
    assert bad_duration["__error__"] == "LabelFilterErr"


def test_only_string_filters_drop_entries_with_errors() -> None:
    stages: list[ast.Stage] = [
        ast.JsonParser(),
        ast.LabelFilter(ast.NumberLabelFilter("status", C.GT, 100)),
    ]
    assert run(stages, "not json") is not None  # the numeric filter lets it through
    no_errors = [*stages, ast.LabelFilter(ast.StringLabelFilter("__error__", M.EQ, ""))]
    assert run(no_errors, "not json") is None
    assert run(no_errors, '{"status": 200}') is not None


def test_invalid_label_filter_regex() -> None:
    with pytest.raises(QueryError, match="error parsing regexp"):
        LogPipeline([ast.LabelFilter(ast.StringLabelFilter("a", M.RE, "[z-a]"))])


# ---------------------------------------------------------------- line_format, label_format


def test_line_format_docs_example() -> None:
    stages: list[ast.Stage] = [
        ast.LogfmtParser(),
        ast.LineFormat("{{.ip}} {{.status}} {{div .duration 1000}}"),
    ]
    result = run(stages, "ip=1.1.1.1 status=200 duration=3000")
    assert result is not None and result[0] == "1.1.1.1 200 3"


def test_line_format_sees_line_and_timestamp() -> None:
    stage = ast.LineFormat(
        '{{ __timestamp__ | date "2006-01-02T15:04:05Z07:00" }} {{ __line__ | upper }}'
    )
    result = run([stage], "hello", ts=1_623_316_469_000_000_000)
    assert result is not None and result[0] == "2021-06-10T09:14:29Z HELLO"


def test_line_format_runtime_error_keeps_line() -> None:
    result = run([ast.LineFormat("{{ div 1 0 }}")], "original")
    assert result is not None
    line, got = result
    assert line == "original"
    assert got["__error__"] == "TemplateFormatErr"
    assert "divide by zero" in got["__error_details__"]


def test_line_format_parse_error_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="invalid line template"):
        LogPipeline([ast.LineFormat("{{ nosuchfunc .a }}")])


def test_label_format_rename_and_template() -> None:
    stage = ast.LabelFormat(
        (
            ast.LabelFormatItem("dst", source="src"),
            ast.LabelFormatItem("both", template="{{.status}} {{.query}}"),
            ast.LabelFormatItem("copy", template="{{.keep}}"),
        )
    )
    base = {"src": "v", "status": "200", "query": "q", "keep": "k"}
    assert labels_of([stage], "", base) == {
        "dst": "v",  # the rename drops src
        "status": "200",
        "query": "q",
        "keep": "k",
        "both": "200 q",
        "copy": "k",  # a template keeps the labels it reads
    }


def test_label_format_templates_see_the_labels_before_the_stage() -> None:
    stage = ast.LabelFormat(
        (ast.LabelFormatItem("a", template="{{.b}}"), ast.LabelFormatItem("b", template="{{.a}}"))
    )
    assert labels_of([stage], "", {"a": "1", "b": "2"}) == {"a": "2", "b": "1"}


def test_label_format_rename_of_missing_label_does_nothing() -> None:
    stage = ast.LabelFormat((ast.LabelFormatItem("dst", source="nope"),))
    assert labels_of([stage], "", {"x": "1"}) == {"x": "1"}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ((ast.LabelFormatItem("__error__", template="x"),), "__error__ cannot be formatted"),
        (
            (ast.LabelFormatItem("foo", source="bar"), ast.LabelFormatItem("foo", template="new")),
            "multiple label name 'foo'",
        ),
        ((ast.LabelFormatItem("x", template="{{ .a "),), "invalid template for label 'x'"),
    ],
)
def test_invalid_label_formats(items: tuple[ast.LabelFormatItem, ...], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        LogPipeline([ast.LabelFormat(items)])


# ---------------------------------------------------------------- drop and keep

DROP_LINES = [
    f'{{"app": "{app}", "level": "info", "method": "GET", "path": "/", "host": "grafana.net",'
    ' "status": "200"}'
    for app in ("some-api-service", "other-service")
]


def test_drop_docs_example() -> None:
    drop = ast.Drop(
        (
            ast.LabelSelection("level"),
            ast.LabelSelection("path"),
            ast.LabelSelection("app", ast.Matcher("app", M.RE, "some-api.*")),
        )
    )
    stages: list[ast.Stage] = [ast.JsonParser(), drop]
    first, second = (labels_of(stages, line, {"job": "varlogs"}) for line in DROP_LINES)
    assert first == {"host": "grafana.net", "job": "varlogs", "method": "GET", "status": "200"}
    assert second == {
        "app": "other-service",
        "host": "grafana.net",
        "job": "varlogs",
        "method": "GET",
        "status": "200",
    }


def test_drop_can_remove_error_labels() -> None:
    stages: list[ast.Stage] = [
        ast.JsonParser(),
        ast.Drop((ast.LabelSelection("__error__"), ast.LabelSelection("__error_details__"))),
    ]
    assert labels_of(stages, "INFO GET / loki.net 200") == {}


def test_keep_docs_example() -> None:
    keep = ast.Keep(
        (
            ast.LabelSelection("level"),
            ast.LabelSelection("tenant"),
            ast.LabelSelection("app", ast.Matcher("app", M.RE, "some-api.*")),
        )
    )
    stages: list[ast.Stage] = [ast.JsonParser(), keep]
    first, second = (labels_of(stages, line, {"job": "varlogs"}) for line in DROP_LINES)
    assert first == {"app": "some-api-service", "level": "info"}
    assert second == {"level": "info"}


def test_keep_never_drops_error_labels() -> None:
    stages: list[ast.Stage] = [ast.JsonParser(), ast.Keep((ast.LabelSelection("job"),))]
    got = labels_of(stages, "not json", {"job": "j", "other": "o"})
    assert set(got) == {"job", "__error__", "__error_details__"}


# ---------------------------------------------------------------- unwrap


def unwrapped(
    conversion: ast.UnwrapConversion = ast.UnwrapConversion.NONE,
    post: tuple[ast.LabelFilterExpr, ...] = (),
) -> LogPipeline:
    return LogPipeline([ast.LogfmtParser()], ast.Unwrap("latency", conversion, post))


@pytest.mark.parametrize(
    ("conversion", "value", "expected"),
    [
        (ast.UnwrapConversion.NONE, "1.5", 1.5),
        (ast.UnwrapConversion.DURATION, "1m30s", 90.0),
        (ast.UnwrapConversion.DURATION, "250ms", 0.25),
        (ast.UnwrapConversion.BYTES, "1KiB", 1024.0),
        (ast.UnwrapConversion.BYTES, "20MB", 20e6),
    ],
)
def test_unwrap_conversions(conversion: ast.UnwrapConversion, value: str, expected: float) -> None:
    sample = unwrapped(conversion).sample(0, f"latency={value} route=/a", {"app": "x"})
    assert sample == ({"app": "x", "route": "/a"}, expected)  # the unwrapped label is dropped


def test_unwrap_bad_value_is_a_sample_extraction_error() -> None:
    sample = unwrapped().sample(0, "latency=fast", {})
    assert sample is not None
    got, value = sample
    assert value == 0.0
    assert got["__error__"] == "SampleExtractionErr"
    assert got["__error_details__"] == 'strconv.ParseFloat: parsing "fast": invalid syntax'


def test_unwrap_post_filter_drops_errors() -> None:
    pipeline = unwrapped(post=(ast.StringLabelFilter("__error__", M.EQ, ""),))
    assert pipeline.sample(0, "latency=fast", {}) is None
    assert pipeline.sample(0, "latency=3", {}) == ({}, 3.0)


def test_unwrap_post_filter_sees_the_unwrapped_label() -> None:
    pipeline = unwrapped(post=(ast.NumberLabelFilter("latency", C.GT, 2),))
    assert pipeline.sample(0, "latency=1", {}) is None
    assert pipeline.sample(0, "latency=3", {}) == ({}, 3.0)


def test_unwrap_missing_label_gives_no_sample() -> None:
    assert unwrapped().sample(0, "other=1", {}) is None


def test_sample_without_unwrap_raises() -> None:
    with pytest.raises(ValueError, match="unwrap"):
        LogPipeline([]).sample(0, "x", {})


def test_unwrap_without_other_stages() -> None:
    pipeline = LogPipeline((), ast.Unwrap("size"))
    assert pipeline.sample(0, "line", {"size": "12", "app": "a"}) == ({"app": "a"}, 12.0)
