"""Parameters of Loki's HTTP API: times in nanoseconds, steps, limits, directions."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from observatory.api.prometheus_params import parse_duration_ms
from observatory.errors import QueryError
from observatory.receivers.body import read_capped

Params = dict[str, list[str]]
FORM = "application/x-www-form-urlencoded"
MIB = 1024 * 1024
DEFAULT_LIMIT = 100
# Loki aims for about 250 points per series when no step is given.
DEFAULT_POINTS = 250
_SECONDS_DIGITS = 10


async def request_params(request: Request) -> Params:
    """Query-string and form parameters together, repeated keys (`match[]`) as lists."""
    pairs: list[tuple[str, Any]] = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM):
        body = await read_capped(request.stream(), request.headers.get("content-length"), MIB)
        pairs += parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    params: Params = {}
    for key, value in pairs:
        params.setdefault(key, []).append(str(value))
    return params


def one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def required(params: Params, name: str) -> str:
    value = one(params, name)
    if not value:
        raise QueryError(f"missing {name} parameter")
    return value


def parse_time_ns(raw: str | None, name: str, default_ns: int) -> int:
    """Loki's time parameter: Unix nanoseconds, seconds (10 digits or fewer, or with a
    fraction), or RFC 3339."""
    if raw is None or raw == "":
        return default_ns
    if "." in raw:
        try:
            seconds = float(raw)
        except ValueError:
            pass
        else:
            if math.isfinite(seconds):
                return round(seconds * 1e9)
    try:
        number = int(raw)
    except ValueError:
        return _rfc3339_ns(raw, name)
    digits = len(raw.lstrip("-"))
    return number * 10**9 if digits <= _SECONDS_DIGITS else number


def _rfc3339_ns(raw: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"invalid {name} parameter: cannot parse {raw!r} as a time") from None
    return round(moment.timestamp() * 1e9)


def parse_step_ns(raw: str) -> int:
    """A step as a duration (`15s`, `1m`) or seconds (`15`, `0.5`)."""
    step = parse_duration_ms(raw, "step") * 10**6
    if step <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    return step


def default_step_ns(start_ns: int, end_ns: int) -> int:
    seconds = max(math.ceil((end_ns - start_ns) / 1e9 / DEFAULT_POINTS), 1)
    return seconds * 10**9


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise QueryError(f"invalid limit parameter {raw!r}: not an integer") from None
    if limit <= 0:
        raise QueryError("limit must be a positive value")
    return limit


def parse_direction(raw: str | None) -> bool:
    """True for backward (newest first, Loki's default)."""
    if raw is None or raw == "" or raw.lower() == "backward":
        return True
    if raw.lower() == "forward":
        return False
    raise QueryError(f"invalid direction {raw!r}: use forward or backward")
