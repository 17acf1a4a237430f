"""Span conditions (the inside of `{ }`) as SQL boolean expressions over one span row.

Typing follows Tempo: a string compares with string attributes, a number with int and float
attributes, a boolean with bool attributes; an attribute a span lacks, or holds with another
type, matches nothing but `= nil`. Array attributes match `=`, `=~` and the orderings when an
element does, and `!=`, `!~` when no element does. Regular expressions match the whole value.
"""

from __future__ import annotations

from collections.abc import Callable

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.fields import (
    AttributeSql,
    IntrinsicColumn,
    MapKind,
    intrinsic,
    scope_sql,
)
from observatory.query.traceql.params import SqlParams
from observatory.query.traceql.parser import KIND_CODES, STATUS_CODES

Compare = Callable[[str, str], str]
_REGEX = frozenset({"=~", "!~"})
_EQUALITY = frozenset({"=", "!="})
_POSITIVE = {"!=": "=", "!~": "=~"}
_NUMBER_TYPES = {"int": "Int64", "duration": "Int64", "float": "Float64"}
_STRING_ITEMS = (
    "arrayMap(__x -> JSONExtractString(__x, 'stringValue'), "
    "arrayFilter(__x -> JSONHas(__x, 'stringValue'), {items}))"
)
_NUMBER_ITEMS = (
    "arrayMap(__x -> if(JSONHas(__x, 'intValue'), "
    "toFloat64OrZero(JSONExtractString(__x, 'intValue')), JSONExtractFloat(__x, 'doubleValue')), "
    "arrayFilter(__x -> JSONHas(__x, 'intValue') OR JSONHas(__x, 'doubleValue'), {items}))"
)
_BOOL_ITEMS = (
    "arrayMap(__x -> JSONExtractBool(__x, 'boolValue'), "
    "arrayFilter(__x -> JSONHas(__x, 'boolValue'), {items}))"
)


def invalid(comparison: ast.Comparison, problem: str) -> QueryError:
    return QueryError(
        f"invalid TraceQL query: {comparison.field} {comparison.op} ...: {problem} "
        f"at position {comparison.pos + 1}"
    )


class ConditionCompiler:
    def __init__(self, params: SqlParams) -> None:
        self.params = params
        self.trace_level = False  # whether a condition reads trace_summaries

    def compile(self, condition: ast.Condition) -> str:
        if isinstance(condition, ast.Constant):
            return "1" if condition.value else "0"
        if isinstance(condition, ast.Not):
            return f"(NOT {self.compile(condition.operand)})"
        if isinstance(condition, ast.Logical):
            op = "AND" if condition.op == "&&" else "OR"
            return f"({self.compile(condition.left)} {op} {self.compile(condition.right)})"
        if isinstance(condition.field, ast.Intrinsic):
            return self._intrinsic(condition, intrinsic(condition.field))
        return self._attribute(condition, condition.field)

    # Comparisons of one value

    def _text(self, expr: str, op: str, value: str) -> str:
        if op in _REGEX:
            # Tempo anchors regular expressions at both ends, as PromQL does.
            matched = f"match({expr}, {self.params.text(f'^(?:{value})$')})"
            return matched if op == "=~" else f"NOT {matched}"
        return f"{expr} {op} {self.params.text(value)}"

    def _number(self, comparison: ast.Comparison) -> Compare:
        value = comparison.value
        if comparison.op in _REGEX:
            raise invalid(comparison, "regular expressions match strings only")
        assert isinstance(value.value, int | float)
        placeholder = self.params.add(value.value, _NUMBER_TYPES[value.type])
        return lambda expr, op: f"{expr} {op} {placeholder}"

    def _boolean(self, comparison: ast.Comparison) -> Compare:
        if comparison.op not in _EQUALITY:
            raise invalid(comparison, "booleans compare with = and != only")
        placeholder = self.params.add(bool(comparison.value.value), "Bool")
        return lambda expr, op: f"{expr} {op} {placeholder}"

    # Intrinsics

    def _intrinsic(self, comparison: ast.Comparison, column: IntrinsicColumn) -> str:
        self.trace_level = self.trace_level or column.trace_level
        if comparison.value.type == "nil":
            return self._intrinsic_nil(comparison, column)
        if column.type == "string":
            return self._text(column.sql, comparison.op, self._string_value(comparison))
        if column.type == "event":
            text = self._text(column.sql, comparison.op, self._string_value(comparison))
            return f"arrayExists(__e -> {text}, events)"
        if column.type == "duration":
            return self._duration(comparison, column)
        return self._enum(comparison, column)

    def _intrinsic_nil(self, comparison: ast.Comparison, column: IntrinsicColumn) -> str:
        if comparison.op not in _EQUALITY:
            raise invalid(comparison, "nil compares with = and != only")
        negate = comparison.op == "="
        if column.type == "event":
            return "empty(events)" if negate else "notEmpty(events)"
        if column.type == "string":
            return f"{column.sql} {'=' if negate else '!='} ''"
        return "0" if negate else "1"  # always present

    def _string_value(self, comparison: ast.Comparison) -> str:
        if comparison.value.type != "string":
            raise invalid(comparison, f"{comparison.field} is a string, use a quoted value")
        text = str(comparison.value.value)
        return text.lower() if comparison.field.name.endswith(("id", "ID")) else text

    def _duration(self, comparison: ast.Comparison, column: IntrinsicColumn) -> str:
        if comparison.value.type != "duration":
            raise invalid(comparison, f"{comparison.field} compares with a duration such as 100ms")
        return self._number(comparison)(column.sql, comparison.op)

    def _enum(self, comparison: ast.Comparison, column: IntrinsicColumn) -> str:
        codes = STATUS_CODES if column.type == "status" else KIND_CODES
        if comparison.value.type != column.type or comparison.op not in _EQUALITY:
            names = ", ".join(codes)
            raise invalid(comparison, f"{comparison.field} compares with = or != to one of {names}")
        code = self.params.add(codes[str(comparison.value.value)], "Int8")
        return f"{column.sql} {comparison.op} {code}"

    # Attributes

    def _attribute(self, comparison: ast.Comparison, field: ast.Attribute) -> str:
        scopes = scope_sql(field, self.params)
        if comparison.value.type == "nil":
            if comparison.op not in _EQUALITY:
                raise invalid(comparison, "nil compares with = and != only")
            present = " OR ".join(scope.present() for scope in scopes)
            return f"(NOT ({present}))" if comparison.op == "=" else f"({present})"
        span, *resource = [self._typed(scope, comparison) for scope in scopes]
        if not resource:
            return span
        # Unscoped: the span's attribute wins over the resource's of the same name.
        present = scopes[0].present()
        return f"(({present} AND {span}) OR (NOT {present} AND {resource[0]}))"

    def _typed(self, scope: AttributeSql, comparison: ast.Comparison) -> str:
        kind = comparison.value.type
        if kind == "string":
            return self._string_attribute(scope, comparison)
        if kind in _NUMBER_TYPES:
            compare = self._number(comparison)
            scalar = f"({_scalar(scope, 'int', compare, comparison.op)} OR "
            scalar += f"{_scalar(scope, 'float', compare, comparison.op)})"
            return _with_items(scalar, _NUMBER_ITEMS, scope, compare, comparison.op)
        if kind == "bool":
            compare = self._boolean(comparison)
            scalar = _scalar(scope, "bool", compare, comparison.op)
            return _with_items(scalar, _BOOL_ITEMS, scope, compare, comparison.op)
        raise invalid(comparison, f"{comparison.value.value} compares with the {kind} intrinsic")

    def _string_attribute(self, scope: AttributeSql, comparison: ast.Comparison) -> str:
        value = str(comparison.value.value)

        def compare(expr: str, op: str) -> str:
            return self._text(expr, op, value)

        if scope.is_service_name:
            return f"({compare('service_name', comparison.op)})"
        scalar = _scalar(scope, "string", compare, comparison.op)
        return _with_items(scalar, _STRING_ITEMS, scope, compare, comparison.op)


def _scalar(scope: AttributeSql, kind: MapKind, compare: Compare, op: str) -> str:
    return f"({scope.has(kind)} AND {compare(scope.get(kind), op)})"


def _with_items(scalar: str, template: str, scope: AttributeSql, compare: Compare, op: str) -> str:
    """`scalar` OR the same comparison over the elements of an array value."""
    items = template.format(items=scope.array_items())
    if op in _POSITIVE:
        found = f"arrayExists(__x -> {compare('__x', _POSITIVE[op])}, {items})"
        return f"({scalar} OR (notEmpty({items}) AND NOT {found}))"
    return f"({scalar} OR arrayExists(__x -> {compare('__x', op)}, {items}))"
