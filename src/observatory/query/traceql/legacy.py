"""Tempo's tag-based search (`tags=service.name=gw http.status_code=500`) as TraceQL.

Each `key=value` pair becomes its own spanset filter, joined by `&&`, so the pairs may match
different spans of a trace. A value matches string attributes as written, and int, float or
bool attributes when it reads as one, since logfmt carries no types. `name` is the span name,
`status.code` the span status and `error=true` an error status, as in Tempo.
"""

from __future__ import annotations

import re

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.parser import STATUS_CODES
from observatory.query.traceql.values import unescape

_STATUS_ALIASES = {"0": "unset", "1": "ok", "2": "error", "status_code_error": "error"}
_STATUS_ALIASES |= {"status_code_ok": "ok", "status_code_unset": "unset"}
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_logfmt(text: str) -> list[tuple[str, str]]:
    """`k=v` pairs separated by spaces; a value with spaces goes in double quotes."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        key, value, position = _pair(text, position)
        pairs.append((key, value))
    return pairs


def _pair(text: str, start: int) -> tuple[str, str, int]:
    equals = text.find("=", start)
    key = text[start:equals] if equals >= 0 else ""
    if not key or any(char.isspace() for char in key):
        raise QueryError(f"invalid tags {text!r}: expected key=value at position {start + 1}")
    if text[equals + 1 : equals + 2] == '"':
        return key, *_quoted(text, equals + 1)
    end = equals + 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return key, text[equals + 1 : end], end


def _quoted(text: str, start: int) -> tuple[str, int]:
    end = start + 1
    while end < len(text) and text[end] != '"':
        end += 2 if text[end] == "\\" else 1
    if end >= len(text):
        raise QueryError(f"invalid tags {text!r}: unterminated quote at position {start + 1}")
    try:
        return unescape(text[start + 1 : end]), end + 1
    except ValueError as exc:
        raise QueryError(f"invalid tags {text!r}: {exc}") from None


def tags_query(text: str) -> ast.Query:
    """The TraceQL query of a tag search; `{ }` when there are no tags."""
    filters = [ast.SpansetFilter(tag_condition(k, v)) for k, v in parse_logfmt(text)]
    if not filters:
        return ast.Query(ast.SpansetFilter(ast.Constant(True)))
    root: ast.Spanset = filters[0]
    for spanset in filters[1:]:
        root = ast.SpansetOp("&&", root, spanset)
    return ast.Query(root)


def tag_condition(key: str, value: str) -> ast.Condition:
    if key == "name":
        return ast.Comparison(ast.Intrinsic("name"), "=", ast.Value("string", value))
    if key == "status.code" or (key == "error" and value.lower() == "true"):
        return _status(key, "error" if key == "error" else value)
    field = ast.Attribute("", key)
    condition: ast.Condition = ast.Comparison(field, "=", ast.Value("string", value))
    for typed in _typed_values(value):
        condition = ast.Logical("||", condition, ast.Comparison(field, "=", typed))
    return condition


def _status(key: str, value: str) -> ast.Condition:
    name = _STATUS_ALIASES.get(value.lower(), value.lower())
    if name not in STATUS_CODES:
        raise QueryError(f"invalid tags: {key}={value}: use error, ok or unset")
    return ast.Comparison(ast.Intrinsic("status"), "=", ast.Value("status", name))


def _typed_values(value: str) -> list[ast.Value]:
    if value in ("true", "false"):
        return [ast.Value("bool", value == "true")]
    if _INT.fullmatch(value):
        return [ast.Value("int", int(value))]
    if _FLOAT.fullmatch(value):
        return [ast.Value("float", float(value))]
    return []
