"""Go's readings and renderings of label values: numbers, durations, humanized byte counts.

Loki converts label values with Go's `strconv.ParseFloat`, `time.ParseDuration` and go-humanize's
`ParseBytes`, and templates print floats the way `fmt` does. Python's own conversions accept
other spellings (`float("1_0")`, `" 1 "`) and print floats differently, so we follow Go's rules
here. Errors are `ValueError`s whose messages read like Go's, since they end up in
`__error_details__`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_DEC_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?\d+")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_DURATION_NS = (1 << 63) - 1

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
    "p": 1000**5,
    "pb": 1000**5,
    "pi": 1024**5,
    "pib": 1024**5,
    "e": 1000**6,
    "eb": 1000**6,
    "ei": 1024**6,
    "eib": 1024**6,
}


def go_quote(text: str) -> str:
    """`strconv.Quote` for the common cases: double quotes with backslash escapes."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable() and ord(ch) > 0x7F:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def parse_float(text: str) -> float:
    """Go's `strconv.ParseFloat(text, 64)`."""
    if _DEC_FLOAT.fullmatch(text) or _SPECIAL.fullmatch(text):
        value = float(text)
    elif _HEX_FLOAT.fullmatch(text):
        value = float.fromhex(text.replace("_", ""))
    else:
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if math.isinf(value) and not _SPECIAL.fullmatch(text):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return value


def _duration_error(kind: str, original: str) -> ValueError:
    return ValueError(f"time: {kind} {go_quote(original)}")


def _leading_digits(text: str, pos: int) -> int:
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    return pos


def _duration_part(text: str, pos: int, original: str) -> tuple[int, int]:
    """One `<number><unit>` component at `pos`: its nanoseconds and the index after it."""
    int_end = _leading_digits(text, pos)
    whole, frac = text[pos:int_end], ""
    end = int_end
    if end < len(text) and text[end] == ".":
        frac_end = _leading_digits(text, end + 1)
        frac, end = text[end + 1 : frac_end], frac_end
    if not whole and not frac:
        raise _duration_error("invalid duration", original)
    unit_end = end
    while unit_end < len(text) and text[unit_end] != "." and not "0" <= text[unit_end] <= "9":
        unit_end += 1
    unit = text[end:unit_end]
    if not unit:
        raise _duration_error("missing unit in duration", original)
    if unit not in _NS_PER_UNIT:
        raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(original)}")
    scale = _NS_PER_UNIT[unit]
    # Go truncates the fraction to whole nanoseconds; integer arithmetic keeps that exact.
    ns = int(whole or "0") * scale
    if frac:
        ns += int(frac) * scale // 10 ** len(frac)
    return ns, unit_end


def parse_duration_ns(text: str) -> int:
    """Go's `time.ParseDuration`: "1h30m", "250ms", "-1.5s", "0"; nanoseconds."""
    original, body, negative = text, text, False
    if body[:1] in ("-", "+"):
        negative, body = body[0] == "-", body[1:]
    if body == "0":
        return 0
    if not body:
        raise _duration_error("invalid duration", original)
    total, pos = 0, 0
    while pos < len(body):
        if not (body[pos] == "." or "0" <= body[pos] <= "9"):
            raise _duration_error("invalid duration", original)
        ns, pos = _duration_part(body, pos, original)
        total += ns
        if total > _MAX_DURATION_NS:
            raise _duration_error("invalid duration", original)
    return -total if negative else total


def parse_duration_seconds(text: str) -> float:
    return parse_duration_ns(text) / 1e9


def parse_bytes(text: str) -> float:
    """go-humanize's `ParseBytes`: "42MB", "1.5 KiB", "1,024"; the byte count."""
    end = 0
    while end < len(text) and ("0" <= text[end] <= "9" or text[end] in ".,"):
        end += 1
    number = parse_float(text[:end].replace(",", ""))
    unit = text[end:].strip().lower()
    if unit not in _BYTE_UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    value = number * _BYTE_UNITS[unit]
    if value >= 2.0**64:
        raise ValueError(f"too large: {text}")
    return float(math.trunc(value))


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of a positive finite float and its decimal exponent."""
    _, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    return text, len(digits) + exponent - 1


def format_float(value: float) -> str:
    """A float as Go's `%v` prints it: shortest digits, exponent form outside [1e-4, 1e6)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, exp = _shortest_digits(abs(value))
    # With the shortest precision Go's %g decides on the exponent form as if precision were 6.
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
