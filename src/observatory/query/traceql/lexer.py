"""The TraceQL tokenizer.

Attribute names run until whitespace or an operator character, as in Tempo, so names such as
`http.response.header.content-type` need no quoting; a quoted part (`span."a b"`) may hold
anything. Every token keeps its offset so errors can point at the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from observatory.errors import QueryError
from observatory.query.traceql.values import parse_duration_ns, unescape

TokenKind = Literal[
    "op", "string", "int", "float", "duration", "ident", "attribute", "intrinsic", "eof"
]

# Longest first, so `&>>` is not read as `&>` then `>`.
OPERATORS = (
    "&>>", "&<<", "!>>", "!<<",
    "&&", "||", ">>", "<<", ">=", "<=", "!=", "=~", "!~", "&>", "&<", "&~", "!>", "!<",
    "=", ">", "<", "~", "!", "|", "{", "}", "(", ")", ",", "-",
)  # fmt: skip
ATTRIBUTE_SCOPES = frozenset({"span", "resource", "event", "link", "instrumentation", "parent"})
INTRINSIC_SCOPES = frozenset({"span", "trace", "event", "link", "instrumentation"})
_NAME_END = frozenset(" \t\r\n{}()=~!<>&|^,")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+(?![A-Za-z0-9_])")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    pos: int
    value: object = None
    scope: str = ""


def syntax_error(message: str, pos: int) -> QueryError:
    return QueryError(f"invalid TraceQL query: {message} at position {pos + 1}")


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind == "eof":
                return out

    def _next(self) -> Token:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        if self.pos >= len(self.text):
            return Token("eof", "", self.pos)
        char = self.text[self.pos]
        if char in '"`':
            return self._string(char)
        if char == "." and not self.text[self.pos + 1 : self.pos + 2].isdigit():
            return self._attribute("", self.pos, self.pos + 1)
        if char.isdigit() or char == ".":
            return self._number()
        if _IDENT.match(self.text, self.pos):
            return self._word()
        return self._operator()

    def _operator(self) -> Token:
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                start, self.pos = self.pos, self.pos + len(op)
                return Token("op", op, start)
        raise syntax_error(f"unexpected character {self.text[self.pos]!r}", self.pos)

    def _string(self, quote: str) -> Token:
        start = self.pos
        body, self.pos = self._quoted(quote, start)
        return Token("string", self.text[start : self.pos], start, body)

    def _quoted(self, quote: str, start: int) -> tuple[str, int]:
        """The value of the quoted text opening at `start`, and the offset after it."""
        end = start + 1
        while end < len(self.text) and self.text[end] != quote:
            end += 2 if self.text[end] == "\\" and quote == '"' else 1
        if end >= len(self.text):
            raise syntax_error("unterminated string", start)
        raw = self.text[start + 1 : end]
        if quote == "`":
            return raw, end + 1
        try:
            return unescape(raw), end + 1
        except ValueError as exc:
            raise syntax_error(str(exc), start) from None

    def _number(self) -> Token:
        start = self.pos
        duration = _DURATION.match(self.text, start)
        if duration:
            self.pos = duration.end()
            return Token("duration", duration.group(), start, parse_duration_ns(duration.group()))
        number = _NUMBER.match(self.text, start)
        if number is None:
            raise syntax_error(f"unexpected character {self.text[start]!r}", start)
        self.pos = number.end()
        text = number.group()
        if text.isdigit():
            return Token("int", text, start, int(text))
        return Token("float", text, start, float(text))

    def _word(self) -> Token:
        start = self.pos
        found = _IDENT.match(self.text, start)
        assert found is not None
        word, after = found.group(), found.end()
        following = self.text[after : after + 1]
        if following == "." and word in ATTRIBUTE_SCOPES:
            return self._attribute(word, start, after + 1)
        if following == ":" and word in INTRINSIC_SCOPES:
            return self._intrinsic(word, start, after + 1)
        self.pos = after
        return Token("ident", word, start, word)

    def _intrinsic(self, scope: str, start: int, name_start: int) -> Token:
        found = _IDENT.match(self.text, name_start)
        if found is None:
            raise syntax_error(f"expected an intrinsic name after {scope}:", name_start)
        self.pos = found.end()
        return Token("intrinsic", self.text[start : self.pos], start, found.group(), scope)

    def _attribute(self, scope: str, start: int, name_start: int) -> Token:
        name, self.pos = self._attribute_name(name_start)
        if not name:
            raise syntax_error("expected an attribute name", name_start)
        return Token("attribute", self.text[start : self.pos], start, name, scope)

    def _attribute_name(self, position: int) -> tuple[str, int]:
        parts: list[str] = []
        while position < len(self.text) and self.text[position] not in _NAME_END:
            if self.text[position] == '"':
                value, position = self._quoted('"', position)
                parts.append(value)
            else:
                parts.append(self.text[position])
                position += 1
        return "".join(parts), position


def tokenize(text: str) -> list[Token]:
    return Lexer(text).tokens()
