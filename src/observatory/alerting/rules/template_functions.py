"""The functions of Prometheus's alert templates, as its template reference documents them.

Only Go's text/template built-ins and Prometheus's own functions are callable (no sprig, unlike
LogQL's templates). Numbers print as Go's `%.4g` does, times as Go prints a `time.Time`, and a
function that fails raises an error whose text is Go's where Prometheus shows it (e.g.
`strconv.ParseFloat: parsing "one": invalid syntax`); the engine adds where it happened.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from observatory.query.logql.conversions import format_float, go_quote, parse_float
from observatory.query.logql.gofmt import (
    StringMap,
    TemplateValue,
    sprint,
    sprint_value,
    type_name,
)
from observatory.query.logql.gotime import GoTime
from observatory.query.logql.template_funcs import FUNCTIONS, Function, TemplateCallError
from observatory.query.promql.label_functions import expand_template as expand_replacement
from observatory.query.promql.regex import translate

_NS_PER_SECOND = 1_000_000_000
_INT64_LIMIT = float(1 << 63)  # Go compares against float64(math.MaxInt64), which is 2**63


class Sample(TemplateValue):
    """One element of a `query` result: Go's `*sample` with `.Labels` and `.Value`."""

    go_type = "*template.sample"
    __slots__ = ("labels", "value")

    def __init__(self, labels: StringMap, value: float) -> None:
        self.labels = labels
        self.value = value

    def template_member(self, name: str, args: list[Any]) -> Any:
        if name not in ("Labels", "Value"):
            raise LookupError(name)
        if args:
            raise TemplateCallError(f"{name} has arguments but cannot be invoked as function")
        return self.labels if name == "Labels" else self.value

    def __str__(self) -> str:
        return f"&{{{sprint_value(self.labels)} {sprint_value(self.value)}}}"


class GoDuration(TemplateValue):
    """Go's `*time.Duration` (from `toDuration`): prints as `1h2m3.5s`, has Go's methods."""

    go_type = "*time.Duration"
    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def template_member(self, name: str, args: list[Any]) -> Any:
        methods: dict[str, Callable[[], Any]] = {
            "String": lambda: str(self),
            "Seconds": lambda: self.ns / _NS_PER_SECOND,
            "Minutes": lambda: self.ns / (60 * _NS_PER_SECOND),
            "Hours": lambda: self.ns / (3600 * _NS_PER_SECOND),
            "Milliseconds": lambda: _trunc_div(self.ns, 1_000_000),
            "Microseconds": lambda: _trunc_div(self.ns, 1_000),
            "Nanoseconds": lambda: self.ns,
            "Abs": lambda: GoDuration(abs(self.ns)),
        }
        if name not in methods:
            raise LookupError(name)
        if args:
            raise TemplateCallError(f"wrong number of args for {name}: want 0 got {len(args)}")
        return methods[name]()

    def __str__(self) -> str:
        return duration_string(self.ns)


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division, which truncates towards zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _fraction(value: int, scale: int) -> str:
    """`value / scale` in decimal without trailing zeros, as time.Duration.String prints."""
    whole, rest = divmod(value, scale)
    digits = str(rest).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def duration_string(ns: int) -> str:
    """Go's `time.Duration.String`: `0s`, `1.5µs`, `100ms`, `1h2m3.5s`."""
    if ns == 0:
        return "0s"
    sign, magnitude = ("-" if ns < 0 else ""), abs(ns)
    if magnitude < _NS_PER_SECOND:
        if magnitude < 1_000:
            return f"{sign}{magnitude}ns"
        unit, scale = ("µs", 1_000) if magnitude < 1_000_000 else ("ms", 1_000_000)
        return sign + _fraction(magnitude, scale) + unit
    minutes, rest = divmod(magnitude, 60 * _NS_PER_SECOND)
    text = _fraction(rest, _NS_PER_SECOND) + "s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = (f"{hours}h" if hours else "") + f"{minutes}m" + text
    return sign + text


# ---------------------------------------------------------------- numbers


def convert_to_float(value: Any) -> float:
    """Prometheus's ConvertToFloat: numbers, numeric strings (Go's ParseFloat), durations."""
    if isinstance(value, bool):
        raise ValueError("can't convert bool to float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_float(value)
    if isinstance(value, GoDuration):
        return value.ns / _NS_PER_SECOND
    raise ValueError(f"can't convert {type_name(value)} to float")


def go_g4(value: float) -> str:
    """Go's `%.4g`; Python's agrees on finite numbers but spells infinities differently."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _scaled(value: float, base: float, prefixes: str | tuple[str, ...]) -> str:
    """Divides by `base` while |value| >= base, at most once per prefix."""
    prefix = ""
    for candidate in prefixes:
        if abs(value) < base:
            break
        prefix, value = candidate, value / base
    return go_g4(value) + prefix


def _small(value: float) -> tuple[float, str]:
    """Multiplies by 1000 while |value| < 1, at most eight times; returns the SI prefix."""
    prefix = ""
    for candidate in "munpfazy":
        if abs(value) >= 1:
            break
        prefix, value = candidate, value * 1000
    return value, prefix


def humanize(raw: Any) -> str:
    """`humanize`: metric prefixes, four significant digits (1234567 -> 1.235M)."""
    value = convert_to_float(raw)
    if value == 0 or not math.isfinite(value):
        return go_g4(value)
    if abs(value) >= 1:
        return _scaled(value, 1000.0, "kMGTPEZY")
    scaled, prefix = _small(value)
    return go_g4(scaled) + prefix


def humanize1024(raw: Any) -> str:
    """`humanize1024`: binary prefixes (1048576 -> 1Mi); Prometheus spells kibi `ki`."""
    value = convert_to_float(raw)
    if abs(value) <= 1 or not math.isfinite(value):
        return go_g4(value)
    return _scaled(value, 1024.0, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"))


def humanize_duration(raw: Any) -> str:
    """`humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.234s`, or `500ms` below a second."""
    value = convert_to_float(raw)
    if not math.isfinite(value):
        return go_g4(value)
    if value == 0:
        return go_g4(value) + "s"
    if abs(value) >= 1:
        sign, value = ("-", -value) if value < 0 else ("", value)
        whole = int(value)
        minutes, seconds = divmod(whole, 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g4(value)}s"
    scaled, prefix = _small(value)
    return f"{go_g4(scaled)}{prefix}s"


def humanize_percentage(raw: Any) -> str:
    return go_g4(convert_to_float(raw) * 100) + "%"


def _float_to_ns(value: float, what: str) -> int:
    if not math.isfinite(value):
        raise ValueError("value is NaN or Inf")
    ns = value * 1e9
    if ns > _INT64_LIMIT or ns < -_INT64_LIMIT:
        raise ValueError(
            f"{format_float(value)} cannot be represented as a nanoseconds {what} "
            "since it overflows int64"
        )
    return int(ns)


def to_time(raw: Any) -> GoTime:
    """`toTime`: Unix seconds to a UTC time, kept to the millisecond as Prometheus keeps it."""
    ns = _float_to_ns(convert_to_float(raw), "timestamp")
    return GoTime(_trunc_div(ns, 1_000_000) * 1_000_000)


def to_duration(raw: Any) -> GoDuration:
    """`toDuration`: seconds to a Go duration."""
    return GoDuration(_float_to_ns(convert_to_float(raw), "duration"))


def humanize_timestamp(raw: Any) -> str:
    """`humanizeTimestamp`: `2015-06-23 13:19:44.128 +0000 UTC`."""
    value = convert_to_float(raw)
    return go_g4(value) if not math.isfinite(value) else str(to_time(value))


# unit: (its rank, largest first; nanoseconds)
_DURATION_UNITS = {
    "y": (1, 365 * 86400 * _NS_PER_SECOND),
    "w": (2, 7 * 86400 * _NS_PER_SECOND),
    "d": (3, 86400 * _NS_PER_SECOND),
    "h": (4, 3600 * _NS_PER_SECOND),
    "m": (5, 60 * _NS_PER_SECOND),
    "s": (6, _NS_PER_SECOND),
    "ms": (7, 1_000_000),
}
_DURATION_PART = re.compile(r"([0-9]+)([^0-9]*)")


def parse_duration(text: str) -> float:
    """`parseDuration`: a Prometheus duration (`1h2m10ms`, units y w d h m s ms, largest
    first, a leading `-` allowed) in seconds."""
    if text == "0":
        return 0.0
    if text == "":
        raise ValueError("empty duration string")
    negative = text.startswith("-")
    body, pos, last, total = text[1:] if negative else text, 0, 0, 0
    invalid = ValueError(f"not a valid duration string: {go_quote(text)}")
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if part is None or not part.group(2):
            raise invalid
        number, unit = int(part.group(1)), part.group(2)
        if unit not in _DURATION_UNITS:
            raise ValueError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        if _DURATION_UNITS[unit][0] <= last:
            raise invalid  # units must go from the largest to the smallest
        last, pos = _DURATION_UNITS[unit][0], part.end()
        total += number * _DURATION_UNITS[unit][1]
        if total > (1 << 63) - 1:
            raise ValueError("duration out of range")
    if not body:
        raise invalid
    return (-total if negative else total) / _NS_PER_SECOND


# ---------------------------------------------------------------- strings


# Word-internal punctuation (Unicode's MidLetter, MidNumLet, Single_Quote): "don't" and
# "foo.bar" stay one word for cases.Title.
_MID_LETTER = frozenset(
    "'.:\u00b7\u0387\u05f4\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a"
)


def _is_cased(ch: str) -> bool:
    return ch.lower() != ch or ch.upper() != ch or unicodedata.category(ch) == "Lt"


def _breaks_word(ch: str) -> bool:
    if ch in _MID_LETTER or ch.isalnum():
        return False
    return unicodedata.category(ch)[0] != "M" and unicodedata.category(ch) != "Pc"


def title(text: str) -> str:
    """`cases.Title(language.AmericanEnglish, cases.NoLower)`: the first cased letter of each
    word in title case, the rest unchanged ("aa bb CC" -> "Aa Bb CC", "don't" -> "Don't")."""
    out: list[str] = []
    in_word = previous_mid = False
    for ch in text:
        is_mid = ch in _MID_LETTER
        if previous_mid and is_mid:
            in_word = False  # two word-internal marks in a row end the word
        if _is_cased(ch):
            out.append(ch if in_word else ch.title())
            in_word = True
        else:
            out.append(ch)
            in_word = in_word and not _breaks_word(ch)
        previous_mid = is_mid
    return "".join(out)


def _map_runes(text: str, upper: bool) -> str:
    """strings.ToUpper / ToLower map one rune to one rune; Python may map `ß` to `SS`."""
    out: list[str] = []
    for ch in text:
        mapped = ch.upper() if upper else ch.lower()
        out.append(mapped if len(mapped) == 1 else (ch if upper else mapped[0]))
    return "".join(out)


def query_escape(text: str) -> str:
    """Go's url.QueryEscape."""
    return urllib.parse.quote_plus(text, safe="")


def graph_link(expr: str) -> str:
    return f"/graph?g0.expr={query_escape(expr)}&g0.tab=0"


def table_link(expr: str) -> str:
    return f"/graph?g0.expr={query_escape(expr)}&g0.tab=1"


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort; None where Go returns an error."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    opening, closing = 0, 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None  # no ']', nothing after it, or more than one colon behind it
        host, opening, closing = hostport[1:end], 1, end + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            return None
    if "[" in hostport[opening:] or "]" in hostport[closing:]:
        return None
    return host, hostport[colon + 1 :]


def _is_ip(host: str) -> bool:
    """Go's net.ParseIP accepts no IPv6 zone."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return "%" not in host


def strip_port(hostport: str) -> str:
    parts = split_host_port(hostport)
    return hostport if parts is None else parts[0]


def strip_domain(hostport: str) -> str:
    """`stripDomain`: `foo.example.com:12345` -> `foo:12345`; IP addresses stay as they are."""
    host, port = split_host_port(hostport) or (hostport, "")
    if _is_ip(host):
        return hostport
    host = host.split(".")[0]
    return f"{host}:{port}" if port else host


def html_escape(text: str) -> str:
    """Go's template.HTMLEscapeString."""
    table = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}
    return "".join(table.get(ch, ch) for ch in text)


def js_escape(text: str) -> str:
    """Go's template.JSEscapeString."""
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
    table |= {"&": "\\u0026", "=": "\\u003D"}
    out: list[str] = []
    for ch in text:
        if ch in table:
            out.append(table[ch])
        elif ch < " " or (ord(ch) >= 0x80 and not ch.isprintable()):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------- regular expressions


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(translate(pattern))
    except re.error as exc:
        raise ValueError(f"error parsing regexp: {exc.msg}: `{pattern}`") from None


def match(pattern: str, text: str) -> bool:
    """regexp.MatchString: an unanchored RE2 match."""
    return _regex(pattern).search(text) is not None


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Regexp.ReplaceAllString: `$1` and `${name}` expand; as in Go, an empty match right
    after a previous match is skipped."""
    try:
        regex = _regex(pattern)
    except ValueError as exc:
        raise ValueError(f"regexp: Compile({go_quote(pattern)}): {exc}") from None
    out: list[str] = []
    pos, last_end = 0, -1
    for found in regex.finditer(text):
        if found.start() == found.end() == last_end:
            continue
        out.append(text[pos : found.start()])
        out.append(expand_replacement(replacement, found))
        pos = last_end = found.end()
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------- query results


def _sample(value: Any) -> Sample:
    if not isinstance(value, Sample):
        raise TemplateCallError(
            f"wrong type for value; expected *template.sample; got {type_name(value)}"
        )
    return value


def _samples(value: Any) -> list[Sample]:
    if not isinstance(value, list) or not all(isinstance(s, Sample) for s in value):
        raise TemplateCallError(
            f"wrong type for value; expected template.queryResult; got {type_name(value)}"
        )
    return value


def first(samples: Any) -> Sample:
    found = _samples(samples)
    if not found:
        raise TemplateCallError("first() called on vector with no elements")
    return found[0]


def sort_by_label(label: str, samples: Any) -> list[Sample]:
    """Sorts in place (Go sorts the slice it is given) and stably."""
    found = _samples(samples)
    found.sort(key=lambda s: s.labels.get(label, ""))
    return found


def template_args(*values: Any) -> dict[str, Any]:
    """`args`: `{arg0: ..., arg1: ...}`, for passing several values to a template."""
    return {f"arg{i}": value for i, value in enumerate(values)}


# ---------------------------------------------------------------- the table


# Go's text/template built-ins; `and` and `or` are evaluated lazily by the engine.
_BUILTINS = (
    *("eq", "ne", "lt", "le", "gt", "ge", "not", "len", "index"),
    *("print", "printf", "println", "urlquery"),
)


def _static_functions() -> dict[str, Function]:
    one, string = ("any",), ("str",)
    table = {name: FUNCTIONS[name] for name in _BUILTINS}
    table |= {
        "html": Function(lambda *a: html_escape(sprint(list(a))), (), "any"),
        "js": Function(lambda *a: js_escape(sprint(list(a))), (), "any"),
        "first": Function(first, one),
        "label": Function(lambda name, s: _sample(s).labels.get(name, ""), ("str", "any")),
        "value": Function(lambda s: _sample(s).value, one),
        "strvalue": Function(lambda s: _sample(s).labels.get("__value__", ""), one),
        "sortByLabel": Function(sort_by_label, ("str", "any")),
        "args": Function(template_args, (), "any"),
        "reReplaceAll": Function(re_replace_all, ("str", "str", "str")),
        "safeHtml": Function(lambda text: text, string),
        "match": Function(match, ("str", "str")),
        "title": Function(title, string),
        "toUpper": Function(lambda text: _map_runes(text, True), string),
        "toLower": Function(lambda text: _map_runes(text, False), string),
        "graphLink": Function(graph_link, string),
        "tableLink": Function(table_link, string),
        "urlQueryEscape": Function(query_escape, string),
        "stripPort": Function(strip_port, string),
        "stripDomain": Function(strip_domain, string),
        "parseDuration": Function(parse_duration, string),
    }
    numeric = {
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": humanize_percentage,
        "humanizeTimestamp": humanize_timestamp,
        "toTime": to_time,
        "toDuration": to_duration,
    }
    return table | {name: Function(fn, one) for name, fn in numeric.items()}


STATIC_FUNCTIONS: dict[str, Function] = _static_functions()

# Bound per expansion: they read the query function, the evaluation time or the external URL.
BOUND_FUNCTION_NAMES = frozenset({"query", "now", "externalURL", "pathPrefix"})

FUNCTION_NAMES = frozenset(STATIC_FUNCTIONS) | BOUND_FUNCTION_NAMES | {"and", "or"}
