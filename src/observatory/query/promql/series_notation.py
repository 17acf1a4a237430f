"""Prometheus's series notation, as test scripts and `promtool test rules` write input series.

A series is a metric in PromQL's selector syntax without operators (`name{label="value"}`)
followed by values in the expanding notation: `1+2x3` is `1 3 5 7` (the start and three more
steps), `5-1x2` is `5 4 3`, `7x2` is `7 7 7`, `_` is a missing sample, `_x3` three of them,
`stale` a staleness marker. Native histograms (`{{...}}`) are recognised but only as
placeholders: nothing here needs their buckets. Durations are Prometheus's (`1h30m`, `0`).

Every parse error is a ValueError whose message says what was wrong, for the callers to wrap.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

OMITTED: Final = None
HISTOGRAM: Final = "histogram"
STALE: Final = "stale"
# One value of a series: a float, STALE, HISTOGRAM, or OMITTED.
SeqValue: TypeAlias = float | str | None

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_NUMBER = (
    r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|0[xX][0-9a-fA-F]+|[iI][nN][fF]|[nN][aA][nN])"
)
_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")
_EXPAND = re.compile(rf"^({_NUMBER})(?:([+-])({_NUMBER}))?x(\d+)$")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}
_ESCAPES |= {"a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def parse_duration(text: str) -> int:
    """Prometheus's model.ParseDuration in milliseconds: units in order y w d h m s ms, each
    at most once, or "0"."""
    text = text.strip()
    if text == "0":
        return 0
    found = _DURATION.match(text)
    if not text or found is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(n) * unit for n, unit in zip(found.groups(), _UNIT_MS, strict=True) if n)


def parse_number(text: str) -> float:
    """A PromQL number literal: decimal, hexadecimal, Inf or NaN, with an optional sign."""
    text = text.strip()
    if _HEX.fullmatch(text):
        return float(int(text, 16))
    if re.fullmatch(_NUMBER, text):
        return float(text)
    raise ValueError(f"not a number: {text!r}")


def unquote(text: str, start: int) -> tuple[str, int]:
    """The PromQL string literal at text[start] (", ' or `); returns it and the index after."""
    quote = text[start]
    i = start + 1
    out: list[str] = []
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and quote != "`":
            char, i = _escape(text, i)
            out.append(char)
            continue
        out.append(text[i])
        i += 1
    if i >= len(text):
        raise ValueError("unterminated quoted string")
    return "".join(out), i + 1


def _escape(text: str, i: int) -> tuple[str, int]:
    """The character an escape sequence at text[i] (a backslash) stands for, and where it ends."""
    if i + 1 >= len(text):
        raise ValueError("unterminated escape sequence")
    kind = text[i + 1]
    widths = {"x": 2, "u": 4, "U": 8}
    if kind in widths:
        digits = text[i + 2 : i + 2 + widths[kind]]
        if len(digits) != widths[kind] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            raise ValueError(f"invalid escape sequence \\{kind}{digits}")
        return chr(int(digits, 16)), i + 2 + widths[kind]
    return _ESCAPES.get(kind, kind), i + 2


class _Cursor:
    """Reads a metric's label set, failing with ValueError instead of running off the end."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def peek(self) -> str:
        if self.pos >= len(self.text):
            raise ValueError("unexpected end of input inside braces")
        return self.text[self.pos]

    def name(self) -> str:
        if self.peek() in "\"'`":
            value, self.pos = unquote(self.text, self.pos)
            return value
        found = _LABEL_NAME.match(self.text, self.pos)
        if found is None:
            raise ValueError(f"bad label name at {self.text[self.pos :]!r}")
        self.pos = found.end()
        return found.group(0)

    def value(self) -> str:
        if self.peek() not in "\"'`":
            raise ValueError(f"expected a quoted label value at {self.text[self.pos :]!r}")
        value, self.pos = unquote(self.text, self.pos)
        return value


def parse_metric(text: str) -> tuple[dict[str, str], str]:
    """`name{l="v", ...}` at the start of text; returns the labels and the rest of the text.

    As Prometheus, a label with an empty value is no label, and a quoted name without a
    value inside the braces (`{"http.requests"}`) is the metric name."""
    found = _METRIC_NAME.match(text, len(text) - len(text.lstrip()))
    labels: dict[str, str] = {}
    cursor = _Cursor(text, found.end() if found else len(text) - len(text.lstrip()))
    if found:
        labels["__name__"] = found.group(0)
    if cursor.pos < len(text) and text[cursor.pos] == "{":
        cursor.pos += 1
        _label_set(cursor, labels)
    return {k: v for k, v in labels.items() if v != ""}, text[cursor.pos :]


def _label_set(cursor: _Cursor, labels: dict[str, str]) -> None:
    while True:
        cursor.skip(" \t\n,")
        if cursor.peek() == "}":
            cursor.pos += 1
            return
        name = cursor.name()
        cursor.skip(" \t\n")
        if cursor.peek() != "=":
            labels["__name__"] = name
            continue
        cursor.pos += 1
        cursor.skip(" \t\n")
        labels[name] = cursor.value()


def _tokens(text: str) -> list[str]:
    """Value items; a native histogram `{{...}}` (with its suffix) stays one token."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < len(text) and not text[j].isspace():
            if text.startswith("{{", j):
                end = text.find("}}", j)
                if end < 0:
                    raise ValueError("unterminated native histogram {{...}}")
                j = end + 2
            else:
                j += 1
        out.append(text[i:j])
        i = j
    return out


def expand_token(token: str) -> list[SeqValue]:
    """The values one item of the expanding notation stands for."""
    if token == "_":
        return [OMITTED]
    if token.startswith("_x") and token[2:].isdigit():
        return [OMITTED] * int(token[2:])
    if token == STALE:
        return [STALE]
    if "{{" in token:
        count = re.search(r"x(\d+)$", token)
        return [HISTOGRAM] * (int(count.group(1)) + 1 if count else 1)
    found = _EXPAND.match(token)
    if found is None:
        return [parse_number(token)]
    value = parse_number(found.group(1))
    delta = parse_number(found.group(3)) if found.group(3) else 0.0
    delta = -delta if found.group(2) == "-" else delta
    out: list[SeqValue] = []
    for _ in range(int(found.group(4)) + 1):
        out.append(value)
        value += delta
    return out


def parse_values(text: str) -> list[SeqValue]:
    """The values of a series, one per step, from the expanding notation."""
    values: list[SeqValue] = []
    for token in _tokens(text):
        values.extend(expand_token(token))
    return values


def parse_series(line: str) -> tuple[dict[str, str], list[SeqValue]]:
    """A series and its values: `up{job="a"} 1+1x3 _ stale`."""
    labels, rest = parse_metric(line)
    return labels, parse_values(rest)
