"""OTLP names and values in the Prometheus model: metric names, units, label names and values.

Metric names are escaped to the classic character set and get unit and type suffixes;
attribute keys become label names and attribute values label strings (numbers in their
shortest form, arrays and maps as JSON). Every rule here is fixed by what other
OTLP-to-Prometheus paths produce: a series only matches theirs, in dashboards and alerts
written for them, if its name and labels agree byte for byte.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Literal, cast

from observatory.signals.attributes import AttributeValue, KvList

# What a name is suffixed for: `counter` gets `_total`, `gauge` with unit "1" gets `_ratio`.
NameKind = Literal["gauge", "counter", "other"]

UNIT_WORDS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
# The unit after a "/" reads as a singular word, and "m" there is a minute, not a meter.
PER_UNIT_WORDS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_DIGITS = frozenset("0123456789")
_RESERVED_NAME = "__name__"
# Below 2**53 every integral float is an exact integer, so `int()` gives its shortest digits.
_EXACT_INTEGERS = 2.0**53
# HTML-significant characters are escaped in JSON text so that label values agree byte for
# byte with the same attributes converted elsewhere.
_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


@lru_cache(maxsize=8192)
def metric_name(name: str, unit: str, kind: NameKind) -> str:
    """The Prometheus name of an OTLP metric, or "" when nothing valid is left of it."""
    tokens = [token for token in _NOT_NAME_CHARS.split(name) if token]
    main, per = _unit_suffixes(unit)
    tokens = _with_unit(tokens, _clean_unit(main), _clean_unit(per))
    if kind == "counter":
        tokens = _moved_last(tokens, "total")
    elif kind == "gauge" and unit == "1":
        tokens = _moved_last(tokens, "ratio")
    result = "_".join(tokens)
    if result[:1] in _DIGITS:
        result = "_" + result
    return "" if _only_underscores(result, name) else result


@lru_cache(maxsize=4096)
def unit_word(unit: str) -> str:
    """The unit as metric metadata spells it: `ms` is `milliseconds`, `By/s` `bytes_per_second`."""
    main, per = _unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    word = f"{main}_{per}" if main and per else main or per
    return word.removeprefix("_").removesuffix("_")


@lru_cache(maxsize=65536)
def label_name(key: str) -> str:
    """The label name of an attribute key, or "" when nothing valid is left of it."""
    if not key:
        return ""
    name = _NOT_LABEL_CHAR.sub("_", key)
    if name[0] in _DIGITS:
        name = "key_" + name
    elif name[0] == "_" and not name.startswith("__"):
        name = "key" + name
    return "" if _only_underscores(name, key) else name


def attribute_labels(pairs: Sequence[tuple[str, AttributeValue]]) -> dict[str, str] | None:
    """Attributes as labels; None when a key cannot be a label name."""
    labels: dict[str, str] = {}
    for key, value in pairs:
        name = label_name(key)
        if not name:
            return None
        if name in labels:
            return _joined_labels(pairs)
        labels[name] = value if isinstance(value, str) else label_value(value)
    labels.pop(_RESERVED_NAME, None)
    return labels


def label_value(value: AttributeValue) -> str:
    """An attribute value as a label value: scalars as text, arrays and maps as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    try:
        return _json(value)
    except ValueError:
        # NaN and infinities have no JSON form, so the whole value renders as nothing.
        return ""


def format_bound(value: float) -> str:
    """A bucket bound or quantile as an `le` or `quantile` label value: `0.5`, `1`, `+Inf`."""
    if value == 0.0:
        # Kept out of the cache, which cannot tell 0.0 and -0.0 apart.
        return _fixed(value)
    return _cached_bound(value)


@lru_cache(maxsize=16384)
def exponential_bound(scale: int, exponent: int, negative: bool) -> str:
    """The formatted bound ±base**exponent of an exponential histogram of this scale."""
    bound = _power_of_base(scale, exponent)
    return format_bound(-bound if negative else bound)


def _power_of_base(scale: int, exponent: int) -> float:
    # base = 2**(2**-scale); splitting off the integral power of two keeps every bound that
    # is a power of two exact, so equal bounds at different scales format the same.
    if scale <= 0:
        whole, fraction = exponent << -scale, 1.0
    else:
        whole, rest = divmod(exponent, 1 << scale)
        fraction = 2.0 ** (rest / (1 << scale))
    try:
        return math.ldexp(fraction, whole)
    except OverflowError:
        return math.inf


@lru_cache(maxsize=16384)
def _cached_bound(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return _fixed(value)


def _fixed(value: float) -> str:
    """The shortest digits that read back as `value`, never in exponent notation."""
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer() and abs(value) < _EXACT_INTEGERS:
        return str(int(value))
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number_text(value: float) -> str:
    """A float as JSON numbers are written: fixed notation from 1e-6 up to 1e21."""
    if not math.isfinite(value):
        word = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        return "json: unsupported value: " + word
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return _fixed(value)
    # repr already uses an exponent in these ranges; only a leading zero in a negative
    # two-digit exponent is dropped (1e-07 is written 1e-7).
    text = repr(value)
    if text[-4:-1] == "e-0":
        text = text[:-2] + text[-1]
    return text


def _json(value: AttributeValue) -> str:
    if isinstance(value, KvList):
        members = sorted(dict(value).items(), key=itemgetter(0))
        return "{" + ",".join(f"{_json_string(k)}:{_json(v)}" for k, v in members) + "}"
    if isinstance(value, list):
        items = cast("list[AttributeValue]", value)
        return "[" + ",".join(_json(item) for item in items) + "]"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, bytes):
        return _json_string(base64.b64encode(value).decode())
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("no JSON form for a non-finite number")
    return label_value(value)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_HTML_ESCAPES)


def _joined_labels(pairs: Sequence[tuple[str, AttributeValue]]) -> dict[str, str] | None:
    """Labels where keys collide once escaped: values joined with ";" in order of key."""
    labels: dict[str, str] = {}
    for key, value in sorted(pairs, key=itemgetter(0)):
        name = label_name(key)
        if not name:
            return None
        text = value if isinstance(value, str) else label_value(value)
        labels[name] = labels[name] + ";" + text if name in labels else text
    labels.pop(_RESERVED_NAME, None)
    return labels


def _unit_suffixes(unit: str) -> tuple[str, str]:
    """The words for the unit and its "per" part; `{...}` annotations count as no unit."""
    main_unit, _, per_unit = unit.partition("/")
    main_unit, per_unit = main_unit.strip(), per_unit.strip()
    main = UNIT_WORDS.get(main_unit, main_unit) if _is_unit(main_unit) else ""
    per = PER_UNIT_WORDS.get(per_unit, per_unit) if _is_unit(per_unit) else ""
    return main, "per_" + per if per else ""


def _is_unit(unit: str) -> bool:
    return bool(unit) and "{" not in unit and "}" not in unit


def _clean_unit(word: str) -> str:
    return _NOT_NAME_CHARS.sub("_", word).removeprefix("_")


def _with_unit(tokens: list[str], main: str, per: str) -> list[str]:
    """The name tokens with the unit words appended, unless the name holds them already."""
    if main in tokens:
        main = ""
    per = "" if per == "per_" else per.removesuffix("_")
    if per in tokens:
        per = ""
    if per:
        main = main.removesuffix("_")
    return tokens + [word for word in (main, per) if word]


def _moved_last(tokens: list[str], word: str) -> list[str]:
    return [token for token in tokens if token != word] + [word]


def _only_underscores(result: str, original: str) -> bool:
    """Whether escaping left nothing usable: an empty name, or one of underscores only."""
    return not result or (result != original and not result.strip("_"))
