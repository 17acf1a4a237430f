"""Typed syntax tree built once from promql_parser's nodes.

Converting up front keeps the evaluator free of the parser's quirks: `@` timestamps are read from
the node's text form (reading the datetime attribute aborts the process for times before 1970),
selector names become `__name__` matchers, and every duration is whole milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import promql_parser

from observatory.errors import QueryError
from observatory.query.promql.labels import METRIC_NAME
from observatory.query.promql.source import LabelMatcher

ValueType = Literal["vector", "scalar", "matrix", "string"]
_MS = timedelta(milliseconds=1)
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~"}
_CARDS = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}
SET_OPS = frozenset({"and", "or", "unless"})
COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})


@dataclass(frozen=True)
class At:
    kind: Literal["at", "start", "end"]
    ms: int = 0


@dataclass(frozen=True)
class VectorSel:
    matchers: tuple[LabelMatcher, ...]
    or_groups: tuple[tuple[LabelMatcher, ...], ...]
    offset_ms: int
    at: At | None


@dataclass(frozen=True)
class MatrixSel:
    selector: VectorSel
    range_ms: int


@dataclass(frozen=True)
class Subquery:
    expr: Node
    range_ms: int
    step_ms: int  # 0 when the query leaves it to the default
    offset_ms: int
    at: At | None


@dataclass(frozen=True)
class NumberLit:
    value: float


@dataclass(frozen=True)
class StringLit:
    value: str
    # The literal as written when its escapes spell bytes that are not UTF-8 ("\xff"): Go keeps
    # those bytes and rejects them as label names, the parser we use turns them into characters.
    invalid_utf8: str | None = None


@dataclass(frozen=True)
class Paren:
    expr: Node


@dataclass(frozen=True)
class Negate:
    expr: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    return_type: ValueType


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Node
    param: Node | None
    without: bool
    grouping: tuple[str, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool
    card: str
    on: bool | None  # None: neither on() nor ignoring() was written
    matching: tuple[str, ...]
    include: tuple[str, ...]


Node = (
    VectorSel
    | MatrixSel
    | Subquery
    | NumberLit
    | StringLit
    | Paren
    | Negate
    | Call
    | Aggregate
    | Binary
)


def parse(text: str) -> Node:
    """Parses a PromQL expression; syntax and type errors become QueryError (bad_data)."""
    try:
        raw = promql_parser.parse(text)
    except ValueError as exc:
        raise QueryError(f"parse error: {exc}") from exc
    # promql_parser cannot represent `@` times before 1970: refuse rather than answer wrongly.
    if re.search(r"@\s*-", _QUOTED.sub('""', text.replace("`", '"'))):
        raise QueryError("@ modifier timestamps before 1970 are not supported")
    return convert(raw, _invalid_utf8_literals(text))


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _decode_both(body: str) -> tuple[bytes, str]:
    """A literal's body as Go decodes it (bytes) and as promql_parser does (text)."""
    raw, text = bytearray(), []
    i = 0
    while i < len(body):
        if body[i] == "\\" and body[i + 1 : i + 2] == "x":
            byte = int(body[i + 2 : i + 4], 16)
            raw.append(byte)
            text.append(chr(byte))
            i += 4
            continue
        if body[i] == "\\":
            char = _ESCAPES.get(body[i + 1 : i + 2], body[i + 1 : i + 2])
            i += 2
        else:
            char = body[i]
            i += 1
        raw += char.encode()
        text.append(char)
    return bytes(raw), "".join(text)


def _invalid_utf8_literals(text: str) -> dict[str, str]:
    """Parsed value -> source text of the string literals Go would read as invalid UTF-8."""
    found: dict[str, str] = {}
    for m in _QUOTED.finditer(text):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        if "\\x" not in body:
            continue
        raw, decoded = _decode_both(body)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            found[decoded] = m.group(0)
    return found


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else delta // _MS


def _at(raw: Any) -> At | None:
    if raw is None:
        return None
    text = str(raw).removeprefix("@").strip()
    if text == "start()":
        return At("start")
    if text == "end()":
        return At("end")
    return At("at", round(float(text) * 1000))


def _matcher(raw: Any) -> LabelMatcher:
    op = _MATCH_OPS.get(str(raw.op), "!~")
    return LabelMatcher(str(raw.name), op, str(raw.value))


def _selector(raw: Any) -> VectorSel:
    matchers = [_matcher(m) for m in raw.matchers.matchers]
    if raw.name is not None:
        matchers.insert(0, LabelMatcher(METRIC_NAME, "=", str(raw.name)))
    groups = tuple(tuple(_matcher(m) for m in group) for group in raw.matchers.or_matchers)
    return VectorSel(tuple(matchers), groups, _ms(raw.offset), _at(raw.at))


def _value_type(raw: Any) -> ValueType:
    name = str(raw).removeprefix("ValueType.").lower()
    if name not in ("vector", "scalar", "matrix", "string"):
        raise QueryError(f"unsupported value type {name}")
    return name  # type: ignore[return-value]


def _aggregate(raw: Any) -> Aggregate:
    modifier = raw.modifier
    without = modifier is not None and str(modifier.type).endswith("Without")
    grouping = tuple(modifier.labels) if modifier is not None else ()
    param = convert(raw.param) if raw.param is not None else None
    return Aggregate(str(raw.op).lower(), convert(raw.expr), param, without, grouping)


def _binary(raw: Any) -> Binary:
    op = str(raw.op).lower()
    mod = raw.modifier
    lhs, rhs = convert(raw.lhs), convert(raw.rhs)
    if mod is None:
        card = "many-to-many" if op in SET_OPS else "one-to-one"
        return Binary(op, lhs, rhs, False, card, None, (), ())
    fill = mod.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise QueryError("fill modifiers for binary operators are not supported")
    matching = mod.matching
    on = None if matching is None else str(matching.type).endswith("Include")
    labels = () if matching is None else tuple(matching.labels)
    include = tuple(mod.group_labels or ())
    card = _CARDS[str(mod.card)]
    return Binary(op, lhs, rhs, bool(mod.return_bool), card, on, labels, include)


def convert(raw: Any, invalid: dict[str, str] | None = None) -> Node:
    """Converts one promql_parser node (and its children) into this module's nodes."""
    node = _convert(raw)
    return _mark_invalid(node, invalid) if invalid else node


def _mark_invalid(node: Node, invalid: dict[str, str]) -> Node:
    if isinstance(node, StringLit):
        return StringLit(node.value, invalid.get(node.value))
    if isinstance(node, Paren):
        return Paren(_mark_invalid(node.expr, invalid))
    if isinstance(node, Call):
        args = tuple(_mark_invalid(a, invalid) for a in node.args)
        return Call(node.name, args, node.return_type)
    if isinstance(node, Aggregate) and node.param is not None:
        param = _mark_invalid(node.param, invalid)
        return Aggregate(node.op, node.expr, param, node.without, node.grouping)
    return node


def _convert(raw: Any) -> Node:
    kind = type(raw).__name__
    if kind == "VectorSelector":
        return _selector(raw)
    if kind == "MatrixSelector":
        return MatrixSel(_selector(raw.vector_selector), _ms(raw.range))
    if kind == "SubqueryExpr":
        expr = convert(raw.expr)
        return Subquery(expr, _ms(raw.range), _ms(raw.step), _ms(raw.offset), _at(raw.at))
    if kind == "NumberLiteral":
        return NumberLit(float(raw.val))
    if kind == "StringLiteral":
        return StringLit(str(raw.val))
    if kind == "ParenExpr":
        return Paren(convert(raw.expr))
    if kind == "UnaryExpr":
        return Negate(convert(raw.expr))
    if kind == "Call":
        args = tuple(convert(a) for a in raw.args)
        return Call(str(raw.func.name), args, _value_type(raw.func.return_type))
    if kind == "AggregateExpr":
        return _aggregate(raw)
    if kind == "BinaryExpr":
        return _binary(raw)
    raise QueryError(f"unsupported expression node {kind}")


def value_type(node: Node) -> ValueType:
    """The PromQL type an expression evaluates to."""
    if isinstance(node, VectorSel | Aggregate):
        return "vector"
    if isinstance(node, MatrixSel | Subquery):
        return "matrix"
    if isinstance(node, NumberLit):
        return "scalar"
    if isinstance(node, StringLit):
        return "string"
    if isinstance(node, Paren | Negate):
        return value_type(node.expr)
    if isinstance(node, Call):
        return node.return_type
    both_scalar = value_type(node.lhs) == "scalar" and value_type(node.rhs) == "scalar"
    return "scalar" if both_scalar else "vector"


def unwrap_parens(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.expr
    return node
