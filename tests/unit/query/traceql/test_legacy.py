"""Tempo's logfmt tag search, translated to TraceQL."""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.legacy import parse_logfmt, tag_condition, tags_query


def test_logfmt_pairs() -> None:
    assert parse_logfmt('service.name=gw  http.url="/a b" empty= q="say \\"hi\\""') == [
        ("service.name", "gw"),
        ("http.url", "/a b"),
        ("empty", ""),
        ("q", 'say "hi"'),
    ]
    assert parse_logfmt("   ") == []


@pytest.mark.parametrize("text", ["novalue", "=x", 'a="open', 'a="\\q"'])
def test_bad_logfmt(text: str) -> None:
    with pytest.raises(QueryError, match="invalid tags"):
        parse_logfmt(text)


def _eq(field: ast.Field, kind: ast.ValueType, value: object) -> ast.Comparison:
    return ast.Comparison(field, "=", ast.Value(kind, value))  # type: ignore[arg-type]


def test_values_match_every_type_they_read_as() -> None:
    code = ast.Attribute("", "http.status_code")
    assert tag_condition("http.status_code", "500") == ast.Logical(
        "||", _eq(code, "string", "500"), _eq(code, "int", 500)
    )
    ratio = ast.Attribute("", "ratio")
    assert tag_condition("ratio", "0.5") == ast.Logical(
        "||", _eq(ratio, "string", "0.5"), _eq(ratio, "float", 0.5)
    )
    hit = ast.Attribute("", "hit")
    assert tag_condition("hit", "true") == ast.Logical(
        "||", _eq(hit, "string", "true"), _eq(hit, "bool", True)
    )
    assert tag_condition("model", "nan") == _eq(ast.Attribute("", "model"), "string", "nan")


def test_special_tags() -> None:
    assert tag_condition("name", "GET") == _eq(ast.Intrinsic("name"), "string", "GET")
    error = _eq(ast.Intrinsic("status"), "status", "error")
    assert tag_condition("error", "true") == error
    assert tag_condition("status.code", "2") == error
    assert tag_condition("status.code", "STATUS_CODE_ERROR") == error
    with pytest.raises(QueryError, match="use error, ok or unset"):
        tag_condition("status.code", "broken")


def test_each_tag_is_its_own_spanset() -> None:
    query = tags_query("a=1 b=x")
    assert isinstance(query.root, ast.SpansetOp) and query.root.op == "&&"
    assert tags_query("").root == ast.SpansetFilter(ast.Constant(True))
