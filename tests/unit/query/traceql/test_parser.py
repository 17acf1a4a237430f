"""Tokens, literals and syntax trees of TraceQL, and errors that point at the problem."""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.lexer import tokenize
from observatory.query.traceql.parser import parse, parse_condition, parse_field
from observatory.query.traceql.values import parse_duration_ns, unescape

A = ast.SpansetFilter(ast.Comparison(ast.Attribute("", "a"), "=", ast.Value("int", 1)))
B = ast.SpansetFilter(ast.Comparison(ast.Attribute("", "b"), "=", ast.Value("int", 2)))
C = ast.SpansetFilter(ast.Comparison(ast.Attribute("", "c"), "=", ast.Value("int", 3)))
ALL = ast.SpansetFilter(ast.Constant(True))


def _root(text: str) -> ast.Spanset:
    return parse(text).root


def _condition(text: str) -> ast.Condition:
    found = parse_condition("{ " + text + " }")
    assert found is not None
    return found


def _value(text: str) -> ast.Value:
    condition = _condition(f".x = {text}")
    assert isinstance(condition, ast.Comparison)
    return condition.value


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("1ns", 1),
        ("2us", 2_000),
        ("3µs", 3_000),
        ("3μs", 3_000),
        ("1.5ms", 1_500_000),
        ("2s", 2 * 10**9),
        ("1m30s", 90 * 10**9),
        ("1h", 3600 * 10**9),
        (".5s", 5 * 10**8),
        ("-1s", -(10**9)),
        ("0", 0),
    ],
)
def test_go_durations(text: str, nanoseconds: int) -> None:
    assert parse_duration_ns(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "1", "s", "1d", "1.5.5s", "1s-", "9999999999h"])
def test_invalid_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_ns(text)


def test_string_escapes() -> None:
    assert unescape(r"a\"b\\c\nd\te") == 'a"b\\c\nd\te'
    with pytest.raises(ValueError):
        unescape(r"\q")


def test_tokens() -> None:
    kinds = [(t.kind, t.text) for t in tokenize('{.a>=-1&&span:name!~"x"}>>{}')]
    assert kinds == [
        ("op", "{"),
        ("attribute", ".a"),
        ("op", ">="),
        ("op", "-"),
        ("int", "1"),
        ("op", "&&"),
        ("intrinsic", "span:name"),
        ("op", "!~"),
        ("string", '"x"'),
        ("op", "}"),
        ("op", ">>"),
        ("op", "{"),
        ("op", "}"),
        ("eof", ""),
    ]


@pytest.mark.parametrize(
    ("text", "scope", "name"),
    [
        ("span.http.status_code", "span", "http.status_code"),
        ("resource.service.name", "resource", "service.name"),
        (".http.response.header.content-type", "", "http.response.header.content-type"),
        ('span."attribute name with space"', "span", "attribute name with space"),
        ('span.attribute."a \\"q\\""', "span", 'attribute.a "q"'),
        ('."0x"', "", "0x"),
    ],
)
def test_attribute_names(text: str, scope: str, name: str) -> None:
    assert parse_field(text) == ast.Attribute(scope, name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("name", "name"),
        ("span:name", "name"),
        ("span:status", "status"),
        ("span:duration", "duration"),
        ("trace:duration", "traceDuration"),
        ("trace:rootService", "rootServiceName"),
        ("trace:rootName", "rootName"),
        ("rootServiceName", "rootServiceName"),
        ("span:id", "span:id"),
        ("event:name", "event:name"),
        ("instrumentation:name", "instrumentation:name"),
    ],
)
def test_intrinsics(text: str, canonical: str) -> None:
    assert parse_field(text) == ast.Intrinsic(canonical)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"llama"', ast.Value("string", "llama")),
        ("`raw\\d`", ast.Value("string", "raw\\d")),
        ("42", ast.Value("int", 42)),
        ("-42", ast.Value("int", -42)),
        ("1.5", ast.Value("float", 1.5)),
        ("-2.5e3", ast.Value("float", -2500.0)),
        ("150ms", ast.Value("duration", 150_000_000)),
        ("true", ast.Value("bool", True)),
        ("false", ast.Value("bool", False)),
        ("nil", ast.Value("nil", None)),
        ("error", ast.Value("status", "error")),
        ("unset", ast.Value("status", "unset")),
        ("consumer", ast.Value("kind", "consumer")),
        ("minInt", ast.Value("int", -(2**63))),
        ("maxInt", ast.Value("int", 2**63 - 1)),
    ],
)
def test_values(text: str, value: ast.Value) -> None:
    assert _value(text) == value


def test_spanset_precedence() -> None:
    assert _root("{.a=1} || {.b=2} && {.c=3}") == ast.SpansetOp("||", A, ast.SpansetOp("&&", B, C))
    assert _root("{.a=1} && {.b=2} > {.c=3}") == ast.SpansetOp("&&", A, ast.SpansetOp(">", B, C))
    assert _root("{.a=1} > {.b=2} >> {.c=3}") == ast.SpansetOp(">>", ast.SpansetOp(">", A, B), C)
    assert _root("({.a=1} || {.b=2}) && {.c=3}") == ast.SpansetOp(
        "&&", ast.SpansetOp("||", A, B), C
    )


def test_every_structural_operator_parses() -> None:
    for op in ast.STRUCTURAL:
        assert _root(f"{{.a=1}} {op} {{.b=2}}") == ast.SpansetOp(op, A, B)


def test_pipelines_bind_loosest() -> None:
    count = ast.ScalarFilter(">", ast.Aggregate("count", None), ast.Value("int", 1))
    assert _root("{.a=1} && {.b=2} | count() > 1") == ast.Pipeline(
        ast.SpansetOp("&&", A, B), (count,)
    )
    assert _root("({.a=1} | count() > 1) && {.b=2}") == ast.SpansetOp(
        "&&", ast.Pipeline(A, (count,)), B
    )
    avg = ast.ScalarFilter(
        "<", ast.Value("duration", 10**9), ast.Aggregate("avg", ast.Intrinsic("duration"))
    )
    select = ast.Select((ast.Attribute("span", "x"), ast.Intrinsic("name")))
    assert _root("{ } | 1s < avg(duration) | select(span.x, name) | coalesce() | {.a=1}") == (
        ast.Pipeline(ALL, (avg, select, A))
    )


def test_condition_precedence_and_shorthands() -> None:
    a = ast.Comparison(ast.Attribute("", "a"), "=", ast.Value("int", 1))
    flag = ast.Comparison(ast.Attribute("span", "flag"), "=", ast.Value("bool", True))
    kind = ast.Comparison(ast.Intrinsic("kind"), "=", ast.Value("kind", "server"))
    assert _condition(".a = 1 || span.flag && kind = server") == ast.Logical(
        "||", a, ast.Logical("&&", flag, kind)
    )
    assert _condition("!(.a = 1) && span.flag") == ast.Logical("&&", ast.Not(a), flag)
    flipped = _condition("1 < span.x")
    assert flipped == ast.Comparison(ast.Attribute("span", "x"), ">", ast.Value("int", 1))
    assert parse("{ true }").root == ast.SpansetFilter(ast.Constant(True))
    assert parse_condition("{ }") is None
    assert parse_condition("{ .a = 1 } >> { }") is None


def test_hints_are_accepted() -> None:
    query = parse("{ } with (most_recent = true, sample = 0.1)")
    assert query.hints == (
        ("most_recent", ast.Value("bool", True)),
        ("sample", ast.Value("float", 0.1)),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty query"),
        ("{", "expected a value, found 'end of query' at position 2"),
        ("{ .a = }", "expected a value, found '}' at position 8"),
        ("{ .a = llama }", "unknown value 'llama'; strings need double quotes at position 8"),
        ('{ .a = "x }', "unterminated string at position 8"),
        ("{ .a = 1 } extra", "expected end of query, found 'extra' at position 12"),
        ("{ .a = 1 } | by(.a)", "by() grouping is not supported at position 14"),
        ("{ event.x = 1 }", "event attributes are not supported at position 3"),
        ("{ span:childCount > 1 }", "intrinsic span:childCount is not supported"),
        ("{ .a = .b }", "= compares a field with a value at position 6"),
        ('{ "x" =~ .a }', "regular expression of =~ must be on the right"),
        ("{ } | count()", "expected a comparison after the aggregate"),
        ("{ } | avg() > 1", "avg() needs a field"),
        ("{ } | 1 > 2", "expected an aggregate"),
        ("count() > 1", "expected '{', found 'count' at position 1"),
        ("{ name }", "expected a comparison after 'name'"),
        ("{ .a = - }", "expected a number after '-'"),
        ("{ .a = 1 } # x", "unexpected character '#' at position 12"),
        ('{ .a = "\\q" }', "unknown escape sequence"),
    ],
)
def test_errors_name_the_problem_and_position(text: str, message: str) -> None:
    with pytest.raises(QueryError, match="invalid TraceQL query") as caught:
        parse(text)
    assert message in str(caught.value)
