"""The LogQL parser: golden syntax trees for every construct, precedence, and Loki's errors."""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.parser import (
    parse_bytes,
    parse_duration,
    parse_expr,
    parse_log_query,
    parse_metric_query,
)

S = 1_000_000_000
MIN = 60 * S
APP = ast.Matcher("app", ast.MatchOp.EQ, "api")
SEL = (APP,)
EQ, NE, RE, NRE = ast.MatchOp.EQ, ast.MatchOp.NE, ast.MatchOp.RE, ast.MatchOp.NRE
GT, GE, LT, CEQ = ast.CompareOp.GT, ast.CompareOp.GE, ast.CompareOp.LT, ast.CompareOp.EQ


def _stages(pipeline: str) -> tuple[ast.Stage, ...]:
    query = parse_log_query('{app="api"} ' + pipeline)
    assert query.selector == SEL
    return query.stages


def _filter(text: str) -> ast.LabelFilterExpr:
    (stage,) = _stages("| " + text)
    assert isinstance(stage, ast.LabelFilter)
    return stage.expr


def _error(text: str) -> str:
    with pytest.raises(QueryError) as caught:
        parse_expr(text)
    return caught.value.message


def _count(query: ast.LogQuery | None = None, range_ns: int = 5 * MIN) -> ast.RangeAggregation:
    query = ast.LogQuery(SEL) if query is None else query
    return ast.RangeAggregation(ast.RangeOp.COUNT_OVER_TIME, query, range_ns)


def _num(value: float) -> ast.NumberLiteral:
    return ast.NumberLiteral(value)


COUNT = 'count_over_time({app="api"}[5m])'


# ---------------------------------------------------------------- durations and bytes


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("5m", 5 * MIN),
        ("1h30m", 90 * MIN),
        ("250ms", 250_000_000),
        ("1.5s", 1_500_000_000),
        ("2d", 2 * 86_400 * S),
        ("1w", 7 * 86_400 * S),
        ("1y", 365 * 86_400 * S),
        ("1d12h", 36 * 3_600 * S),
        ("0", 0),
        ("3µs", 3_000),
        ("10ns", 10),
        ("1m1h", 61 * MIN),  # out of order: only Go's parser accepts it
    ],
)
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "5", "5x", "1.5d", "1h1d", "-", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(QueryError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("20MB", 20_000_000),
        ("1.5KiB", 1536),
        ("10b", 10),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1KiB", 1024),
        ("2 MiB", 2 * 1024**2),
        ("1GB", 1e9),
        ("42", 42),
        ("1,000", 1000),
        ("2.7B", 2),  # truncated to whole bytes, as go-humanize does
        ("1M", 1_000_000),
    ],
)
def test_parse_bytes(text: str, size: float) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "MB", "1XB", "1.2.3MB"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(QueryError, match="invalid byte size"):
        parse_bytes(text)


# ---------------------------------------------------------------- stream selectors


def test_selector_with_every_matcher_op() -> None:
    query = parse_expr('{a="1", b!="2", c=~"3.*", d!~"4"}')
    assert query == ast.LogQuery(
        (
            ast.Matcher("a", EQ, "1"),
            ast.Matcher("b", NE, "2"),
            ast.Matcher("c", RE, "3.*"),
            ast.Matcher("d", NRE, "4"),
        )
    )


def test_selector_strings_unescape_go_escapes_and_keep_raw_strings() -> None:
    query = parse_log_query(r'{a="q\"b\\s\n\t\u00e9\x41\101", b=`raw\d`}')
    assert query.selector == (
        ast.Matcher("a", EQ, 'q"b\\s\n\té' + "AA"),
        ast.Matcher("b", EQ, "raw\\d"),
    )


@pytest.mark.parametrize("text", ["{}", '{a=""}', '{a=~".*"}', '{a!="x", b=~".*"}'])
def test_selector_needs_a_matcher_that_rejects_empty(text: str) -> None:
    assert _error(text) == (
        "parse error at line 1, col 1: queries require at least one regexp or equality matcher "
        'that does not have an empty-compatible value. For instance, app=~".*" does not meet this '
        'requirement, but app=~".+" will'
    )


@pytest.mark.parametrize("text", ['{a=~".+"}', '{a!=""}', '{a!~""}', '{a="", b="x"}'])
def test_selector_accepts_non_empty_matchers(text: str) -> None:
    assert isinstance(parse_expr(text), ast.LogQuery)


def test_selector_errors() -> None:
    assert _error('{a="b",}') == (
        'parse error at line 1, col 8: syntax error: unexpected "}", expecting identifier'
    )
    assert _error('{a="b"') == (
        'parse error at line 1, col 7: syntax error: unexpected end of input, expecting "," or "}"'
    )
    assert _error('{a="b}') == "parse error at line 1, col 4: literal not terminated"
    assert (
        _error('{a~"b"}') == 'parse error at line 1, col 3: syntax error: unexpected character "~"'
    )
    assert _error('{a=~"(x"}') == (
        'parse error at line 1, col 5: invalid regular expression "(x": '
        "missing ), unterminated subpattern"
    )
    assert _error(r'{a="\d"}') == "parse error at line 1, col 5: invalid char escape"


# ---------------------------------------------------------------- line filters


def test_line_filters_of_every_op() -> None:
    stages = _stages('|= "a" != "b" |~ "c+" !~ "d" |> "<_> e" !> "f <_>"')
    assert stages == (
        ast.LineFilter(ast.LineOp.CONTAINS, ("a",)),
        ast.LineFilter(ast.LineOp.NOT_CONTAINS, ("b",)),
        ast.LineFilter(ast.LineOp.MATCHES, ("c+",)),
        ast.LineFilter(ast.LineOp.NOT_MATCHES, ("d",)),
        ast.LineFilter(ast.LineOp.PATTERN, ("<_> e",)),
        ast.LineFilter(ast.LineOp.NOT_PATTERN, ("f <_>",)),
    )


def test_line_filter_or_alternatives() -> None:
    assert _stages('|= "a" or "b" or `c` != "d" or "e"') == (
        ast.LineFilter(ast.LineOp.CONTAINS, ("a", "b", "c")),
        ast.LineFilter(ast.LineOp.NOT_CONTAINS, ("d", "e")),
    )


def test_line_filter_errors() -> None:
    assert _error('{a="b"} |~ "(x"').startswith(
        'parse error at line 1, col 12: invalid regular expression "(x"'
    )
    assert _error('{a="b"} |= ip("1.2.3.4")') == (
        "parse error at line 1, col 12: ip() line filters are not supported"
    )
    assert _error('{a="b"} |= 5') == (
        "parse error at line 1, col 12: syntax error: unexpected number 5, expecting string"
    )


# ---------------------------------------------------------------- parsers and formatters


def test_json_parser_forms() -> None:
    assert _stages("| json") == (ast.JsonParser(),)
    assert _stages('| json a="x.y", b="z[0]", c') == (
        ast.JsonParser((("a", "x.y"), ("b", "z[0]"), ("c", "c"))),
    )


def test_logfmt_parser_forms() -> None:
    assert _stages("| logfmt") == (ast.LogfmtParser(),)
    assert _stages('| logfmt --strict --keep-empty a, b="c"') == (
        ast.LogfmtParser((("a", "a"), ("b", "c")), strict=True, keep_empty=True),
    )
    assert _stages("| logfmt --keep-empty") == (ast.LogfmtParser(keep_empty=True),)
    assert _error('{a="b"} | logfmt --loose') == (
        'parse error at line 1, col 18: unknown logfmt flag "--loose"'
    )


def test_regexp_pattern_unpack_decolorize() -> None:
    assert _stages(r'| regexp "(?P<ip>\\S+) (?P<code>\\d+)" | pattern "<ip> <_>" | unpack') == (
        ast.RegexpParser(r"(?P<ip>\S+) (?P<code>\d+)"),
        ast.PatternParser("<ip> <_>"),
        ast.UnpackParser(),
    )
    assert _stages("| decolorize") == (ast.Decolorize(),)


def test_regexp_needs_a_named_capture() -> None:
    assert _error('{a="b"} | regexp "(x)"') == (
        "parse error at line 1, col 18: at least one named capture must be supplied"
    )


def test_line_format_and_label_format() -> None:
    assert _stages('| line_format "{{.status}} {{.path}}"') == (
        ast.LineFormat("{{.status}} {{.path}}"),
    )
    assert _stages('| label_format a="{{.b}}", c=d') == (
        ast.LabelFormat(
            (ast.LabelFormatItem("a", template="{{.b}}"), ast.LabelFormatItem("c", source="d"))
        ),
    )


def test_label_format_sets_a_label_once() -> None:
    assert _error('{a="b"} | label_format x=y, x="z"') == (
        "parse error at line 1, col 29: multiple label name 'x' not allowed "
        "in a single format operation"
    )


def test_drop_and_keep() -> None:
    items = (
        ast.LabelSelection("a"),
        ast.LabelSelection("b", ast.Matcher("b", EQ, "v")),
        ast.LabelSelection("c", ast.Matcher("c", RE, "re")),
    )
    assert _stages('| drop a, b="v", c=~"re"') == (ast.Drop(items),)
    assert _stages('| keep a, b="v", c=~"re"') == (ast.Keep(items),)


def test_stage_words_are_label_names_when_compared() -> None:
    assert _filter('json = "x"') == ast.StringLabelFilter("json", EQ, "x")
    assert _filter("keep > 1") == ast.NumberLabelFilter("keep", GT, 1)


# ---------------------------------------------------------------- label filters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status >= 400", ast.NumberLabelFilter("status", GE, 400)),
        ("status = 200", ast.NumberLabelFilter("status", CEQ, 200)),
        ("status == 200", ast.NumberLabelFilter("status", CEQ, 200)),
        ("status != 200", ast.NumberLabelFilter("status", ast.CompareOp.NE, 200)),
        ("delta < -1.5", ast.NumberLabelFilter("delta", LT, -1.5)),
        ("ratio <= 0.5", ast.NumberLabelFilter("ratio", ast.CompareOp.LE, 0.5)),
        ('level = "error"', ast.StringLabelFilter("level", EQ, "error")),
        ('level != "info"', ast.StringLabelFilter("level", NE, "info")),
        ('level =~ "err.*"', ast.StringLabelFilter("level", RE, "err.*")),
        ('level !~ "debug|trace"', ast.StringLabelFilter("level", NRE, "debug|trace")),
        ("latency > 250ms", ast.DurationLabelFilter("latency", GT, 0.25)),
        ("latency == 1m30s", ast.DurationLabelFilter("latency", CEQ, 90.0)),
        ("size > 20MB", ast.BytesLabelFilter("size", GT, 20_000_000)),
        ("size <= 1.5KiB", ast.BytesLabelFilter("size", ast.CompareOp.LE, 1536)),
        ('__error__=""', ast.StringLabelFilter("__error__", EQ, "")),
    ],
)
def test_single_label_filters(text: str, expected: ast.LabelFilterExpr) -> None:
    assert _filter(text) == expected


A = ast.StringLabelFilter("a", EQ, "x")
B = ast.NumberLabelFilter("b", GT, 1)
C = ast.StringLabelFilter("c", NE, "y")


def test_and_binds_tighter_than_or() -> None:
    assert _filter('a="x" and b>1 or c!="y"') == ast.OrFilter(ast.AndFilter(A, B), C)
    assert _filter('c!="y" or a="x" and b>1') == ast.OrFilter(C, ast.AndFilter(A, B))


@pytest.mark.parametrize("joined", ['a="x", b>1', 'a="x" b>1', 'a="x" and b>1'])
def test_comma_and_adjacency_mean_and(joined: str) -> None:
    assert _filter(joined) == ast.AndFilter(A, B)


def test_parentheses_group_label_filters() -> None:
    assert _filter('a="x" and (b>1 or c!="y")') == ast.AndFilter(A, ast.OrFilter(B, C))
    assert _filter('(a="x")') == A


def test_each_pipe_is_its_own_label_filter_stage() -> None:
    assert _stages('| a="x" | b > 1') == (ast.LabelFilter(A), ast.LabelFilter(B))


def test_label_filter_errors() -> None:
    assert _error('{a="b"} | x == "y"') == (
        'parse error at line 1, col 16: syntax error: unexpected string "y", '
        "expecting number, duration or bytes"
    )
    assert _error('{a="b"} | x =~ 5') == (
        "parse error at line 1, col 16: syntax error: unexpected number 5, expecting string"
    )
    assert _error('{a="b"} | x = ip("10.0.0.1")') == (
        "parse error at line 1, col 15: ip() label filters are not supported"
    )
    assert _error('{a="b"} | foo') == (
        'parse error at line 1, col 11: syntax error: unexpected identifier "foo", '
        "expecting label filter"
    )
    assert _error('{a="b"} | a="x" or') == (
        'parse error at line 1, col 17: syntax error: unexpected identifier "or", '
        "expecting end of input"
    )


def test_label_names_do_not_take_dots() -> None:
    assert _error('{a="b"} | x.y = "1"') == (
        'parse error at line 1, col 12: syntax error: unexpected character "."'
    )


# ---------------------------------------------------------------- unwrap


@pytest.mark.parametrize(
    ("text", "unwrap"),
    [
        ("unwrap latency", ast.Unwrap("latency")),
        ("unwrap duration(latency)", ast.Unwrap("latency", ast.UnwrapConversion.DURATION)),
        (
            "unwrap duration_seconds(latency)",
            ast.Unwrap("latency", ast.UnwrapConversion.DURATION),
        ),
        ("unwrap bytes(size)", ast.Unwrap("size", ast.UnwrapConversion.BYTES)),
        ("unwrap duration", ast.Unwrap("duration")),
    ],
)
def test_unwrap_forms(text: str, unwrap: ast.Unwrap) -> None:
    expr = parse_metric_query(f'sum_over_time({{app="api"}} | json | {text} [1m])')
    assert expr == ast.RangeAggregation(
        ast.RangeOp.SUM_OVER_TIME, ast.LogQuery(SEL, (ast.JsonParser(),), unwrap), MIN
    )


def test_unwrap_post_filters() -> None:
    expr = parse_metric_query(
        'avg_over_time({app="api"} | unwrap x | __error__="" | x > 1 or x < -1 [1m])'
    )
    assert isinstance(expr, ast.RangeAggregation)
    assert expr.query.stages == ()
    assert expr.query.unwrap == ast.Unwrap(
        "x",
        post_filters=(
            ast.StringLabelFilter("__error__", EQ, ""),
            ast.OrFilter(ast.NumberLabelFilter("x", GT, 1), ast.NumberLabelFilter("x", LT, -1)),
        ),
    )


def test_unwrap_only_inside_range_aggregations_and_last() -> None:
    assert _error('{a="b"} | unwrap x') == (
        "parse error at line 1, col 11: unwrap is only allowed inside a range aggregation"
    )
    assert _error('sum_over_time({a="b"} | unwrap x | json [1m])') == (
        "parse error at line 1, col 36: only label filters may follow unwrap"
    )
    assert _error('sum_over_time({a="b"} | unwrap x |= "y" [1m])') == (
        "parse error at line 1, col 34: only label filters may follow unwrap"
    )


# ---------------------------------------------------------------- range aggregations


def test_range_after_pipeline_with_offset() -> None:
    expr = parse_expr('count_over_time({app="api"} |= "x" [5m] offset 1h)')
    assert expr == ast.RangeAggregation(
        ast.RangeOp.COUNT_OVER_TIME,
        ast.LogQuery(SEL, (ast.LineFilter(ast.LineOp.CONTAINS, ("x",)),)),
        5 * MIN,
        offset_ns=60 * MIN,
    )


def test_range_right_after_selector_then_pipeline() -> None:
    assert parse_expr('rate({app="api"}[1m] offset 30s |= "x" | json)') == ast.RangeAggregation(
        ast.RangeOp.RATE,
        ast.LogQuery(SEL, (ast.LineFilter(ast.LineOp.CONTAINS, ("x",)), ast.JsonParser())),
        MIN,
        offset_ns=30 * S,
    )


def test_parenthesised_log_range() -> None:
    expected = _count(ast.LogQuery(SEL, (ast.JsonParser(),)))
    assert parse_expr('count_over_time(({app="api"} | json)[5m])') == expected
    assert parse_expr('count_over_time(({app="api"} | json [5m]))') == expected


def test_negative_offset() -> None:
    expr = parse_expr('count_over_time({app="api"}[5m] offset -1h)')
    assert isinstance(expr, ast.RangeAggregation)
    assert expr.offset_ns == -60 * MIN


@pytest.mark.parametrize("op", sorted(ast.LINE_RANGE_OPS))
def test_line_range_ops(op: ast.RangeOp) -> None:
    expr = parse_expr(f'{op.value}({{app="api"}}[5m])')
    assert expr == ast.RangeAggregation(op, ast.LogQuery(SEL), 5 * MIN)


def test_quantile_with_grouping() -> None:
    expr = parse_expr('quantile_over_time(0.99, {app="api"} | unwrap x [5m]) by (a, b)')
    assert expr == ast.RangeAggregation(
        ast.RangeOp.QUANTILE_OVER_TIME,
        ast.LogQuery(SEL, unwrap=ast.Unwrap("x")),
        5 * MIN,
        param=0.99,
        grouping=ast.Grouping(("a", "b")),
    )


def test_unwrapped_grouping_without() -> None:
    expr = parse_expr('max_over_time({app="api"} | unwrap x [5m]) without (pod)')
    assert isinstance(expr, ast.RangeAggregation)
    assert expr.grouping == ast.Grouping(("pod",), without=True)


def test_rate_takes_unwrap_or_not() -> None:
    expr = parse_expr('rate({app="api"} | unwrap bytes(size) [1m])')
    assert isinstance(expr, ast.RangeAggregation)
    assert expr.query.unwrap == ast.Unwrap("size", ast.UnwrapConversion.BYTES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'count_over_time({a="b"}[5m]) by (x)',
            "grouping not allowed for count_over_time aggregation",
        ),
        (
            'sum_over_time({a="b"} | unwrap x [5m]) by (x)',
            "grouping not allowed for sum_over_time aggregation",
        ),
        (
            'count_over_time({a="b"} | unwrap x [5m])',
            "invalid aggregation count_over_time with unwrap",
        ),
        (
            'bytes_rate({a="b"} | unwrap x [5m])',
            "invalid aggregation bytes_rate with unwrap",
        ),
        ('avg_over_time({a="b"}[5m])', "invalid aggregation avg_over_time without unwrap"),
        ('rate_counter({a="b"}[5m])', "invalid aggregation rate_counter without unwrap"),
        (
            'quantile_over_time({a="b"} | unwrap x [5m])',
            "parameter required for operation quantile_over_time",
        ),
        (
            'count_over_time(5, {a="b"}[5m])',
            "parameter 5 not supported for operation count_over_time",
        ),
    ],
)
def test_range_aggregation_rules(text: str, message: str) -> None:
    assert _error(text).endswith(message)


def test_range_aggregation_syntax_errors() -> None:
    assert _error('foo_over_time({a="b"}[1m])') == (
        'parse error at line 1, col 1: unknown range aggregation "foo_over_time"'
    )
    assert _error('count_over_time({a="b"})') == (
        'parse error at line 1, col 24: syntax error: unexpected ")", expecting range'
    )
    assert _error('count_over_time({a="b"}[0s])') == (
        "parse error at line 1, col 24: range must be greater than zero, got [0s]"
    )
    assert _error('count_over_time({a="b"}[5x])') == (
        'parse error at line 1, col 24: invalid duration "5x"'
    )
    assert _error('count_over_time({a="b"}[5m') == (
        "parse error at line 1, col 24: missing closing ']' in duration"
    )
    assert _error('{a="b"}[5m]') == (
        "parse error at line 1, col 8: syntax error: unexpected range [5m], expecting end of input"
    )


# ---------------------------------------------------------------- vector aggregations


@pytest.mark.parametrize(
    "text",
    [
        f"sum by (a, b) ({COUNT})",
        f"sum({COUNT}) by (a, b)",
        f"SUM BY (a, b) ({COUNT})",
    ],
)
def test_vector_aggregation_grouping_before_or_after(text: str) -> None:
    assert parse_expr(text) == ast.VectorAggregation(
        ast.VectorOp.SUM, _count(), ast.Grouping(("a", "b"))
    )


def test_vector_aggregation_forms() -> None:
    assert parse_expr(f"avg without (pod) ({COUNT})") == ast.VectorAggregation(
        ast.VectorOp.AVG, _count(), ast.Grouping(("pod",), without=True)
    )
    assert parse_expr(f"count by () ({COUNT})") == ast.VectorAggregation(
        ast.VectorOp.COUNT, _count(), ast.Grouping(())
    )
    assert parse_expr(f"sort_desc({COUNT})") == ast.VectorAggregation(
        ast.VectorOp.SORT_DESC, _count()
    )
    assert parse_expr(f"stddev({COUNT})") == ast.VectorAggregation(ast.VectorOp.STDDEV, _count())


def test_topk_and_bottomk_params() -> None:
    assert parse_expr(f"topk(5, {COUNT})") == ast.VectorAggregation(
        ast.VectorOp.TOPK, _count(), param=5
    )
    assert parse_expr(f"topk by (a) (5, {COUNT})") == ast.VectorAggregation(
        ast.VectorOp.TOPK, _count(), ast.Grouping(("a",)), 5
    )
    assert parse_expr(f"bottomk(2, {COUNT}) without (a)") == ast.VectorAggregation(
        ast.VectorOp.BOTTOMK, _count(), ast.Grouping(("a",), without=True), 2
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"topk({COUNT})", "col 1: parameter required for operation topk"),
        (
            f"topk(0, {COUNT})",
            "col 6: invalid parameter for operation topk: 0 (must be greater than 0)",
        ),
        (
            f"topk(1.5, {COUNT})",
            "col 6: invalid parameter for operation topk: 1.5 (must be an integer)",
        ),
        (f"sum(5, {COUNT})", "col 5: unsupported parameter for operation sum: 5"),
        (f"sum by (a) ({COUNT}) by (b)", "col 47: grouping may be given only once"),
        ('sum({a="b"})', 'col 5: syntax error: unexpected "{", expecting metric expression'),
        (
            "sum(foo)",
            'col 5: syntax error: unexpected identifier "foo", expecting metric expression',
        ),
        ("foo(1)", 'col 1: unknown function "foo"'),
    ],
)
def test_vector_aggregation_errors(text: str, message: str) -> None:
    assert _error(text) == "parse error at line 1, " + message


# ---------------------------------------------------------------- binary operators


def _bin(
    op: ast.BinaryOpKind,
    lhs: ast.MetricExpr,
    rhs: ast.MetricExpr,
    return_bool: bool = False,
    matching: ast.VectorMatching | None = None,
) -> ast.BinaryOp:
    return ast.BinaryOp(op, lhs, rhs, return_bool, matching)


K = ast.BinaryOpKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", _bin(K.ADD, _num(1), _bin(K.MUL, _num(2), _num(3)))),
        ("1 * 2 + 3", _bin(K.ADD, _bin(K.MUL, _num(1), _num(2)), _num(3))),
        ("1 - 2 - 3", _bin(K.SUB, _bin(K.SUB, _num(1), _num(2)), _num(3))),
        ("2 ^ 3 ^ 2", _bin(K.POW, _num(2), _bin(K.POW, _num(3), _num(2)))),
        ("2 * 3 ^ 2", _bin(K.MUL, _num(2), _bin(K.POW, _num(3), _num(2)))),
        ("8 / 4 % 3", _bin(K.MOD, _bin(K.DIV, _num(8), _num(4)), _num(3))),
        ("(1 + 2) * 3", _bin(K.MUL, _bin(K.ADD, _num(1), _num(2)), _num(3))),
        ("2 - -1", _bin(K.SUB, _num(2), _num(-1))),
        ("-1.5e3 + +2", _bin(K.ADD, _num(-1500), _num(2))),
    ],
)
def test_arithmetic_precedence(text: str, expected: ast.BinaryOp) -> None:
    assert parse_expr(text) == expected


def test_comparison_below_arithmetic_and_set_ops_below_comparison() -> None:
    count = _count()
    expected = _bin(
        K.OR,
        _bin(
            K.AND,
            _bin(K.GT, count, _bin(K.ADD, _num(1), _num(2))),
            count,
        ),
        _bin(K.UNLESS, count, count),
    )
    text = f"{COUNT} > 1 + 2 and {COUNT} or {COUNT} unless {COUNT}"
    assert parse_expr(text) == expected


def test_and_and_unless_share_a_level_left_to_right() -> None:
    count = _count()
    expected = _bin(K.AND, _bin(K.UNLESS, count, count), count)
    assert parse_expr(f"{COUNT} unless {COUNT} and {COUNT}") == expected


def test_bool_and_vector_matching() -> None:
    text = f"{COUNT} > bool on (a, b) group_left (c) {COUNT}"
    assert parse_expr(text) == _bin(
        K.GT,
        _count(),
        _count(),
        return_bool=True,
        matching=ast.VectorMatching(True, ("a", "b"), "left", ("c",)),
    )
    text = f"{COUNT} / ignoring (pod) group_right {COUNT}"
    assert parse_expr(text) == _bin(
        K.DIV, _count(), _count(), matching=ast.VectorMatching(False, ("pod",), "right")
    )
    assert parse_expr(f"{COUNT} and on () {COUNT}") == _bin(
        K.AND, _count(), _count(), matching=ast.VectorMatching(True, ())
    )


def test_vector_and_number_operands() -> None:
    assert parse_expr(f"{COUNT} * 2") == _bin(K.MUL, _count(), _num(2))
    assert parse_expr(f"{COUNT} or vector(0)") == _bin(K.OR, _count(), ast.VectorLiteral(0))


def test_scalar_comparisons_are_read_as_bool_like_loki() -> None:
    assert parse_expr("1 > 2") == _bin(K.GT, _num(1), _num(2), return_bool=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{COUNT} + bool {COUNT}", "bool modifier can only be used on comparison operators"),
        (
            f"1 and {COUNT}",
            "unexpected literal for left leg of logical/set binary operation (and): 1.000000",
        ),
        (
            f"{COUNT} or 2",
            "unexpected literal for right leg of logical/set binary operation (or): 2.000000",
        ),
        (f"{COUNT} and on (a) group_left {COUNT}", 'no grouping allowed for "and" operation'),
        (
            f"{COUNT} * on (a) group_left (a) {COUNT}",
            'label "a" must not occur in ON and GROUP clause at once',
        ),
        (f"{COUNT} + on (a) 1", "vector matching only allowed between vectors"),
    ],
)
def test_binary_operator_errors(text: str, message: str) -> None:
    column = 3 if text.startswith("1") else 34
    assert _error(text) == f"parse error at line 1, col {column}: {message}"


def test_log_query_cannot_be_an_operand() -> None:
    assert _error('1 + {a="b"}') == (
        'parse error at line 1, col 5: syntax error: unexpected "{", expecting metric expression'
    )
    assert _error('{a="b"} + 1') == (
        'parse error at line 1, col 9: syntax error: unexpected "+", expecting end of input'
    )


def test_vector_and_label_replace() -> None:
    assert parse_expr("vector(1)") == ast.VectorLiteral(1)
    assert parse_expr("vector(-2.5)") == ast.VectorLiteral(-2.5)
    text = f'label_replace({COUNT}, "dst", "$1-x", "src", "(.*)-y")'
    assert parse_expr(text) == ast.LabelReplace(_count(), "dst", "$1-x", "src", "(.*)-y")


def test_label_replace_errors() -> None:
    assert _error(f'label_replace({COUNT}, "1x", "", "a", ".*")') == (
        "parse error at line 1, col 49: invalid destination label name in label_replace(): 1x"
    )
    assert _error(f'label_replace({COUNT}, "x", "", "a", "(")') == (
        'parse error at line 1, col 63: invalid regular expression "(": '
        "missing ), unterminated subpattern"
    )
    assert _error(f'label_replace({COUNT}, "x", "", "a")') == (
        'parse error at line 1, col 61: syntax error: unexpected ")", expecting ","'
    )


# ---------------------------------------------------------------- whole queries


def test_literal_and_parenthesised_queries() -> None:
    assert parse_metric_query("42") == _num(42)
    assert parse_metric_query(f"(({COUNT}))") == _count()
    assert parse_log_query('({app="api"} |= "x")') == ast.LogQuery(
        SEL, (ast.LineFilter(ast.LineOp.CONTAINS, ("x",)),)
    )


def test_comments_are_ignored() -> None:
    text = '# errors per app\n{app="api"} # the api\n  |= "x#y" # not in the string\n'
    assert parse_log_query(text) == ast.LogQuery(
        SEL, (ast.LineFilter(ast.LineOp.CONTAINS, ("x#y",)),)
    )


def test_keywords_are_case_insensitive_but_labels_are_not() -> None:
    expr = parse_expr('SUM BY (App) (Count_Over_Time({app="api"} | JSON [5m]))')
    assert expr == ast.VectorAggregation(
        ast.VectorOp.SUM,
        _count(ast.LogQuery(SEL, (ast.JsonParser(),))),
        ast.Grouping(("App",)),
    )


def test_function_names_are_labels_outside_calls() -> None:
    assert _filter("rate > 5") == ast.NumberLabelFilter("rate", GT, 5)
    assert _filter('bytes="1"') == ast.StringLabelFilter("bytes", EQ, "1")


def test_errors_point_at_line_and_column() -> None:
    assert _error('{a="b"}\n  | json\n  | x > }') == (
        'parse error at line 3, col 9: syntax error: unexpected "}", '
        "expecting number, duration or bytes"
    )


def test_empty_and_trailing_input() -> None:
    assert _error("") == "parse error at line 1, col 1: syntax error: unexpected end of input"
    assert _error(f"{COUNT} {COUNT}") == (
        'parse error at line 1, col 34: syntax error: unexpected identifier "count_over_time"'
    )


def test_log_and_metric_entry_points_check_the_kind() -> None:
    with pytest.raises(QueryError, match="a log query is required"):
        parse_log_query(COUNT)
    with pytest.raises(QueryError, match="a metric query is required"):
        parse_metric_query('{a="b"}')


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_expr("(" * 5000 + "1" + ")" * 5000)
