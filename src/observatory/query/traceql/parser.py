"""A recursive-descent parser for TraceQL search queries.

Precedence follows Tempo's grammar: `|` binds loosest, then `||`, then `&&`, then the
structural operators; inside `{ }`, `||` is looser than `&&`, which is looser than `!` and the
comparisons.
"""

from __future__ import annotations

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.lexer import Token, syntax_error, tokenize

STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
KIND_CODES = {
    "unspecified": 0,
    "internal": 1,
    "server": 2,
    "client": 3,
    "producer": 4,
    "consumer": 5,
}
UNSCOPED_INTRINSICS = frozenset(
    {"name", "status", "statusMessage", "kind", "duration"}
    | {"rootName", "rootServiceName", "traceDuration"}
)
SCOPED_INTRINSICS = {
    "span:name": "name",
    "span:status": "status",
    "span:statusMessage": "statusMessage",
    "span:kind": "kind",
    "span:duration": "duration",
    "span:id": "span:id",
    "span:parentID": "span:parentID",
    "trace:duration": "traceDuration",
    "trace:rootName": "rootName",
    "trace:rootService": "rootServiceName",
    "trace:id": "trace:id",
    "event:name": "event:name",
    "instrumentation:name": "instrumentation:name",
    "instrumentation:version": "instrumentation:version",
}
_CONSTANTS: dict[str, ast.Value] = {
    "true": ast.Value("bool", True),
    "false": ast.Value("bool", False),
    "nil": ast.Value("nil", None),
    "minInt": ast.Value("int", -(2**63)),
    "maxInt": ast.Value("int", 2**63 - 1),
}
_FLIPPED = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_STAGE_KEYWORDS = frozenset({"select", "by", "coalesce"})
_ATTRIBUTE_SCOPES: dict[str, ast.AttributeScope] = {"span": "span", "resource": "resource", "": ""}
_NUMERIC: dict[str, ast.ValueType] = {"int": "int", "float": "float", "duration": "duration"}


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    # Token helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.token
        if token.kind != "eof":
            self.index += 1
        return token

    def _at(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def _at_word(self, word: str) -> bool:
        return self.token.kind == "ident" and self.token.text == word

    def _expect(self, op: str) -> Token:
        if not self._at(op):
            raise self._error(f"expected {op!r}")
        return self._advance()

    def _error(self, expectation: str) -> QueryError:
        found = self.token.text or "end of query"
        return syntax_error(f"{expectation}, found {found!r}", self.token.pos)

    # Queries and pipelines

    def _at_end(self) -> bool:
        return self.token.kind == "eof"

    def query(self) -> ast.Query:
        if self._at_end():
            raise syntax_error("empty query; use { } for every span", 0)
        root = self.pipeline()
        hints = self._hints() if self._at_word("with") else ()
        if not self._at_end():
            raise self._error("expected end of query")
        return ast.Query(root, hints)

    def pipeline(self) -> ast.Spanset:
        source = self.spanset_or()
        stages: list[ast.Stage] = []
        while self._at("|"):
            self._advance()
            stage = self._stage()
            if stage is not None:
                stages.append(stage)
        return ast.Pipeline(source, tuple(stages)) if stages else source

    def _stage(self) -> ast.Stage | None:
        if self.token.kind == "ident" and self.token.text in _STAGE_KEYWORDS:
            return self._keyword_stage()
        if self._at("{", "("):
            return self.spanset_or()
        return self._scalar_filter()

    def _keyword_stage(self) -> ast.Select | None:
        word = self._advance()
        self._expect("(")
        if word.text == "by":
            raise syntax_error("by() grouping is not supported", word.pos)
        fields = self._field_list() if word.text == "select" else ()
        self._expect(")")
        return ast.Select(fields) if word.text == "select" else None

    def _field_list(self) -> tuple[ast.Field, ...]:
        fields = [self._field()]
        while self._at(","):
            self._advance()
            fields.append(self._field())
        return tuple(fields)

    def _hints(self) -> tuple[tuple[str, ast.Value], ...]:
        self._advance()
        self._expect("(")
        hints = [self._hint()]
        while self._at(","):
            self._advance()
            hints.append(self._hint())
        self._expect(")")
        return tuple(hints)

    def _hint(self) -> tuple[str, ast.Value]:
        if self.token.kind != "ident":
            raise self._error("expected a hint name")
        name = self._advance().text
        self._expect("=")
        return name, self._value()

    # Scalar filters

    def _scalar_filter(self) -> ast.ScalarFilter:
        left = self._scalar()
        if not self._at(*_FLIPPED):
            raise self._error("expected a comparison after the aggregate")
        op = self._advance().text
        right = self._scalar()
        if isinstance(left, ast.Value) and isinstance(right, ast.Value):
            raise self._error("expected an aggregate such as count() in the comparison")
        return ast.ScalarFilter(op, left, right)

    def _scalar(self) -> ast.Aggregate | ast.Value:
        if self.token.kind == "ident" and self.token.text in ast.AGGREGATES:
            return self._aggregate()
        return self._value()

    def _aggregate(self) -> ast.Aggregate:
        func = self._advance()
        self._expect("(")
        if func.text == "count":
            self._expect(")")
            return ast.Aggregate("count", None)
        if self._at(")"):
            raise syntax_error(
                f"{func.text}() needs a field, as in {func.text}(duration)", func.pos
            )
        target = self._field()
        self._expect(")")
        return ast.Aggregate(func.text, target)

    # Spanset expressions

    def spanset_or(self) -> ast.Spanset:
        left = self.spanset_and()
        while self._at("||"):
            self._advance()
            left = ast.SpansetOp("||", left, self.spanset_and())
        return left

    def spanset_and(self) -> ast.Spanset:
        left = self.spanset_structural()
        while self._at("&&"):
            self._advance()
            left = ast.SpansetOp("&&", left, self.spanset_structural())
        return left

    def spanset_structural(self) -> ast.Spanset:
        left = self._spanset_primary()
        while self.token.kind == "op" and self.token.text in ast.STRUCTURAL:
            op = self._advance().text
            left = ast.SpansetOp(op, left, self._spanset_primary())
        return left

    def _spanset_primary(self) -> ast.Spanset:
        if self._at("("):
            self._advance()
            inner = self.pipeline()
            self._expect(")")
            return inner
        self._expect("{")
        if self._at("}"):
            self._advance()
            return ast.SpansetFilter(ast.Constant(True))
        condition = self.condition_or()
        self._expect("}")
        return ast.SpansetFilter(condition)

    # Span conditions

    def condition_or(self) -> ast.Condition:
        left = self._condition_and()
        while self._at("||"):
            self._advance()
            left = ast.Logical("||", left, self._condition_and())
        return left

    def _condition_and(self) -> ast.Condition:
        left = self._condition_not()
        while self._at("&&"):
            self._advance()
            left = ast.Logical("&&", left, self._condition_not())
        return left

    def _condition_not(self) -> ast.Condition:
        if self._at("!"):
            self._advance()
            return ast.Not(self._condition_not())
        if self._at("("):
            self._advance()
            inner = self.condition_or()
            self._expect(")")
            return inner
        return self._comparison()

    def _comparison(self) -> ast.Condition:
        start = self.token
        left = self._operand()
        if not (self.token.kind == "op" and self.token.text in ast.COMPARISONS):
            return _bare(left, start)
        op = self._advance()
        right = self._operand()
        return _compare(left, op, right, start.pos)

    def _operand(self) -> ast.Field | ast.Value:
        if self.token.kind in ("attribute", "intrinsic"):
            return self._field()
        if self.token.kind == "ident" and self.token.text in UNSCOPED_INTRINSICS:
            return self._field()
        return self._value()

    def _field(self) -> ast.Field:
        token = self._advance()
        if token.kind == "attribute":
            return _attribute(token)
        if token.kind == "intrinsic":
            return _scoped_intrinsic(token)
        if token.kind == "ident" and token.text in UNSCOPED_INTRINSICS:
            return ast.Intrinsic(token.text)
        raise syntax_error(f"expected an attribute or intrinsic, found {token.text!r}", token.pos)

    def _value(self) -> ast.Value:
        token = self._advance()
        if token.kind == "op" and token.text == "-":
            return _negate(self._advance())
        if token.kind == "string":
            return ast.Value("string", str(token.value))
        kind = _NUMERIC.get(token.kind)
        if kind is not None and isinstance(token.value, int | float):
            return ast.Value(kind, token.value)
        if token.kind == "ident":
            return _keyword_value(token)
        raise syntax_error(f"expected a value, found {token.text or 'end of query'!r}", token.pos)


def _attribute(token: Token) -> ast.Attribute:
    scope = _ATTRIBUTE_SCOPES.get(token.scope)
    if scope is None:
        raise syntax_error(f"{token.scope} attributes are not supported", token.pos)
    return ast.Attribute(scope, str(token.value))


def _scoped_intrinsic(token: Token) -> ast.Intrinsic:
    canonical = SCOPED_INTRINSICS.get(token.text)
    if canonical is None:
        raise syntax_error(f"intrinsic {token.text} is not supported", token.pos)
    return ast.Intrinsic(canonical)


def _keyword_value(token: Token) -> ast.Value:
    if token.text in _CONSTANTS:
        return _CONSTANTS[token.text]
    if token.text in STATUS_CODES:
        return ast.Value("status", token.text)
    if token.text in KIND_CODES:
        return ast.Value("kind", token.text)
    raise syntax_error(f"unknown value {token.text!r}; strings need double quotes", token.pos)


def _negate(token: Token) -> ast.Value:
    kind = _NUMERIC.get(token.kind)
    if kind is None or not isinstance(token.value, int | float):
        raise syntax_error("expected a number after '-'", token.pos)
    return ast.Value(kind, -token.value)


def _bare(operand: ast.Field | ast.Value, token: Token) -> ast.Condition:
    """An operand alone: `true`/`false`, or a boolean attribute meaning `= true`."""
    if isinstance(operand, ast.Value) and operand.type == "bool":
        return ast.Constant(bool(operand.value))
    if isinstance(operand, ast.Attribute):
        return ast.Comparison(operand, "=", ast.Value("bool", True), token.pos)
    raise syntax_error(f"expected a comparison after {token.text!r}", token.pos)


def _compare(
    left: ast.Field | ast.Value, op: Token, right: ast.Field | ast.Value, pos: int
) -> ast.Condition:
    if isinstance(left, ast.Value) == isinstance(right, ast.Value):
        raise syntax_error(f"{op.text} compares a field with a value", op.pos)
    if isinstance(right, ast.Value):
        assert not isinstance(left, ast.Value)
        return ast.Comparison(left, op.text, right, pos)
    if op.text not in _FLIPPED:
        raise syntax_error(f"the regular expression of {op.text} must be on the right", op.pos)
    assert isinstance(left, ast.Value)
    return ast.Comparison(right, _FLIPPED[op.text], left, pos)


def parse(text: str) -> ast.Query:
    """The syntax tree of a TraceQL search query; QueryError naming the problem if invalid."""
    return Parser(text).query()


def parse_condition(text: str) -> ast.Condition | None:
    """The condition of a lone spanset filter (`{ ... }`), None for `{ }` or anything else."""
    root = parse(text).root
    if isinstance(root, ast.SpansetFilter) and not isinstance(root.condition, ast.Constant):
        return root.condition
    return None


def parse_field(text: str) -> ast.Field:
    """A lone TraceQL field, as the v2 tag values API names it: `.x`, `span.x`, `span:name`."""
    parser = Parser(text)
    found = parser._field()
    if not parser._at_end():
        raise parser._error("expected end of the field name")
    return found
