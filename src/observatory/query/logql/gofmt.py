"""Go's `fmt` for template values: `%v` printing, `print`, `printf` and Go type names.

Template values are Python str, int, float, bool, None, list, dict and GoTime; this module
prints them as Go prints the matching string, int, float64, bool, nil, []interface{},
map[string]interface{} and time.Time, including Go's `%!verb(type=value)` for a bad verb.
Other template languages add StringMap (a `map[string]string`) and TemplateValue subclasses
(Go structs and named types with fields and methods).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from observatory.query.logql.conversions import format_float
from observatory.query.logql.gotime import GoTime

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.?)", re.DOTALL)


class StringMap(dict[str, str]):
    """A Go `map[string]string`: a missing key reads as "" (text/template's missingkey=zero)."""


class TemplateValue:
    """A Go struct or named type: templates read its fields and call its methods by name."""

    go_type: ClassVar[str] = "struct {}"

    def template_member(self, name: str, args: list[Any]) -> Any:
        """The field or the method's result; LookupError when the type has no such member."""
        raise LookupError(name)


def type_name(value: Any) -> str:
    if isinstance(value, TemplateValue):
        return value.go_type
    if isinstance(value, StringMap):
        return "map[string]string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoTime):
        return "time.Time"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "<nil>"


def sprint_value(value: Any) -> str:
    """`fmt.Sprint(value)` of one value (`%v`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(sprint_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{sprint_value(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    return str(value)


def sprint(args: list[Any]) -> str:
    """`fmt.Sprint`: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(arg))
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(sprint_value(a) for a in args) + "\n"


class _Spec:
    """One parsed `%` directive."""

    __slots__ = ("flags", "precision", "verb", "width")

    def __init__(self, flags: str, width: int | None, precision: int | None, verb: str) -> None:
        self.flags, self.width, self.precision, self.verb = flags, width, precision, verb

    def pad(self, text: str, numeric: bool = False) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        if "-" in self.flags:
            return text.ljust(self.width)
        if "0" in self.flags and numeric:
            sign = text[0] if text[:1] in ("+", "-", " ") else ""
            return sign + text[len(sign) :].rjust(self.width - len(sign), "0")
        return text.rjust(self.width)


def _bad_verb(spec: _Spec, value: Any) -> str:
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({type_name(value)}={sprint_value(value)})"


def _sign(spec: _Spec, negative: bool) -> str:
    if negative:
        return "-"
    return "+" if "+" in spec.flags else " " if " " in spec.flags else ""


def _format_int(spec: _Spec, value: int) -> str | None:
    bases = {"d": (10, ""), "b": (2, "0b"), "o": (8, "0"), "O": (8, "0o"), "x": (16, "0x")}
    verb = spec.verb
    if verb == "c":
        return spec.pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")
    if verb == "q":
        return spec.pad("'" + (chr(value) if 0 <= value <= 0x10FFFF else "\ufffd") + "'")
    if verb == "U":
        return spec.pad(f"U+{value:04X}")
    if verb in ("e", "E", "f", "F", "g", "G"):
        return None
    base, prefix = bases.get(verb.lower() if verb == "X" else verb, (0, ""))
    if base == 0:
        return None
    digits = _to_base(abs(value), base)
    if verb == "X":
        digits, prefix = digits.upper(), "0X"
    if spec.precision is not None:
        digits = digits.rjust(spec.precision, "0") if spec.precision or value else ""
    alt = prefix if ("#" in spec.flags or verb == "O") and verb != "d" else ""
    return spec.pad(_sign(spec, value < 0) + alt + digits, numeric=spec.precision is None)


def _to_base(value: int, base: int) -> str:
    if base == 10:
        return str(value)
    return {2: format(value, "b"), 8: format(value, "o"), 16: format(value, "x")}[base]


def _format_float(spec: _Spec, value: float) -> str | None:
    verb = spec.verb
    if verb not in ("v", "e", "E", "f", "F", "g", "G"):
        return None
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("-Inf" if value < 0 else "+Inf")
        if text == "+Inf" and "+" not in spec.flags:
            text = " Inf" if " " in spec.flags else "Inf"
        return spec.pad(text)
    if verb in ("v", "g", "G") and spec.precision is None:
        text = format_float(abs(value))
        text = text.upper() if verb == "G" else text
    else:
        precision = 6 if spec.precision is None else spec.precision
        py_verb = "g" if verb == "v" else verb
        text = f"{abs(value):{'#' if '#' in spec.flags else ''}.{precision}{py_verb}}"
    return spec.pad(_sign(spec, math.copysign(1.0, value) < 0) + text, numeric=True)


def go_quote_string(text: str, ascii_only: bool = False) -> str:
    """`strconv.Quote` (or `QuoteToASCII`)."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif (ascii_only and code > 0x7E) or not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _format_string(spec: _Spec, value: str) -> str | None:
    verb = spec.verb
    if verb in ("s", "v"):
        text = value if spec.precision is None else value[: spec.precision]
        return spec.pad(text)
    if verb == "q":
        if "#" in spec.flags and "`" not in value and value.isprintable():
            return spec.pad("`" + value + "`")
        return spec.pad(go_quote_string(value, ascii_only="+" in spec.flags))
    if verb in ("x", "X"):
        data = value.encode()
        if spec.precision is not None:
            data = data[: spec.precision]
        text = data.hex(" ") if " " in spec.flags else data.hex()
        return spec.pad(text.upper() if verb == "X" else text)
    return None


def format_one(spec: _Spec, value: Any) -> str:
    """One argument under one verb, or Go's bad-verb text."""
    if spec.verb == "T":
        return spec.pad(type_name(value))
    result: str | None = None
    if isinstance(value, bool):
        result = spec.pad(sprint_value(value)) if spec.verb in ("t", "v") else None
    elif isinstance(value, int):
        result = (
            _format_int(spec, value) if spec.verb != "v" else _format_int(_as(spec, "d"), value)
        )
    elif isinstance(value, float):
        result = _format_float(spec, value)
    elif isinstance(value, str):
        result = _format_string(spec, value)
    elif isinstance(value, list) and spec.verb != "q":
        result = "[" + " ".join(format_one(spec, v) for v in value) + "]"
    elif spec.verb in ("v", "s") and value is not None:
        result = spec.pad(sprint_value(value))
    elif value is None and spec.verb == "v":
        result = spec.pad("<nil>")
    return result if result is not None else _bad_verb(spec, value)


def _as(spec: _Spec, verb: str) -> _Spec:
    return _Spec(spec.flags, spec.width, spec.precision, verb)


def _star(arg: str | None, args: list[Any], index: int) -> tuple[int | None, int, bool]:
    """Resolves a `*` width or precision from the arguments: (value, next index, ok)."""
    if arg != "*":
        return (int(arg) if arg else None), index, True
    if index < len(args) and isinstance(args[index], int) and not isinstance(args[index], bool):
        return args[index], index + 1, True
    return None, index + 1, False


def sprintf(fmt: str, args: list[Any]) -> str:
    """`fmt.Sprintf` over the verbs templates use."""
    out: list[str] = []
    index, pos = 0, 0
    while pos < len(fmt):
        percent = fmt.find("%", pos)
        if percent < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:percent])
        match = _DIRECTIVE.match(fmt, percent)
        assert match is not None
        flags, width_s, precision_s, verb = match.groups()
        pos = match.end()
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            break
        width, index, ok_w = _star(width_s, args, index)
        precision: int | None = None
        if precision_s is not None:
            precision, index, ok_p = _star(precision_s, args, index)
            precision = precision or 0
            ok_w = ok_w and ok_p
        if not ok_w:
            out.append("%!(BADWIDTH)")
        spec = _Spec(flags, width, precision, verb)
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_one(spec, args[index]))
        index += 1
    if index < len(args):
        extra = ", ".join(f"{type_name(a)}={sprint_value(a)}" for a in args[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
