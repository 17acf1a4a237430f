"""The LogQL parser: query text to the syntax tree of `ast`, with Loki's rules and messages.

Hand-written recursive descent; binary operators use precedence climbing with Prometheus'
precedence (`^` > `* / %` > `+ -` > comparisons > `and unless` > `or`). Errors are
`QueryError`s reading `parse error at line L, col C: ...` like Loki's.
"""

from __future__ import annotations

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.lexer import Token, parse_bytes, parse_duration
from observatory.query.logql.log_syntax import LogParser, is_label_name

__all__ = [
    "parse_bytes",
    "parse_duration",
    "parse_expr",
    "parse_log_query",
    "parse_metric_query",
]

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    ">=": 3,
    "<": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
_BINARY_OPS = {kind.value: kind for kind in ast.BinaryOpKind}
_COMPARISONS = frozenset({"==", "!=", ">", ">=", "<", "<="})
_SET_OPS = frozenset({"and", "or", "unless"})
_RANGE_OPS = {op.value: op for op in ast.RangeOp}
_VECTOR_OPS = {op.value: op for op in ast.VectorOp}
# Loki allows `by`/`without` after these range aggregations only.
_GROUPING_RANGE_OPS = frozenset(
    {
        ast.RangeOp.AVG_OVER_TIME,
        ast.RangeOp.STDDEV_OVER_TIME,
        ast.RangeOp.STDVAR_OVER_TIME,
        ast.RangeOp.QUANTILE_OVER_TIME,
        ast.RangeOp.MAX_OVER_TIME,
        ast.RangeOp.MIN_OVER_TIME,
        ast.RangeOp.FIRST_OVER_TIME,
        ast.RangeOp.LAST_OVER_TIME,
    }
)
_METRIC_EXPECTED = "metric expression"
_MAX_NESTING = "query is nested too deeply"


def parse_expr(text: str) -> ast.Expr:
    """A log query or a metric query."""
    parser = MetricParser(text)
    try:
        expr = parser.expr(0)
    except RecursionError:
        raise QueryError(_MAX_NESTING) from None
    if parser.peek().kind != "eof":
        raise parser.unexpected("end of input" if isinstance(expr, ast.LogQuery) else "")
    return expr


def parse_log_query(text: str) -> ast.LogQuery:
    """A log query; a metric query is an error."""
    expr = parse_expr(text)
    if not isinstance(expr, ast.LogQuery):
        raise QueryError("a log query is required, got a metric query")
    return expr


def parse_metric_query(text: str) -> ast.MetricExpr:
    """A metric query; a log query is an error."""
    expr = parse_expr(text)
    if isinstance(expr, ast.LogQuery):
        raise QueryError("a metric query is required, got a log query")
    return expr


def _is_scalar(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.NumberLiteral):
        return True
    return isinstance(expr, ast.BinaryOp) and _is_scalar(expr.lhs) and _is_scalar(expr.rhs)


class MetricParser(LogParser):
    """Metric queries on top of the log-query grammar of `LogParser`."""

    # ------------------------------------------------------------ binary operators

    def expr(self, min_precedence: int) -> ast.Expr:
        lhs = self.unary()
        while not isinstance(lhs, ast.LogQuery):
            op = self.binary_op()
            if op is None or _PRECEDENCE[op] < min_precedence:
                return lhs
            op_token = self.advance()
            return_bool = self.accept_word("bool") is not None
            matching = self.vector_matching()
            # `^` is right-associative: its right side may hold another `^`.
            next_min = _PRECEDENCE[op] if op == "^" else _PRECEDENCE[op] + 1
            rhs_token = self.peek()
            rhs = self.metric(self.expr(next_min), rhs_token)
            lhs = self.binary(op_token, op, lhs, rhs, return_bool, matching)
        return lhs

    def binary_op(self) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in _PRECEDENCE:
            return token.text
        if token.kind == "ident" and token.text.lower() in _SET_OPS:
            return token.text.lower()
        return None

    def metric(self, expr: ast.Expr, start: Token) -> ast.MetricExpr:
        """`expr`, which began at `start`, where only a metric expression may stand."""
        if isinstance(expr, ast.LogQuery):
            raise self.unexpected(_METRIC_EXPECTED, start)
        return expr

    def vector_matching(self) -> ast.VectorMatching | None:
        """`on (a)` / `ignoring (a)`, then optionally `group_left (b)` / `group_right (b)`."""
        if not self.at_word("on", "ignoring"):
            return None
        on = self.advance().text.lower() == "on"
        labels = self.label_list()
        group: str | None = None
        include: tuple[str, ...] = ()
        if self.at_word("group_left", "group_right"):
            group = self.advance().text.lower().removeprefix("group_")
            if self.at_op("("):
                include = self.label_list()
        return ast.VectorMatching(on, labels, group, include)

    def binary(
        self,
        token: Token,
        op: str,
        lhs: ast.MetricExpr,
        rhs: ast.MetricExpr,
        return_bool: bool,
        matching: ast.VectorMatching | None,
    ) -> ast.BinaryOp:
        """The operation, checked as Loki and Prometheus check it."""
        if return_bool and op not in _COMPARISONS:
            raise self.error("bool modifier can only be used on comparison operators", token)
        if op in _SET_OPS:
            self.check_set_operands(token, op, lhs, rhs)
            if matching is not None and matching.group is not None:
                raise self.error(f'no grouping allowed for "{op}" operation', token)
        if _is_scalar(lhs) or _is_scalar(rhs):
            if matching is not None and matching.labels:
                raise self.error("vector matching only allowed between vectors", token)
            matching = None
        if op in _COMPARISONS and _is_scalar(lhs) and _is_scalar(rhs):
            # Loki folds `1 > 2` to 0 at parse time, as if written with `bool`.
            return_bool = True
        if matching is not None and matching.on:
            for label in matching.include:
                if label in matching.labels:
                    message = f'label "{label}" must not occur in ON and GROUP clause at once'
                    raise self.error(message, token)
        return ast.BinaryOp(_BINARY_OPS[op], lhs, rhs, return_bool, matching)

    def check_set_operands(
        self, token: Token, op: str, lhs: ast.MetricExpr, rhs: ast.MetricExpr
    ) -> None:
        for leg, side in (("left", lhs), ("right", rhs)):
            if isinstance(side, ast.NumberLiteral):
                message = (
                    f"unexpected literal for {leg} leg of logical/set binary operation "
                    f"({op}): {side.value:f}"
                )
                raise self.error(message, token)
            if _is_scalar(side):
                message = f"unexpected scalar for {leg} leg of logical/set binary operation ({op})"
                raise self.error(message, token)

    # ------------------------------------------------------------ operands

    def unary(self) -> ast.Expr:
        """An operand: literal, parenthesised expression, log query or function call."""
        token = self.peek()
        if token.kind == "number" or (self.at_op("+", "-") and self.peek(1).kind == "number"):
            return ast.NumberLiteral(self.signed_number())
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.expr(0)
            self.expect_op(")")
            return inner
        if token.kind == "op" and token.text == "{":
            selector = self.selector()
            stages, _ = self.pipeline(allow_unwrap=False)
            return ast.LogQuery(selector, stages)
        if token.kind == "ident":
            return self.call(token)
        raise self.unexpected(_METRIC_EXPECTED if token.kind != "eof" else "")

    def call(self, token: Token) -> ast.MetricExpr:
        name = token.text.lower()
        following = self.peek(1)
        is_call = following.kind == "op" and following.text == "("
        if name in _RANGE_OPS and is_call:
            return self.range_aggregation()
        if name in _VECTOR_OPS and (is_call or self.at_word("by", "without", ahead=1)):
            return self.vector_aggregation()
        if name == "vector" and is_call:
            return self.vector_literal()
        if name == "label_replace" and is_call:
            return self.label_replace()
        if is_call and name.endswith("_over_time"):
            raise self.error(f'unknown range aggregation "{token.text}"', token)
        if is_call:
            raise self.error(f'unknown function "{token.text}"', token)
        raise self.unexpected(_METRIC_EXPECTED)

    def label_list(self) -> tuple[str, ...]:
        """`(a, b)` or `()`."""
        self.expect_op("(")
        labels: list[str] = []
        if not self.at_op(")"):
            labels.append(self.expect_ident())
            while self.accept_op(","):
                labels.append(self.expect_ident())
        if not self.at_op(")"):
            raise self.unexpected('"," or ")"')
        self.advance()
        return tuple(labels)

    def grouping(self) -> ast.Grouping | None:
        if not self.at_word("by", "without"):
            return None
        without = self.advance().text.lower() == "without"
        return ast.Grouping(self.label_list(), without)

    # ------------------------------------------------------------ range aggregations

    def range_aggregation(self) -> ast.RangeAggregation:
        """`op([param,] log-range) [grouping]`, validated as Loki validates it."""
        op_token = self.advance()
        op = _RANGE_OPS[op_token.text.lower()]
        self.expect_op("(")
        param_token = self.peek()
        param = self.optional_param()
        query, range_ns, offset_ns = self.log_range()
        self.expect_op(")")
        grouping = self.grouping()
        if param is not None and op is not ast.RangeOp.QUANTILE_OVER_TIME:
            message = f"parameter {param:g} not supported for operation {op.value}"
            raise self.error(message, param_token)
        if param is None and op is ast.RangeOp.QUANTILE_OVER_TIME:
            raise self.error(f"parameter required for operation {op.value}", op_token)
        self.check_range_op(op_token, op, query, grouping)
        return ast.RangeAggregation(op, query, range_ns, offset_ns, param, grouping)

    def optional_param(self) -> float | None:
        """A leading `number,` argument (`quantile_over_time(0.99, ...)`, `topk(5, ...)`)."""
        signed = self.at_op("+", "-") and self.peek(1).kind == "number"
        comma = 2 if signed else 1
        if (self.peek().kind == "number" or signed) and self.at_op(",", ahead=comma):
            value = self.signed_number()
            self.advance()
            return value
        return None

    def check_range_op(
        self,
        token: Token,
        op: ast.RangeOp,
        query: ast.LogQuery,
        grouping: ast.Grouping | None,
    ) -> None:
        if grouping is not None and op not in _GROUPING_RANGE_OPS:
            raise self.error(f"grouping not allowed for {op.value} aggregation", token)
        if query.unwrap is not None and op in ast.LINE_RANGE_OPS and op is not ast.RangeOp.RATE:
            raise self.error(f"invalid aggregation {op.value} with unwrap", token)
        if query.unwrap is None and op not in ast.LINE_RANGE_OPS:
            raise self.error(f"invalid aggregation {op.value} without unwrap", token)

    def log_range(self) -> tuple[ast.LogQuery, int, int]:
        """A log query with its `[range]` and optional `offset`.

        The range may follow the selector or the pipeline, and the query may be in
        parentheses with the range after them: `({app="a"} | json)[5m]`.
        """
        query, range_ns, offset_ns = self.log_range_body()
        if range_ns is None:
            range_ns = self.range()
            offset_ns = self.offset()
        return query, range_ns, offset_ns

    def log_range_body(self) -> tuple[ast.LogQuery, int | None, int]:
        if self.accept_op("("):
            query, range_ns, offset_ns = self.log_range_body()
            self.expect_op(")")
            if range_ns is None:
                range_ns, offset_ns = self.range(), self.offset()
            return query, range_ns, offset_ns
        if not self.at_op("{"):
            raise self.unexpected("log query")
        selector = self.selector()
        found: int | None = None
        offset = 0
        if self.peek().kind == "range":
            found, offset = self.range(), self.offset()
        stages, unwrap = self.pipeline(allow_unwrap=True)
        if found is None and self.peek().kind == "range":
            found, offset = self.range(), self.offset()
        return ast.LogQuery(selector, stages, unwrap), found, offset

    def range(self) -> int:
        token = self.expect_kind("range", "range")
        if token.ns <= 0:
            raise self.error(f"range must be greater than zero, got {token.text}", token)
        return token.ns

    def offset(self) -> int:
        if not self.accept_word("offset"):
            return 0
        return self.expect_kind("duration", "duration").ns

    # ------------------------------------------------------------ other functions

    def vector_aggregation(self) -> ast.VectorAggregation:
        """`op [grouping] ([param,] expr) [grouping]`."""
        op_token = self.advance()
        op = _VECTOR_OPS[op_token.text.lower()]
        grouping = self.grouping()
        self.expect_op("(")
        param_token = self.peek()
        param = self.optional_param()
        expr_token = self.peek()
        expr = self.metric(self.expr(0), expr_token)
        self.expect_op(")")
        if grouping is None:
            grouping = self.grouping()
        elif self.at_word("by", "without"):
            raise self.error("grouping may be given only once", self.peek())
        self.check_vector_param(op_token, op, param, param_token)
        return ast.VectorAggregation(op, expr, grouping, param)

    def check_vector_param(
        self, token: Token, op: ast.VectorOp, param: float | None, param_token: Token
    ) -> None:
        if op not in (ast.VectorOp.TOPK, ast.VectorOp.BOTTOMK):
            if param is not None:
                message = f"unsupported parameter for operation {op.value}: {param:g}"
                raise self.error(message, param_token)
            return
        if param is None:
            raise self.error(f"parameter required for operation {op.value}", token)
        problem = "" if param.is_integer() else "must be an integer"
        problem = problem or ("must be greater than 0" if param <= 0 else "")
        if problem:
            message = f"invalid parameter for operation {op.value}: {param:g} ({problem})"
            raise self.error(message, param_token)

    def vector_literal(self) -> ast.VectorLiteral:
        """`vector(1)`."""
        self.advance()
        self.expect_op("(")
        if self.peek().kind != "number" and not self.at_op("+", "-"):
            raise self.unexpected("number")
        value = self.signed_number()
        self.expect_op(")")
        return ast.VectorLiteral(value)

    def label_replace(self) -> ast.LabelReplace:
        """`label_replace(expr, "dst", "replacement", "src", "regex")`."""
        self.advance()
        self.expect_op("(")
        expr_token = self.peek()
        expr = self.metric(self.expr(0), expr_token)
        strings: list[Token] = []
        for _ in range(4):
            self.expect_op(",")
            strings.append(self.expect_kind("string", "string"))
        self.expect_op(")")
        destination, replacement, source, regex = strings
        if not is_label_name(destination.string):
            message = f"invalid destination label name in label_replace(): {destination.string}"
            raise self.error(message, destination)
        self.check_regex(regex, anchored=True)
        return ast.LabelReplace(
            expr, destination.string, replacement.string, source.string, regex.string
        )
