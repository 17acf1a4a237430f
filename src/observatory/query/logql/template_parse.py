"""Lexer and parser for the Go text/template language of `line_format` and `label_format`.

Covers what Loki's templates use: text with `{{ }}` actions and `{{- -}}` trimming, comments,
pipelines with `|`, function calls, `.field` chains, `$variables` with `:=` and `=`,
parenthesized pipelines, literals, and `if`/`else if`/`else`, `with`, `range` (with `break` and
`continue`). `define`, `template` and `block` are rejected. Errors read like Go's:
`template: line:1: function "foo" not defined`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from observatory.query.logql.template_funcs import ENTRY_FUNCTIONS, FUNCTIONS, LAZY_FUNCTIONS


class TemplateSyntaxError(Exception):
    """The template text is not a valid template."""


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """`.a.b` on dot; no names is dot itself."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """`$x.a.b`; `$` is the template's data."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identifier:
    """A function name."""

    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Nil:
    pass


@dataclass(frozen=True, slots=True)
class Chain:
    """Fields read from a computed value: `(pipeline).a` or `func.a`."""

    node: Operand
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    decl: tuple[str, ...]
    assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Action:
    pipe: Pipeline


@dataclass(frozen=True, slots=True)
class Branch:
    """`if`, `with` or `range`."""

    kind: str
    pipe: Pipeline
    body: tuple[Node, ...]
    else_body: tuple[Node, ...] | None


@dataclass(frozen=True, slots=True)
class LoopControl:
    """`{{break}}` or `{{continue}}`."""

    kind: str


Operand = Field | Variable | Identifier | Literal | Nil | Chain | Pipeline
Node = Text | Action | Branch | LoopControl


# ---------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    value: Any
    line: int
    spaced: bool = False  # whitespace came before it


_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][+-]?\d+)?|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)
_NAME = re.compile(r"[^\W\d]\w*")
_FIELDS = re.compile(r"(?:\.[^\W\d]\w*)+")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES |= {"\\": "\\", '"': '"', "'": "'"}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[_Token] = []
        self.trim_next = False

    def line(self, pos: int | None = None) -> int:
        return self.text.count("\n", 0, self.pos if pos is None else pos) + 1

    def fail(self, message: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(f"{self.line()}: {message}")

    def emit(self, kind: str, value: Any = None, spaced: bool = False) -> None:
        self.tokens.append(_Token(kind, value, self.line(), spaced))

    def run(self) -> list[_Token]:
        text = self.text
        while self.pos < len(text):
            start = text.find("{{", self.pos)
            segment = text[self.pos : start if start >= 0 else len(text)]
            if self.trim_next:
                segment, self.trim_next = segment.lstrip(_SPACE), False
            if start < 0:
                if segment:
                    self.emit("text", segment)
                break
            trim_left = text.startswith("-", start + 2) and text[start + 3 : start + 4] in tuple(
                _SPACE
            )
            if trim_left:
                segment = segment.rstrip(_SPACE)
            if segment:
                self.emit("text", segment)
            self.pos = start + (4 if trim_left else 2)
            if text.startswith("/*", self.pos):
                self.comment()
            else:
                self.emit("left")
                self.action()
        self.emit("eof")
        return self.tokens

    def comment(self) -> None:
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            raise self.fail("unclosed comment")
        self.pos = end + 2
        if self.text.startswith("}}", self.pos):
            self.pos += 2
        elif self.text[self.pos : self.pos + 1] in tuple(_SPACE) and self.text.startswith(
            "-}}", self.pos + 1
        ):
            self.pos += 4
            self.trim_next = True
        else:
            raise self.fail("comment ends before closing delimiter")

    def action(self) -> None:
        spaced = False
        while True:
            if self.pos >= len(self.text):
                raise self.fail("unclosed action")
            ch = self.text[self.pos]
            if self.text.startswith("}}", self.pos):
                self.pos += 2
                self.emit("right")
                return
            if ch in _SPACE:
                while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
                    self.pos += 1
                if self.text.startswith("-}}", self.pos):
                    self.pos += 3
                    self.emit("right")
                    self.trim_next = True
                    return
                spaced = True
                continue
            self.token(ch, spaced)
            spaced = False

    def token(self, ch: str, spaced: bool) -> None:
        text, pos = self.text, self.pos
        nxt = text[pos + 1 : pos + 2]
        if ch == '"':
            self.emit("literal", self.quoted(), spaced)
        elif ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise self.fail("unterminated raw quoted string")
            self.emit("literal", text[pos + 1 : end], spaced)
            self.pos = end + 1
        elif ch == "'":
            self.emit("literal", self.char(), spaced)
        elif ch.isdigit() or (ch in "+-." and nxt.isdigit()) or _signed_fraction(text, pos):
            self.emit("literal", self.number(), spaced)
        elif ch == ".":
            fields = _FIELDS.match(text, pos)
            names = tuple(fields.group(0)[1:].split(".")) if fields else ()
            self.pos = fields.end() if fields else pos + 1
            self.emit("field", names, spaced)
        elif ch == "$":
            name = _NAME.match(text, pos + 1)
            self.pos = name.end() if name else pos + 1
            fields = _FIELDS.match(text, self.pos)
            names = tuple(fields.group(0)[1:].split(".")) if fields else ()
            self.pos = fields.end() if fields else self.pos
            self.emit("variable", ("$" + (name.group(0) if name else ""), names), spaced)
        elif ch == ":" and nxt == "=":
            self.pos += 2
            self.emit("declare", None, spaced)
        elif ch in "|(),=":
            self.pos += 1
            self.emit(ch, None, spaced)
        elif ch.isalpha() or ch == "_":
            self.word(spaced)
        else:
            raise self.fail(f"unrecognized character in action: U+{ord(ch):04X} {ch!r}")

    def word(self, spaced: bool) -> None:
        match = _NAME.match(self.text, self.pos)
        assert match is not None
        word = match.group(0)
        self.pos = match.end()
        if word in _KEYWORDS:
            self.emit("keyword", word, spaced)
        elif word in ("true", "false"):
            self.emit("literal", word == "true", spaced)
        elif word == "nil":
            self.emit("nil", None, spaced)
        else:
            self.emit("identifier", word, spaced)

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        assert match is not None
        literal = match.group(0)
        self.pos = match.end()
        if self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "._"
        ):
            raise self.fail(f'bad number syntax: "{literal}{self.text[self.pos]}"')
        return _number_value(literal, self)

    def quoted(self) -> str:
        out: list[str] = []
        pos = self.pos + 1
        while True:
            if pos >= len(self.text) or self.text[pos] == "\n":
                raise self.fail("unterminated quoted string")
            ch = self.text[pos]
            if ch == '"':
                self.pos = pos + 1
                return "".join(out)
            if ch != "\\":
                out.append(ch)
                pos += 1
                continue
            value, pos = self.escape(pos + 1, '"')
            out.append(value)

    def escape(self, pos: int, quote: str) -> tuple[str, int]:
        """Decodes the escape after a backslash at `pos`; returns it and the index after."""
        ch = self.text[pos : pos + 1]
        if ch in _ESCAPES and (ch != "'" or quote == "'") and (ch != '"' or quote == '"'):
            return _ESCAPES[ch], pos + 1
        widths = {"x": 2, "u": 4, "U": 8}
        if ch in widths:
            digits = self.text[pos + 1 : pos + 1 + widths[ch]]
            if len(digits) == widths[ch] and all(c in "0123456789abcdefABCDEF" for c in digits):
                return chr(int(digits, 16)), pos + 1 + widths[ch]
        octal = self.text[pos : pos + 3]
        if len(octal) == 3 and all(c in "01234567" for c in octal) and int(octal, 8) < 256:
            return chr(int(octal, 8)), pos + 3
        raise self.fail("invalid syntax in quoted string")

    def char(self) -> int:
        pos = self.pos + 1
        if self.text[pos : pos + 1] == "\\":
            value, pos = self.escape(pos + 1, "'")
        else:
            value, pos = self.text[pos : pos + 1], pos + 1
        if not value or self.text[pos : pos + 1] != "'":
            raise self.fail("unterminated character constant")
        self.pos = pos + 1
        return ord(value)


def _signed_fraction(text: str, pos: int) -> bool:
    """`-.5` or `+.5`."""
    return (
        text[pos] in "+-" and text[pos + 1 : pos + 2] == "." and text[pos + 2 : pos + 3].isdigit()
    )


def _number_value(literal: str, lexer: _Lexer) -> int | float:
    body = literal.lstrip("+-")
    sign = -1 if literal.startswith("-") else 1
    try:
        lowered = body.lower()
        if lowered.startswith("0x") and ("p" in lowered or "." in lowered):
            return sign * float.fromhex(body.replace("_", ""))
        if lowered[:2] in ("0x", "0b", "0o"):
            return sign * int(body.replace("_", ""), 0)
        if any(c in body for c in ".eE"):
            return sign * float(body.replace("_", ""))
        if len(body) > 1 and body[0] == "0":
            return sign * int(body.replace("_", ""), 8)
        return sign * int(body.replace("_", ""))
    except ValueError as exc:
        raise lexer.fail(f'bad number syntax: "{literal}"') from exc


# ---------------------------------------------------------------- parser


# The names LogQL templates may call: the table, the lazy `and`/`or` and the per-entry functions.
LOGQL_FUNCTION_NAMES = frozenset(FUNCTIONS) | LAZY_FUNCTIONS | ENTRY_FUNCTIONS


class _Parser:
    def __init__(self, tokens: list[_Token], functions: Collection[str]) -> None:
        self.tokens = tokens
        self.functions = functions
        self.index = 0
        self.scopes: list[str] = ["$"]
        self.loops = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: _Token | None = None) -> TemplateSyntaxError:
        return TemplateSyntaxError(f"{(token or self.peek()).line}: {message}")

    def expect(self, kind: str, context: str) -> _Token:
        token = self.next()
        if token.kind != kind:
            raise self.fail(f"unexpected {_describe(token)} in {context}", token)
        return token

    def parse(self) -> tuple[Node, ...]:
        nodes, end = self.items()
        if end is not None:
            raise self.fail(f"unexpected {{{{{end}}}}}")
        return nodes

    def items(self) -> tuple[tuple[Node, ...], str | None]:
        """Nodes up to EOF, `{{end}}` or `{{else}}`; returns them and which one stopped it."""
        nodes: list[Node] = []
        while True:
            token = self.next()
            if token.kind == "eof":
                self.index -= 1
                return tuple(nodes), None
            if token.kind == "text":
                nodes.append(Text(token.value))
                continue
            head = self.peek()
            if head.kind == "keyword" and head.value in ("end", "else"):
                self.next()
                return tuple(nodes), head.value
            nodes.append(self.action())

    def action(self) -> Node:
        head = self.peek()
        if head.kind == "keyword":
            self.next()
            if head.value in ("if", "with", "range"):
                return self.control(head.value)
            if head.value in ("break", "continue"):
                if not self.loops:
                    raise self.fail(f"{{{{{head.value}}}}} outside {{{{range}}}}", head)
                self.expect("right", head.value)
                return LoopControl(head.value)
            raise self.fail(f"unsupported action {{{{{head.value}}}}}", head)
        return Action(self.pipeline("command", "right"))

    def control(self, kind: str) -> Branch:
        mark = len(self.scopes)
        pipe = self.pipeline(kind, "right")
        self.loops += kind == "range"
        body, end = self.items()
        self.loops -= kind == "range"
        else_body: tuple[Node, ...] | None = None
        chained = False
        if end == "else":
            head = self.peek()
            chained = kind != "range" and head.kind == "keyword" and head.value == kind
            if chained:
                # `{{else if x}}` is an `if` inside the else branch sharing our `{{end}}`.
                self.next()
                else_body, end = (self.control(kind),), "end"
            else:
                self.expect("right", "else")
                else_body, end = self.items()
        if end != "end":
            raise self.fail("unexpected EOF")
        if not chained:
            self.expect("right", "end")
        del self.scopes[mark:]
        return Branch(kind, pipe, body, else_body)

    def pipeline(self, context: str, closer: str) -> Pipeline:
        decl, assign = self.declarations(context)
        cmds: list[Command] = []
        while True:
            cmds.append(self.command(context, closer))
            token = self.next()
            if token.kind == closer:
                break
            if token.kind != "|":
                raise self.fail(f"unexpected {_describe(token)} in {context}", token)
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], Literal | Nil) or cmd.args[0] == Field(()):
                raise self.fail(f"non executable command in pipeline stage {stage}")
        if decl and not assign:
            self.scopes.extend(decl)
        return Pipeline(decl, assign, tuple(cmds))

    def declarations(self, context: str) -> tuple[tuple[str, ...], bool]:
        start = self.index
        names: list[str] = []
        while self.peek().kind == "variable" and not self.peek().value[1]:
            names.append(self.next().value[0])
            token = self.next()
            if token.kind in ("declare", "=") and names:
                if len(names) > (2 if context == "range" else 1):
                    raise self.fail(f"too many declarations in {context}", token)
                if token.kind == "=":
                    for name in names:
                        self.check_variable(name)
                return tuple(names), token.kind == "="
            if token.kind != "," or context != "range":
                break
        self.index = start
        return (), False

    def command(self, context: str, closer: str) -> Command:
        args: list[Operand] = []
        while True:
            token = self.peek()
            if token.kind in (closer, "|") or (token.kind == "right" and closer == ")"):
                break
            args.append(self.operand(context))
        if not args:
            raise self.fail(f"missing value for {context}")
        return Command(tuple(args))

    def operand(self, context: str) -> Operand:
        token = self.next()
        node: Operand
        if token.kind == "field":
            return Field(token.value)
        if token.kind == "variable":
            self.check_variable(token.value[0])
            return Variable(token.value[0], token.value[1])
        if token.kind == "literal":
            node = Literal(token.value)
        elif token.kind == "nil":
            node = Nil()
        elif token.kind == "identifier":
            if token.value not in self.functions:
                raise self.fail(f'function "{token.value}" not defined', token)
            node = Identifier(token.value)
        elif token.kind == "(":
            node = self.pipeline("parenthesized pipeline", ")")
        else:
            raise self.fail(f"unexpected {_describe(token)} in {context}", token)
        following = self.peek()
        if following.kind == "field" and not following.spaced:
            self.next()
            if isinstance(node, Literal | Nil):
                raise self.fail(f"unexpected . after term {_describe(token)}", following)
            return Chain(node, following.value)
        return node

    def check_variable(self, name: str) -> None:
        if name not in self.scopes:
            raise self.fail(f'undefined variable "{name}"')


def _describe(token: _Token) -> str:
    labels = {"right": '"}}"', "eof": "EOF", "left": '"{{"', "declare": '":="'}
    if token.kind in labels:
        return labels[token.kind]
    if token.kind in "|(),=":
        return f'"{token.kind}"'
    if token.kind == "keyword":
        return f"<{token.value}>"
    return f"{token.kind} {token.value!r}"


def parse_template(
    text: str, functions: Collection[str] = LOGQL_FUNCTION_NAMES
) -> tuple[Node, ...]:
    """Parses a template that may call `functions` (by default LogQL's); raises
    TemplateSyntaxError with `line: message`."""
    return _Parser(_Lexer(text).run(), functions).parse()
