"""Go's float formatting (strconv 'e', 'f' and 'g' with shortest precision) and parsing.

Prometheus prints sample values, count_values labels and messages with these; the shortest digits
are the same in Go and Python (both round-trip), only the layout differs.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F.]+[pP][+-]?\d+|inf(?:inity)?|nan)",
    re.IGNORECASE,
)


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def _digits(x: float) -> tuple[str, str, int]:
    """(sign, significant digits, decimal exponent of the first digit) of the shortest repr."""
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp10 = len(digits) - 1 + int(exponent)
    return ("-" if math.copysign(1.0, x) < 0 else ""), text, exp10 if text != "0" else 0


def format_e(x: float) -> str:
    special = _special(x)
    if special:
        return special
    sign, digits, exp10 = _digits(x)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def format_f(x: float) -> str:
    special = _special(x)
    if special:
        return special
    sign, digits, exp10 = _digits(x)
    if exp10 < 0:
        return f"{sign}0.{'0' * (-exp10 - 1)}{digits}"
    whole = digits[: exp10 + 1].ljust(exp10 + 1, "0")
    frac = digits[exp10 + 1 :]
    return f"{sign}{whole}{'.' + frac if frac else ''}"


def format_g(x: float) -> str:
    """Go's %v / 'g' with the shortest precision: exponent form below 1e-4 and from 1e6."""
    special = _special(x)
    if special:
        return special
    _, _, exp10 = _digits(x)
    return format_e(x) if exp10 < -4 or exp10 >= 6 else format_f(x)


def format_openmetrics(x: float) -> str:
    """labels.FormatOpenMetricsFloat: like 'g', whole numbers keep a '.0'."""
    text = format_g(x)
    if _special(x) is None and not any(c in text for c in ".e"):
        text += ".0"
    return text


def format_sample(x: float) -> str:
    """A sample value as Prometheus's JSON API writes it."""
    magnitude = abs(x)
    if 1e-4 <= magnitude < 1e16:
        # Python's repr has the same shortest digits and, in this range, the same fixed
        # layout; it is some forty times faster than the general path (range answers hold
        # hundreds of thousands of values).
        text = repr(x)
        return text[:-2] if text.endswith(".0") else text
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return format_e(x)
    return format_f(x)


def parse_go_float(text: str) -> float | None:
    """strconv.ParseFloat's accepted forms (no spaces or underscores); None when invalid."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    if "x" in text.lower() and "p" in text.lower():
        return float.fromhex(text)
    return float(text)
