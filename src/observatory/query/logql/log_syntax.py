"""The log-query half of the LogQL grammar: stream selectors, line filters and pipeline stages.

Words are keywords only where the grammar expects one, so a label called `json` or `rate`
can still be filtered on (`| json = "x"`), which Loki's lexer does not allow.
"""

from __future__ import annotations

import re

from observatory.query.logql import ast
from observatory.query.logql.lexer import PARSER_FLAGS, Token, TokenStream
from observatory.query.promql.regex import compile_anchored, translate

LINE_FILTER_OPS = {op.value: op for op in ast.LineOp}
MATCH_OPS = {op.value: op for op in ast.MatchOp}
COMPARE_OPS = {
    "=": ast.CompareOp.EQ,
    "==": ast.CompareOp.EQ,
    "!=": ast.CompareOp.NE,
    ">": ast.CompareOp.GT,
    ">=": ast.CompareOp.GE,
    "<": ast.CompareOp.LT,
    "<=": ast.CompareOp.LE,
}
LABEL_FILTER_OPS = frozenset(COMPARE_OPS) | frozenset(MATCH_OPS)
UNWRAP_CONVERSIONS = {
    "duration": ast.UnwrapConversion.DURATION,
    "duration_seconds": ast.UnwrapConversion.DURATION,
    "bytes": ast.UnwrapConversion.BYTES,
}
_STAGE_WORDS = frozenset(
    {"json", "logfmt", "regexp", "pattern", "unpack", "decolorize", "line_format"}
    | {"label_format", "drop", "keep", "unwrap"}
)
_EMPTY_COMPATIBLE = (
    "queries require at least one regexp or equality matcher that does not have an "
    'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
    'but app=~".+" will'
)
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def matches_empty(matcher: ast.Matcher) -> bool:
    """Whether `matcher` accepts a missing label (an empty value)."""
    if matcher.op is ast.MatchOp.EQ:
        return matcher.value == ""
    if matcher.op is ast.MatchOp.NE:
        return matcher.value != ""
    found = compile_anchored(matcher.value).fullmatch("") is not None
    return found if matcher.op is ast.MatchOp.RE else not found


def is_label_name(name: str) -> bool:
    return _LABEL_NAME.fullmatch(name) is not None


class LogParser(TokenStream):
    """Recursive descent over log queries; `parser.MetricParser` extends it with metrics."""

    # ------------------------------------------------------------ selectors

    def selector(self) -> tuple[ast.Matcher, ...]:
        """`{a="b", c=~"d"}`, with Loki's rule that some matcher must not match empty."""
        brace = self.expect_op("{")
        matchers: list[ast.Matcher] = []
        if not self.at_op("}"):
            matchers.append(self.matcher())
            while self.accept_op(","):
                matchers.append(self.matcher())
        if not self.at_op("}"):
            raise self.unexpected('"," or "}"')
        self.advance()
        if all(matches_empty(matcher) for matcher in matchers):
            raise self.error(_EMPTY_COMPATIBLE, brace)
        return tuple(matchers)

    def matcher(self) -> ast.Matcher:
        name = self.expect_ident()
        op = self.peek()
        if op.kind != "op" or op.text not in MATCH_OPS:
            raise self.unexpected('"=", "!=", "=~" or "!~"')
        self.advance()
        value_token = self.expect_kind("string", "string")
        matcher = ast.Matcher(name, MATCH_OPS[op.text], value_token.string)
        if matcher.op in (ast.MatchOp.RE, ast.MatchOp.NRE):
            self.check_regex(value_token, anchored=True)
        return matcher

    def check_regex(self, token: Token, *, anchored: bool) -> re.Pattern[str]:
        """The compiled RE2 pattern of a string token; a parse error when it is invalid."""
        try:
            if anchored:
                return compile_anchored(token.string)
            return re.compile(translate(token.string))
        except re.error as exc:
            # `exc.msg` leaves out the position, which is one in the translated pattern.
            message = f'invalid regular expression "{token.string}": {exc.msg}'
            raise self.error(message, token) from None
        except RecursionError:
            raise self.error(f'regular expression "{token.string}" is too complex', token) from None

    # ------------------------------------------------------------ pipelines

    def at_stage(self) -> bool:
        return self.at_op("|", *LINE_FILTER_OPS)

    def pipeline(self, *, allow_unwrap: bool) -> tuple[tuple[ast.Stage, ...], ast.Unwrap | None]:
        """Stages until a token that cannot start one; `| unwrap` only if `allow_unwrap`."""
        stages: list[ast.Stage] = []
        unwrap: ast.Unwrap | None = None
        while self.at_stage():
            if unwrap is not None:
                unwrap = self.unwrap_post_filter(unwrap)
            elif self.at_op("|") and self.at_stage_word("unwrap", ahead=1):
                if not allow_unwrap:
                    raise self.error(
                        "unwrap is only allowed inside a range aggregation", self.peek(1)
                    )
                self.advance()
                unwrap = self.unwrap()
            elif self.at_op("|"):
                self.advance()
                stages.append(self.pipe_stage())
            else:
                stages.append(self.line_filter())
        return tuple(stages), unwrap

    def at_stage_word(self, *words: str, ahead: int = 0) -> bool:
        """A stage keyword, unless it is a label name being compared (`| json = "x"`)."""
        if not self.at_word(*words, ahead=ahead):
            return False
        following = self.peek(ahead + 1)
        return not (following.kind == "op" and following.text in LABEL_FILTER_OPS)

    def line_filter(self) -> ast.LineFilter:
        """`|= "a"`, `!~ "re"`, `|> "<_> pattern"`, with `or "b"` alternatives."""
        op = LINE_FILTER_OPS[self.advance().text]
        values = [self.line_filter_value(op)]
        while self.at_word("or") and self.peek(1).kind == "string":
            self.advance()
            values.append(self.line_filter_value(op))
        return ast.LineFilter(op, tuple(values))

    def line_filter_value(self, op: ast.LineOp) -> str:
        if self.at_word("ip") and self.at_op("(", ahead=1):
            raise self.error("ip() line filters are not supported")
        token = self.expect_kind("string", "string")
        if op in (ast.LineOp.MATCHES, ast.LineOp.NOT_MATCHES):
            self.check_regex(token, anchored=False)
        return token.string

    def pipe_stage(self) -> ast.Stage:
        """The stage after a `|`: a parser, a formatter, drop/keep, or a label filter."""
        if not self.at_stage_word(*_STAGE_WORDS):
            return ast.LabelFilter(self.label_filter_expr())
        word = self.advance()
        name = word.text.lower()
        if name == "json":
            return ast.JsonParser(self.extraction_params())
        if name == "logfmt":
            return self.logfmt()
        if name in ("regexp", "pattern"):
            return self.pattern_parser(name)
        if name == "unpack":
            return ast.UnpackParser()
        if name == "decolorize":
            return ast.Decolorize()
        if name == "line_format":
            return ast.LineFormat(self.expect_string())
        if name == "label_format":
            return self.label_format()
        if name == "unwrap":
            raise self.error("unwrap is only allowed inside a range aggregation", word)
        items = self.label_selections()
        return ast.Drop(items) if name == "drop" else ast.Keep(items)

    def extraction_params(self) -> tuple[tuple[str, str], ...]:
        """`a="x.y", b, c="d"` after `json` or `logfmt`: (label, expression or key)."""
        params: list[tuple[str, str]] = []
        if self.peek().kind != "ident":
            return ()
        while True:
            name = self.expect_ident()
            source = self.expect_string() if self.accept_op("=") else name
            params.append((name, source))
            if not self.accept_op(","):
                return tuple(params)

    def logfmt(self) -> ast.LogfmtParser:
        flags: set[str] = set()
        while self.peek().kind == "flag":
            token = self.advance()
            if token.text not in PARSER_FLAGS:
                raise self.error(f'unknown logfmt flag "{token.text}"', token)
            flags.add(token.text)
        return ast.LogfmtParser(
            self.extraction_params(),
            strict="--strict" in flags,
            keep_empty="--keep-empty" in flags,
        )

    def pattern_parser(self, name: str) -> ast.RegexpParser | ast.PatternParser:
        token = self.expect_kind("string", "string")
        if name == "pattern":
            return ast.PatternParser(token.string)
        compiled = self.check_regex(token, anchored=False)
        if not compiled.groupindex:
            raise self.error("at least one named capture must be supplied", token)
        return ast.RegexpParser(token.string)

    def label_format(self) -> ast.LabelFormat:
        """`dst="{{.template}}"` renders, `dst=src` renames; a label may be set only once."""
        items: list[ast.LabelFormatItem] = []
        while True:
            name_token = self.expect_kind("ident", "identifier")
            if any(item.name == name_token.text for item in items):
                message = (
                    f"multiple label name '{name_token.text}' not allowed "
                    "in a single format operation"
                )
                raise self.error(message, name_token)
            self.expect_op("=")
            value = self.peek()
            if value.kind == "string":
                items.append(ast.LabelFormatItem(name_token.text, template=value.string))
            elif value.kind == "ident":
                items.append(ast.LabelFormatItem(name_token.text, source=value.text))
            else:
                raise self.unexpected("string or identifier")
            self.advance()
            if not self.accept_op(","):
                return ast.LabelFormat(tuple(items))

    def label_selections(self) -> tuple[ast.LabelSelection, ...]:
        """`a, b="v", c=~"re"` after `drop` or `keep`."""
        items: list[ast.LabelSelection] = []
        while True:
            if self.peek(1).kind == "op" and self.peek(1).text in MATCH_OPS:
                matcher = self.matcher()
                items.append(ast.LabelSelection(matcher.name, matcher))
            else:
                items.append(ast.LabelSelection(self.expect_ident()))
            if not self.accept_op(","):
                return tuple(items)

    # ------------------------------------------------------------ unwrap

    def unwrap(self) -> ast.Unwrap:
        """`unwrap x`, `unwrap duration(x)`, `unwrap duration_seconds(x)`, `unwrap bytes(x)`."""
        self.advance()
        if self.at_word(*UNWRAP_CONVERSIONS) and self.at_op("(", ahead=1):
            conversion = UNWRAP_CONVERSIONS[self.advance().text.lower()]
            self.advance()
            label = self.expect_ident()
            self.expect_op(")")
            return ast.Unwrap(label, conversion)
        return ast.Unwrap(self.expect_ident())

    def unwrap_post_filter(self, unwrap: ast.Unwrap) -> ast.Unwrap:
        """`| unwrap x | __error__=""`: only label filters may follow an unwrap."""
        if not self.at_op("|") or self.at_stage_word(*_STAGE_WORDS, ahead=1):
            at = self.peek() if not self.at_op("|") else self.peek(1)
            raise self.error("only label filters may follow unwrap", at)
        self.advance()
        post = (*unwrap.post_filters, self.label_filter_expr())
        return ast.Unwrap(unwrap.label, unwrap.conversion, post)

    # ------------------------------------------------------------ label filters

    def label_filter_expr(self) -> ast.LabelFilterExpr:
        """Filters joined by `or`, which binds looser than `and`."""
        left = self.label_filter_and()
        while self.at_word("or") and self.at_filter_start(ahead=1):
            self.advance()
            left = ast.OrFilter(left, self.label_filter_and())
        return left

    def label_filter_and(self) -> ast.LabelFilterExpr:
        """Filters joined by `and`, `,` or nothing at all (`a="x" b>1`)."""
        left = self.label_filter_primary()
        while True:
            if (self.at_word("and") or self.at_op(",")) and self.at_filter_start(ahead=1):
                self.advance()
            elif not self.at_filter_start():
                return left
            left = ast.AndFilter(left, self.label_filter_primary())

    def at_filter_start(self, ahead: int = 0) -> bool:
        if self.at_op("(", ahead=ahead):
            return True
        following = self.peek(ahead + 1)
        return (
            self.peek(ahead).kind == "ident"
            and following.kind == "op"
            and following.text in LABEL_FILTER_OPS
        )

    def label_filter_primary(self) -> ast.LabelFilterExpr:
        if self.accept_op("("):
            inner = self.label_filter_expr()
            self.expect_op(")")
            return inner
        if not self.at_filter_start():
            raise self.unexpected("label filter")
        name = self.advance().text
        op = self.advance().text
        if op in ("=~", "!~"):
            token = self.expect_kind("string", "string")
            self.check_regex(token, anchored=True)
            return ast.StringLabelFilter(name, MATCH_OPS[op], token.string)
        return self.label_filter_value(name, op)

    def label_filter_value(self, name: str, op: str) -> ast.LabelFilterExpr:
        """The right side of `name op value`: a string, number, duration or byte size."""
        token = self.peek()
        compare = COMPARE_OPS[op]
        if token.kind == "string" and op in ("=", "!="):
            self.advance()
            return ast.StringLabelFilter(name, MATCH_OPS[op], token.string)
        if token.kind == "duration":
            self.advance()
            return ast.DurationLabelFilter(name, compare, token.ns / 1e9)
        if token.kind == "bytes":
            self.advance()
            return ast.BytesLabelFilter(name, compare, token.number)
        if self.at_word("ip") and self.at_op("(", ahead=1) and op in ("=", "!="):
            raise self.error("ip() label filters are not supported")
        if token.kind == "number" or (self.at_op("+", "-") and self.peek(1).kind == "number"):
            return ast.NumberLabelFilter(name, compare, self.signed_number())
        expecting = "string, number, duration or bytes" if op in ("=", "!=") else None
        raise self.unexpected(expecting or "number, duration or bytes")

    def signed_number(self) -> float:
        """A number literal with an optional sign (Loki's `literalExpr`)."""
        sign = -1.0 if self.accept_op("-") else 1.0
        if sign > 0:
            self.accept_op("+")
        return sign * self.expect_kind("number", "number").number

    # ------------------------------------------------------------ log queries

    def log_query(self) -> ast.LogQuery:
        """A selector and its pipeline, possibly in parentheses; no unwrap."""
        if self.accept_op("("):
            inner = self.log_query()
            self.expect_op(")")
            return inner
        selector = self.selector()
        stages, _ = self.pipeline(allow_unwrap=False)
        return ast.LogQuery(selector, stages)
