"""The functions `line_format` and `label_format` templates can call, as Loki documents them.

Each function declares the Go types of its parameters; an argument of another type is an
execution error, as in Go's text/template (labels are strings, so `{{ repeat .n "x" }}` fails
there too). The sprig math helpers take any value and convert it the way the `cast` library
does. Functions raise `TemplateCallError`; the template engine adds where it happened.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from functools import lru_cache
from typing import Any

from observatory.query.logql.conversions import parse_bytes, parse_duration_seconds, parse_float
from observatory.query.logql.gofmt import StringMap, sprint, sprintf, sprintln, type_name
from observatory.query.logql.gotime import ZERO_TIME, GoTime, format_time, parse_time
from observatory.query.promql.label_functions import expand_template
from observatory.query.promql.regex import translate

# A bound on what one template call may build, so a query cannot exhaust memory.
MAX_OUTPUT = 1 << 20


class TemplateCallError(Exception):
    """A function failed or got an argument of the wrong type."""


@dataclass(frozen=True, slots=True)
class Function:
    """A callable with the Go kinds of its parameters: str, int, float, time, any."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None


_GO_TYPES = {"str": "string", "int": "int", "float": "float64", "time": "time.Time"}


def _check(kind: str, value: Any) -> Any:
    """The argument converted to the parameter's kind, or TemplateCallError."""
    if kind == "any":
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "float" and number:
        return float(value)
    if kind == "int" and number and (isinstance(value, int) or value.is_integer()):
        return int(value)  # an integral constant such as 5.0 fits an int parameter
    if kind == "time" and isinstance(value, GoTime):
        return value
    raise TemplateCallError(
        f"wrong type for value; expected {_GO_TYPES[kind]}; got {type_name(value)}"
    )


def call(name: str, func: Function, args: list[Any]) -> Any:
    """Checks the arity and argument kinds, then calls."""
    fixed = len(func.params)
    if len(args) < fixed or (func.variadic is None and len(args) != fixed):
        want = f"at least {fixed}" if func.variadic else str(fixed)
        raise TemplateCallError(f"wrong number of args for {name}: want {want} got {len(args)}")
    kinds = list(func.params) + [func.variadic or "any"] * (len(args) - fixed)
    checked = [_check(kind, arg) for kind, arg in zip(kinds, args, strict=True)]
    try:
        return func.fn(*checked)
    except TemplateCallError as exc:
        raise TemplateCallError(f"error calling {name}: {exc}") from exc
    except (ValueError, TypeError, ArithmeticError, LookupError, re.error) as exc:
        # Functions run on arbitrary label values; a failure is the entry's error, not ours.
        raise TemplateCallError(f"error calling {name}: {exc}") from exc


# ---------------------------------------------------------------- cast (sprig's conversions)


def _go_int(text: str) -> int:
    """`strconv.ParseInt(text, 0, 64)`: base prefixes, a leading 0 for octal."""
    body = text.replace("_", "") if text[:3].lower() in ("0x", "0b", "0o") else text
    sign = -1 if body[:1] == "-" else 1
    digits = body.lstrip("+-") if body[:1] in "+-" else body
    if len(body) - len(digits) > 1 or not digits:
        raise ValueError(text)
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)
    return sign * int(digits, 0)


def to_int(value: Any) -> int:
    """cast.ToInt64: bad input reads as 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        text = value
        if "." in text and text.rstrip("0").endswith("."):
            text = text.rstrip("0")[:-1]
        try:
            return _go_int(text)
        except ValueError:
            return 0
    return 0


def to_float(value: Any) -> float:
    """cast.ToFloat64: bad input reads as 0."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_float(value)
        except ValueError:
            return 0.0
    return 0.0


def _decimal(value: Any) -> Decimal:
    number = to_float(value)
    return Decimal(repr(number)) if math.isfinite(number) else Decimal(0)


def _is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, str | list | dict):
        return len(value) == 0
    return False


# ---------------------------------------------------------------- math


def _int_div(a: Any, b: Any) -> int:
    x, y = to_int(a), to_int(b)
    if y == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    quotient = abs(x) // abs(y)  # Go truncates towards zero
    return quotient if (x >= 0) == (y >= 0) else -quotient


def _int_mod(a: Any, b: Any) -> int:
    x, y = to_int(a), to_int(b)
    if y == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    return x - y * _int_div(x, y)


def _reduce_decimal(
    op: Callable[[Decimal, Decimal], Decimal], first: Any, rest: tuple[Any, ...]
) -> float:
    total = _decimal(first)
    with localcontext() as ctx:
        ctx.prec = 40
        ctx.traps[DivisionByZero] = True
        ctx.traps[InvalidOperation] = True
        try:
            for value in rest:
                total = op(total, _decimal(value))
        except (DivisionByZero, InvalidOperation) as exc:
            raise ZeroDivisionError("decimal division by 0") from exc
    return float(total)


def _divf(a: Decimal, b: Decimal) -> Decimal:
    # shopspring/decimal divides to 16 decimal places.
    return (a / b).quantize(Decimal(1).scaleb(-16))


def _round(value: Any, places: int, *rest: float) -> float:
    round_on = rest[0] if rest else 0.5
    pow10 = math.pow(10, places)
    digit = pow10 * to_float(value)
    fraction = math.modf(digit)[0]
    return (math.ceil(digit) if fraction >= round_on else math.floor(digit)) / pow10


def _ints(first: Any, rest: tuple[Any, ...]) -> list[int]:
    return [to_int(first), *(to_int(x) for x in rest)]


def _floats(first: Any, rest: tuple[Any, ...]) -> list[float]:
    return [to_float(first), *(to_float(x) for x in rest)]


def _rounded(op: Callable[[float], int], value: Any) -> float:
    number = to_float(value)
    return float(op(number)) if math.isfinite(number) else number


def _math_functions() -> dict[str, Function]:
    one, two, many = ("any",), ("any", "any"), "any"
    return {
        "add": Function(lambda *v: sum(to_int(x) for x in v), (), many),
        "sub": Function(lambda a, b: to_int(a) - to_int(b), two),
        "mul": Function(lambda a, *v: math.prod(_ints(a, v)), one, many),
        "div": Function(_int_div, two),
        "mod": Function(_int_mod, two),
        "max": Function(lambda a, *v: max(_ints(a, v)), one, many),
        "min": Function(lambda a, *v: min(_ints(a, v)), one, many),
        "addf": Function(lambda *v: _reduce_decimal(Decimal.__add__, 0, v), (), many),
        "subf": Function(lambda a, *v: _reduce_decimal(Decimal.__sub__, a, v), one, many),
        "mulf": Function(lambda a, *v: _reduce_decimal(Decimal.__mul__, a, v), one, many),
        "divf": Function(lambda a, *v: _reduce_decimal(_divf, a, v), one, many),
        "maxf": Function(lambda a, *v: max(_floats(a, v)), one, many),
        "minf": Function(lambda a, *v: min(_floats(a, v)), one, many),
        "ceil": Function(lambda a: _rounded(math.ceil, a), one),
        "floor": Function(lambda a: _rounded(math.floor, a), one),
        "round": Function(_round, ("any", "int"), "float"),
        "int": Function(to_int, one),
        "float64": Function(to_float, one),
    }


# ---------------------------------------------------------------- strings


def _runes_trunc(count: int, text: str) -> str:
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _substr(start: int, end: int, text: str) -> str:
    end, start = min(end, len(text)), min(start, len(text))
    if start < 0:
        return "" if end < 0 else text[:end]
    if end < 0:
        return text[start:]
    return "" if start > end else text[start:end]


def _align(count: int, text: str, left: bool) -> str:
    if count < 0 or count == len(text):
        return text
    if count > len(text):
        return text.ljust(count) if left else text.rjust(count)
    return text[:count] if left else text[len(text) - count :]


def _title(text: str) -> str:
    """strings.Title: upper-cases the first letter of every word."""
    out, previous = [], " "
    for ch in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise ValueError("strings: negative Repeat count")
    if count * len(text) > MAX_OUTPUT:
        raise ValueError("strings: Repeat output too large")
    return text * count


def _indent(spaces: int, text: str) -> str:
    pad = " " * max(spaces, 0)
    return pad + text.replace("\n", "\n" + pad)


def _go_replace(text: str, old: str, new: str, n: int) -> str:
    return text.replace(old, new, n if n >= 0 else -1)


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        bad = next((i for i, ch in enumerate(text) if not (ch.isalnum() or ch in "+/=")), 0)
        return f"illegal base64 data at input byte {bad}"


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})(.{0,2})", re.DOTALL)


def _urldecode(text: str) -> str:
    bad = _BAD_ESCAPE.search(text)
    if bad:
        raise ValueError(f'invalid URL escape "%{bad.group(1)}"')
    return urllib.parse.unquote_plus(text)


def _string_functions() -> dict[str, Function]:
    s1, s2, s3 = ("str",), ("str", "str"), ("str", "str", "str")
    return {
        # The deprecated Go `strings` names: the string comes first.
        "ToLower": Function(str.lower, s1),
        "ToUpper": Function(str.upper, s1),
        "Replace": Function(_go_replace, ("str", "str", "str", "int")),
        "Trim": Function(lambda s, cut: s.strip(cut), s2),
        "TrimLeft": Function(lambda s, cut: s.lstrip(cut), s2),
        "TrimRight": Function(lambda s, cut: s.rstrip(cut), s2),
        "TrimPrefix": Function(lambda s, p: s.removeprefix(p), s2),
        "TrimSuffix": Function(lambda s, p: s.removesuffix(p), s2),
        "TrimSpace": Function(str.strip, s1),
        # sprig: the string comes last, so it can be piped in.
        "lower": Function(str.lower, s1),
        "upper": Function(str.upper, s1),
        "title": Function(_title, s1),
        "trunc": Function(_runes_trunc, ("int", "str")),
        "substr": Function(_substr, ("int", "int", "str")),
        "contains": Function(lambda sub, s: sub in s, s2),
        "hasPrefix": Function(lambda p, s: s.startswith(p), s2),
        "hasSuffix": Function(lambda p, s: s.endswith(p), s2),
        "indent": Function(_indent, ("int", "str")),
        "nindent": Function(lambda n, s: "\n" + _indent(n, s), ("int", "str")),
        "replace": Function(lambda old, new, s: s.replace(old, new), s3),
        "repeat": Function(_repeat, ("int", "str")),
        "trim": Function(str.strip, s1),
        "trimAll": Function(lambda cut, s: s.strip(cut), s2),
        "trimPrefix": Function(lambda p, s: s.removeprefix(p), s2),
        "trimSuffix": Function(lambda p, s: s.removesuffix(p), s2),
        "alignLeft": Function(lambda n, s: _align(n, s, True), ("int", "str")),
        "alignRight": Function(lambda n, s: _align(n, s, False), ("int", "str")),
        "b64enc": Function(lambda s: base64.b64encode(s.encode()).decode(), s1),
        "b64dec": Function(_b64dec, s1),
        "urlencode": Function(lambda s: urllib.parse.quote_plus(s, safe=""), s1),
        "urldecode": Function(_urldecode, s1),
        "default": Function(_default, ("any",), "any"),
        "fromJson": Function(_from_json, s1),
    }


def _default(fallback: Any, *given: Any) -> Any:
    return fallback if not given or _is_empty(given[0]) else given[0]


def _from_json(text: str) -> Any:
    try:
        # Go decodes every JSON number as float64.
        return json.loads(text, parse_int=float)
    except ValueError:
        return None


# ---------------------------------------------------------------- regular expressions


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


def _replace_all(pattern: str, text: str, replacement: str) -> str:
    return _regex(pattern).sub(lambda m: expand_template(replacement, m), text)


def _replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    return _regex(pattern).sub(lambda _: replacement, text)


def _count(pattern: str, text: str) -> int:
    return sum(1 for _ in _regex(pattern).finditer(text))


# ---------------------------------------------------------------- time


def _date(layout: str, value: Any) -> str:
    if isinstance(value, GoTime):
        return format_time(value, layout)
    if isinstance(value, int) and not isinstance(value, bool):
        return format_time(GoTime(value * 1_000_000_000), layout)
    return format_time(_now(), layout)  # sprig falls back to the current time


def _now() -> GoTime:
    return GoTime(time.time_ns())


def _to_date(layout: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text)
    except ValueError:
        return ZERO_TIME


def _to_date_in_zone(layout: str, zone: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text, zone)
    except ValueError:
        return ZERO_TIME


def _unix_to_time(epoch: str) -> GoTime:
    scale = {5: 86400 * 10**9, 10: 10**9, 13: 10**6, 16: 10**3, 19: 1}.get(len(epoch))
    try:
        number = int(epoch)
    except ValueError:
        number, scale = 0, None
    if scale is None:
        raise ValueError(f"unable to parse time '{epoch}'")
    return GoTime(number * scale)


def _time_functions() -> dict[str, Function]:
    return {
        "date": Function(_date, ("str", "any")),
        "now": Function(_now),
        "toDate": Function(_to_date, ("str", "str")),
        "toDateInZone": Function(_to_date_in_zone, ("str", "str", "str")),
        "unixEpoch": Function(lambda t: str(t.unix()), ("time",)),
        "unixEpochMillis": Function(lambda t: str(t.ns // 1_000_000), ("time",)),
        "unixEpochNanos": Function(lambda t: str(t.ns), ("time",)),
        "unixToTime": Function(_unix_to_time, ("str",)),
        "bytes": Function(parse_bytes, ("str",)),
        "duration": Function(parse_duration_seconds, ("str",)),
        "duration_seconds": Function(parse_duration_seconds, ("str",)),
        "regexReplaceAll": Function(_replace_all, ("str", "str", "str")),
        "regexReplaceAllLiteral": Function(_replace_all_literal, ("str", "str", "str")),
        "count": Function(_count, ("str", "str")),
    }


# ---------------------------------------------------------------- text/template built-ins


def _basic(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _equal(a: Any, b: Any) -> bool:
    kind_a, kind_b = _basic(a), _basic(b)
    if kind_a == "other" or kind_b == "other":
        if a is None or b is None:
            return a is b
        raise TemplateCallError(f"non-comparable type {type_name(a)}: {type_name(b)}")
    if kind_a != kind_b:
        raise TemplateCallError("incompatible types for comparison")
    return bool(a == b)


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateCallError("missing argument for comparison")
    return any(_equal(first, other) for other in others)


def _less(a: Any, b: Any) -> bool:
    kind_a, kind_b = _basic(a), _basic(b)
    if kind_a in ("bool", "other") or kind_b in ("bool", "other"):
        raise TemplateCallError(f"invalid type for comparison: {type_name(a)}")
    if kind_a != kind_b:
        raise TemplateCallError("incompatible types for comparison")
    return bool(a < b)


def _length(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())  # Go counts bytes
    if isinstance(value, list | dict):
        return len(value)
    raise TemplateCallError(f"len of type {type_name(value)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            if not isinstance(key, str):
                raise TemplateCallError(f"value has type {type_name(key)}; should be string")
            item = item.get(key, "" if isinstance(item, StringMap) else None)
        elif isinstance(item, list | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateCallError(f"cannot index slice/array with type {type_name(key)}")
            if not 0 <= key < len(item):
                raise TemplateCallError(f"index out of range: {key}")
            item = item[key] if isinstance(item, list) else item.encode()[key]
        else:
            raise TemplateCallError(f"can't index item of type {type_name(item)}")
    return item


def _builtin_functions() -> dict[str, Function]:
    return {
        "eq": Function(_eq, ("any",), "any"),
        "ne": Function(lambda a, b: not _equal(a, b), ("any", "any")),
        "lt": Function(_less, ("any", "any")),
        "le": Function(lambda a, b: _less(a, b) or _equal(a, b), ("any", "any")),
        "gt": Function(lambda a, b: not (_less(a, b) or _equal(a, b)), ("any", "any")),
        "ge": Function(lambda a, b: not _less(a, b), ("any", "any")),
        "not": Function(lambda a: not truth(a), ("any",)),
        "len": Function(_length, ("any",)),
        "index": Function(_index, ("any",), "any"),
        "print": Function(lambda *a: sprint(list(a)), (), "any"),
        "println": Function(lambda *a: sprintln(list(a)), (), "any"),
        "printf": Function(lambda f, *a: sprintf(f, list(a)), ("str",), "any"),
        "html": Function(lambda *a: html.escape(sprint(list(a))), (), "any"),
        "urlquery": Function(
            lambda *a: urllib.parse.quote_plus(sprint(list(a)), safe=""), (), "any"
        ),
    }


def truth(value: Any) -> bool:
    """Go template truthiness: zero values and empty collections are false."""
    if isinstance(value, GoTime):
        return True
    return not _is_empty(value)


# `and` and `or` are evaluated lazily by the engine; `__line__` and `__timestamp__` are bound
# per entry.
LAZY_FUNCTIONS = frozenset({"and", "or"})
ENTRY_FUNCTIONS = frozenset({"__line__", "__timestamp__"})

FUNCTIONS: dict[str, Function] = {
    **_math_functions(),
    **_string_functions(),
    **_time_functions(),
    **_builtin_functions(),
}
