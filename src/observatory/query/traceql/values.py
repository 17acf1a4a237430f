"""Literal values of TraceQL: Go durations and quoted strings.

Durations follow Go's `time.ParseDuration`, which Tempo uses both for TraceQL literals and for
the `minDuration`/`maxDuration` search parameters, so `1h30m` and `1.5s` mean the same in both.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "`": "`"}
MAX_INT64 = 2**63 - 1


def parse_duration_ns(text: str) -> int:
    """A Go duration such as `300ms`, `1.5s` or `1h30m` in nanoseconds; ValueError if not one."""
    body = text[1:] if text[:1] in "+-" else text
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    if body == "0":
        return 0
    total = Decimal(0)
    position = 0
    while position < len(body):
        part = _PART.match(body, position)
        if part is None:
            raise ValueError(f"invalid duration {text!r}")
        total += _decimal(part.group(1)) * UNIT_NS[part.group(2)]
        position = part.end()
    if total > MAX_INT64:
        raise ValueError(f"duration {text!r} out of range")
    return -int(total) if text.startswith("-") else int(total)


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"invalid number {text!r}") from None


def unescape(body: str) -> str:
    """The value of a double-quoted string's body: `\\"`, `\\\\`, `\\n`, `\\t`, `\\r`."""
    if "\\" not in body:
        return body
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        if following not in _ESCAPES:
            raise ValueError(f"unknown escape sequence \\{following}")
        out.append(_ESCAPES[following])
    return "".join(out)
