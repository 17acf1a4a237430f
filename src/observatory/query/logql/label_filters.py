"""Label filter expressions: `status >= 400`, `latency > 250ms`, `size < 20MB`, `app=~"a.*"`.

String filters compare like Prometheus matchers (a missing label reads as "", regexes match
the whole value). Number, duration and bytes filters convert the label value first: a missing
label drops the entry, a value that does not convert keeps it with
`__error__="LabelFilterErr"`, and once an entry carries an error only string filters can drop
it, as in Loki.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.conversions import parse_bytes, parse_duration_seconds, parse_float
from observatory.query.logql.entry import ERROR_DETAILS_LABEL, ERROR_LABEL
from observatory.query.promql.regex import compile_anchored

LABEL_FILTER_ERROR = "LabelFilterErr"

LabelPredicate = Callable[[dict[str, str]], bool]

_COMPARE: dict[ast.CompareOp, Callable[[float, float], bool]] = {
    ast.CompareOp.EQ: operator.eq,
    ast.CompareOp.NE: operator.ne,
    ast.CompareOp.GT: operator.gt,
    ast.CompareOp.GE: operator.ge,
    ast.CompareOp.LT: operator.lt,
    ast.CompareOp.LE: operator.le,
}


def compile_pattern(value: str) -> re.Pattern[str]:
    """A fully anchored RE2 regex as a Python pattern; QueryError when invalid."""
    try:
        return compile_anchored(value)
    except re.error as exc:
        raise QueryError(f"error parsing regexp: {exc}: `{value}`") from exc


def string_matcher(op: ast.MatchOp, value: str) -> Callable[[str], bool]:
    """The test a Prometheus-style matcher applies to one value."""
    if op is ast.MatchOp.EQ:
        return lambda v: v == value
    if op is ast.MatchOp.NE:
        return lambda v: v != value
    pattern = compile_pattern(value)
    if op is ast.MatchOp.RE:
        return lambda v: pattern.fullmatch(v) is not None
    return lambda v: pattern.fullmatch(v) is None


def _string_filter(node: ast.StringLabelFilter) -> LabelPredicate:
    test, name = string_matcher(node.op, node.value), node.name
    return lambda labels: test(labels.get(name, ""))


def _converting_filter(
    name: str, op: ast.CompareOp, value: float, convert: Callable[[str], float]
) -> LabelPredicate:
    compare = _COMPARE[op]

    def run(labels: dict[str, str]) -> bool:
        if labels.get(ERROR_LABEL):
            return True
        raw = labels.get(name)
        if raw is None:
            return False
        try:
            number = convert(raw)
        except ValueError as exc:
            labels[ERROR_LABEL] = LABEL_FILTER_ERROR
            labels[ERROR_DETAILS_LABEL] = str(exc)
            return True
        return compare(number, value)

    return run


def _and(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    # Both sides run, as in Loki, so the right side may still record a conversion error.
    def run(labels: dict[str, str]) -> bool:
        left_ok = left(labels)
        right_ok = right(labels)
        return left_ok and right_ok

    return run


def _or(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    return lambda labels: left(labels) or right(labels)


def compile_label_filter(expr: ast.LabelFilterExpr) -> LabelPredicate:
    """A predicate on an entry's labels; it may add `__error__` to them."""
    if isinstance(expr, ast.StringLabelFilter):
        return _string_filter(expr)
    if isinstance(expr, ast.NumberLabelFilter):
        return _converting_filter(expr.name, expr.op, expr.value, parse_float)
    if isinstance(expr, ast.DurationLabelFilter):
        return _converting_filter(expr.name, expr.op, expr.value, parse_duration_seconds)
    if isinstance(expr, ast.BytesLabelFilter):
        return _converting_filter(expr.name, expr.op, expr.value, parse_bytes)
    if isinstance(expr, ast.AndFilter):
        return _and(compile_label_filter(expr.left), compile_label_filter(expr.right))
    return _or(compile_label_filter(expr.left), compile_label_filter(expr.right))
