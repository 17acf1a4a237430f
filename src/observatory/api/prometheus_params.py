"""Parameters of the Prometheus HTTP API: times, durations and series selectors."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

import promql_parser

from observatory.errors import QueryError
from observatory.query.promql.source import LabelMatcher

_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
# What Prometheus answers for an absent start or end: the whole of time.
MIN_TIME_MS = -(2**63) // 1_000_000 // 1000 * 1000
MAX_TIME_MS = (2**63 - 1) // 1_000_000 // 1000 * 1000


def parse_time_ms(raw: str | None, name: str, default_ms: int | None = None) -> int:
    """A Unix timestamp in seconds (fractions allowed) or an RFC 3339 time, in milliseconds."""
    if raw is None or raw == "":
        if default_ms is None:
            raise QueryError(f'invalid parameter "{name}": missing')
        return default_ms
    try:
        seconds = float(raw)
    except ValueError:
        return _rfc3339_ms(raw, name)
    if not math.isfinite(seconds):
        raise QueryError(f'invalid parameter "{name}": cannot parse "{raw}" to a valid timestamp')
    return round(seconds * 1000)


def _rfc3339_ms(raw: str, name: str) -> int:
    try:
        return round(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise QueryError(
            f'invalid parameter "{name}": cannot parse "{raw}" to a valid timestamp'
        ) from None


def parse_duration_ms(raw: str | None, name: str) -> int:
    """Seconds as a float, or a Prometheus duration such as `15s` or `1h30m`."""
    if not raw:
        raise QueryError(f'invalid parameter "{name}": missing')
    try:
        return round(float(raw) * 1000)
    except ValueError:
        pass
    found = _DURATION.match(raw)
    if not found or raw == "":
        raise QueryError(f'invalid parameter "{name}": cannot parse "{raw}" to a valid duration')
    groups = found.groups()[1::2]
    return sum(int(g) * unit for g, unit in zip(groups, _UNIT_MS, strict=True) if g)


def now_ms() -> int:
    return round(time.time() * 1000)


def selector_matchers(text: str) -> list[LabelMatcher]:
    """The label matchers of a series selector such as `up{job="api"}`."""
    try:
        expr: Any = promql_parser.parse(text)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise QueryError(f'invalid parameter "match[]": {exc}') from None
    if type(expr).__name__ != "VectorSelector":
        raise QueryError(f'invalid parameter "match[]": {text!r} is not a series selector')
    matchers = [
        LabelMatcher(m.name, _MATCH_OPS[str(m.op).rsplit(".", 1)[-1]], m.value)
        for m in expr.matchers.matchers
    ]
    if expr.name and not any(m.name == "__name__" for m in matchers):
        matchers.append(LabelMatcher("__name__", "=", expr.name))
    return matchers
