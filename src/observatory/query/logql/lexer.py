"""The LogQL tokenizer, literal values (durations, byte sizes, strings) and a token cursor.

Tokens follow Loki's lexer: a number directly followed by a unit is one duration (`250ms`,
`1h30m`) or byte-size (`20MB`) token, `[5m]` is one range token, `--strict` is one parser
flag, and `#` starts a comment that runs to the end of the line. Words are not classified
here: the parser decides from context whether `rate` is a function or a label name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from observatory.errors import QueryError
from observatory.query.traceql.values import parse_duration_ns

TokenKind = Literal[
    "ident", "string", "number", "duration", "bytes", "range", "flag", "op", "eof"
]  # fmt: skip

# Longest first, so `|=` is not read as `|` then `=`.
OPERATORS = (
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=",
    "{", "}", "(", ")", ",", "=", ">", "<", "|", "+", "-", "*", "/", "%", "^",
)  # fmt: skip
PARSER_FLAGS = frozenset({"--strict", "--keep-empty"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# What Loki's lexer lets run on after a number before it tries a duration or a byte size.
_DURATION_TAIL = re.compile(r"[0-9.nuµμmshdwy]*")
_BYTES_TAIL = re.compile(r"[0-9.BikKMGTP]*")
_FLAG = re.compile(r"--[A-Za-z][A-Za-z-]*")
_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_PROM_UNITS_NS = (
    365 * 86_400 * 10**9,
    7 * 86_400 * 10**9,
    86_400 * 10**9,
    3_600 * 10**9,
    60 * 10**9,
    10**9,
    10**6,
)
_MAX_NS = 2**63 - 1
_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
    "p": 1000**5, "pb": 1000**5, "pi": 1024**5, "pib": 1024**5,
    "e": 1000**6, "eb": 1000**6, "ei": 1024**6, "eib": 1024**6,
}  # fmt: skip
_BYTES_NUMBER = re.compile(r"[0-9.,]*")
_SIMPLE_ESCAPES = {
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B,
    "\\": 0x5C, '"': 0x22,
}  # fmt: skip
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def parse_duration(text: str) -> int:
    """A Prometheus (`1d2h`, `1w`) or Go (`1.5s`, `250ms`, `1h30m`) duration in nanoseconds.

    Like Loki, the Prometheus form is tried first and Go's `time.ParseDuration` second.
    """
    prometheus = _prometheus_duration(text)
    if prometheus is not None:
        return prometheus
    try:
        return parse_duration_ns(text)
    except ValueError:
        raise QueryError(f'invalid duration "{text}"') from None


def _prometheus_duration(text: str) -> int | None:
    if text == "0":
        return 0
    found = _PROM_DURATION.fullmatch(text)
    if not text or found is None:
        return None
    total = sum(
        int(part) * unit for part, unit in zip(found.groups(), _PROM_UNITS_NS, strict=True) if part
    )
    if total > _MAX_NS:
        raise QueryError(f'duration "{text}" is out of range')
    return total


def parse_bytes(text: str) -> float:
    """A humanized byte count (`20MB`, `1.5KiB`, `10b`, `1,000 kB`) in bytes.

    As go-humanize's ParseBytes, which Loki uses: units are case-insensitive, `K`/`KB` mean
    1000 and `Ki`/`KiB` 1024, a bare number is bytes, and the result is truncated to whole bytes.
    """
    digits = _BYTES_NUMBER.match(text)
    number_text = digits.group() if digits else ""
    unit = text[len(number_text) :].strip().lower()
    try:
        number = float(number_text.replace(",", ""))
    except ValueError:
        raise QueryError(f'invalid byte size "{text}"') from None
    if unit not in _BYTE_UNITS:
        raise QueryError(f'invalid byte size "{text}": unknown unit "{unit}"')
    value = number * _BYTE_UNITS[unit]
    if not math.isfinite(value) or value >= 2.0**64:
        raise QueryError(f'byte size "{text}" is too large')
    return float(math.floor(value))


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def parse_error(text: str, offset: int, message: str) -> QueryError:
    line, column = position(text, offset)
    return QueryError(f"parse error at line {line}, col {column}: {message}")


@dataclass(frozen=True)
class Token:
    """One token; `string` holds an unquoted string, an identifier or an operator, `number`
    a number or byte count, `ns` a duration or range."""

    kind: TokenKind
    text: str
    pos: int
    string: str = ""
    number: float = 0.0
    ns: int = 0

    def describe(self) -> str:
        """How error messages name this token."""
        if self.kind == "eof":
            return "end of input"
        if self.kind == "op":
            return f'"{self.text}"'
        if self.kind == "ident":
            return f'identifier "{self.text}"'
        return f"{self.kind} {self.text}"


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

    def _error(self, message: str, offset: int) -> QueryError:
        return parse_error(self.text, offset, message)

    def _skip_space_and_comments(self) -> None:
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text[self.pos] == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def _next(self) -> Token:
        self._skip_space_and_comments()
        if self.pos >= len(self.text):
            return Token("eof", "", self.pos)
        char = self.text[self.pos]
        following = self.text[self.pos + 1 : self.pos + 2]
        if char in '"`':
            return self._string(char)
        if char == "[":
            return self._range()
        if char.isdigit() or (char == "." and following.isdigit()):
            return self._number(self.pos, self.pos)
        if char == "-":
            return self._minus()
        if _IDENT.match(self.text, self.pos):
            return self._word()
        return self._operator()

    def _operator(self) -> Token:
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                start, self.pos = self.pos, self.pos + len(op)
                return Token("op", op, start, string=op)
        raise self._error(f'syntax error: unexpected character "{self.text[self.pos]}"', self.pos)

    def _word(self) -> Token:
        found = _IDENT.match(self.text, self.pos)
        assert found is not None
        start, self.pos = self.pos, found.end()
        return Token("ident", found.group(), start, string=found.group())

    def _minus(self) -> Token:
        """`--strict` flags and negative durations (`offset -1h`) start with a minus."""
        start = self.pos
        flag = _FLAG.match(self.text, start)
        if flag:
            self.pos = flag.end()
            return Token("flag", flag.group(), start, string=flag.group())
        if self.text[start + 1 : start + 2].isdigit():
            token = self._unit_token(start, start + 1)
            if token is not None and token.kind == "duration":
                self.pos = start + len(token.text)
                return token
        self.pos = start + 1
        return Token("op", "-", start, string="-")

    def _number(self, start: int, digits: int) -> Token:
        unit = self._unit_token(start, digits)
        if unit is not None:
            self.pos = start + len(unit.text)
            return unit
        found = _NUMBER.match(self.text, digits)
        assert found is not None
        self.pos = found.end()
        body = found.group()
        value = float(int(body, 16)) if body[:2] in ("0x", "0X") else float(body)
        return Token("number", body, start, number=value)

    def _unit_token(self, start: int, digits: int) -> Token | None:
        """A duration or byte-size token at `digits` (`start` may hold a minus sign)."""
        found = _NUMBER.match(self.text, digits)
        if found is None or found.group()[:2] in ("0x", "0X"):
            return None
        tail = _DURATION_TAIL.match(self.text, found.end())
        if tail and tail.group():
            text = self.text[start : tail.end()]
            try:
                return Token("duration", text, start, ns=parse_duration(text))
            except QueryError:
                pass
        tail = _BYTES_TAIL.match(self.text, found.end())
        if start == digits and tail and tail.group():
            text = self.text[start : tail.end()]
            try:
                return Token("bytes", text, start, number=parse_bytes(text))
            except QueryError:
                pass
        return None

    def _range(self) -> Token:
        start = self.pos
        end = self.text.find("]", start)
        if end < 0:
            raise self._error("missing closing ']' in duration", start)
        body = self.text[start + 1 : end].strip()
        try:
            ns = parse_duration(body)
        except QueryError as exc:
            raise self._error(exc.message, start) from None
        self.pos = end + 1
        return Token("range", self.text[start : end + 1], start, ns=ns)

    def _string(self, quote: str) -> Token:
        start = self.pos
        end = start + 1
        while end < len(self.text) and self.text[end] != quote:
            if self.text[end] == "\n" and quote == '"':
                break
            end += 2 if self.text[end] == "\\" and quote == '"' else 1
        if end >= len(self.text) or self.text[end] != quote:
            raise self._error("literal not terminated", start)
        self.pos = end + 1
        body = self.text[start + 1 : end]
        value = body if quote == "`" else self._unescape(body, start + 1)
        return Token("string", self.text[start : end + 1], start, string=value)

    def _unescape(self, body: str, offset: int) -> str:
        """The value of a double-quoted string's body, with Go's escape sequences."""
        if "\\" not in body:
            return body
        out = bytearray()
        index = 0
        while index < len(body):
            char = body[index]
            if char != "\\":
                out += char.encode()
                index += 1
                continue
            index = self._escape(body, index, out, offset)
        try:
            return out.decode()
        except UnicodeDecodeError:
            raise self._error("invalid UTF-8 in string", offset - 1) from None

    def _escape(self, body: str, index: int, out: bytearray, offset: int) -> int:
        """Appends the escape at body[index] == '\\' to `out`; returns the index after it."""
        kind = body[index + 1 : index + 2]
        if kind in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[kind])
            return index + 2
        if kind in _HEX_DIGITS:
            width = _HEX_DIGITS[kind]
            digits = body[index + 2 : index + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self._error("invalid char escape", offset + index)
            code = int(digits, 16)
            if kind == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self._error("escape sequence is invalid Unicode code point", offset + index)
            else:
                out += chr(code).encode()
            return index + 2 + width
        octal = body[index + 1 : index + 4]
        if len(octal) == 3 and all(c in "01234567" for c in octal) and int(octal, 8) < 256:
            out.append(int(octal, 8))
            return index + 4
        raise self._error("invalid char escape", offset + index)


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, ending with an `eof` token."""
    return Lexer(text).tokens()


class TokenStream:
    """A cursor over the tokens of one query, with the checks the grammar needs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind != "eof":
            self.index += 1
        return token

    def at_op(self, *ops: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "op" and token.text in ops

    def at_word(self, *words: str, ahead: int = 0) -> bool:
        """Keywords are case-insensitive, as in Loki."""
        token = self.peek(ahead)
        return token.kind == "ident" and token.text.lower() in words

    def accept_op(self, op: str) -> Token | None:
        return self.advance() if self.at_op(op) else None

    def accept_word(self, word: str) -> Token | None:
        return self.advance() if self.at_word(word) else None

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(f'"{op}"')
        return self.advance()

    def expect_kind(self, kind: TokenKind, expecting: str) -> Token:
        if self.peek().kind != kind:
            raise self.unexpected(expecting)
        return self.advance()

    def expect_ident(self) -> str:
        return self.expect_kind("ident", "identifier").text

    def expect_string(self) -> str:
        return self.expect_kind("string", "string").string

    def error(self, message: str, token: Token | None = None) -> QueryError:
        at = token if token is not None else self.peek()
        return parse_error(self.text, at.pos, message)

    def unexpected(self, expecting: str = "", token: Token | None = None) -> QueryError:
        at = token if token is not None else self.peek()
        message = f"syntax error: unexpected {at.describe()}"
        if expecting:
            message += f", expecting {expecting}"
        return self.error(message, at)
