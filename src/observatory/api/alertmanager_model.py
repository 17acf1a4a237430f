"""Alertmanager API v2's JSON model: times, alerts and silences in and out.

Field names follow Alertmanager's OpenAPI spec (`api/v2/openapi.yaml`). Times are RFC 3339
in UTC with milliseconds; Go's zero time (`0001-01-01T00:00:00Z`), which Go clients such as
amtool send for "not set", reads as 0.0 and 0.0 writes back as that zero time.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from observatory.alerting.alertmanager.silences import Silence
from observatory.alerting.model import Alert, Matcher, MatchType
from observatory.errors import BadRequestError

GO_ZERO_TIME = "0001-01-01T00:00:00.000Z"
GO_ZERO_SECONDS = -62_135_596_800
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def format_time(seconds: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds; 0.0 (unset) as Go's zero time."""
    if seconds == 0.0:
        return GO_ZERO_TIME
    millis = math.floor(seconds * 1000 + 0.5)
    whole, fraction = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{fraction:03d}Z"


def parse_time(text: str, field: str) -> float:
    """An RFC 3339 time as Unix seconds; "" and Go's zero time are 0.0 (unset)."""
    if text == "":
        return 0.0
    found = _RFC3339.match(text)
    if found is None:
        raise BadRequestError(f"{field} must be an RFC 3339 date-time, got {text[:64]!r}")
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    offset = 0
    if found.group(9):
        offset = int(found.group(10)) * 3600 + int(found.group(11)) * 60
        offset = offset if found.group(9) == "+" else -offset
    try:
        moment = datetime(
            year, month, day, hour, minute, second, tzinfo=timezone(timedelta(seconds=offset))
        )
        seconds = moment.timestamp()
    except (ValueError, OverflowError) as exc:
        raise BadRequestError(f"{field}: invalid date-time {text[:64]!r}") from exc
    if found.group(7):
        # Nanosecond fractions are common (Go); a float keeps what a float can.
        seconds += float("0" + found.group(7))
    return 0.0 if seconds == GO_ZERO_SECONDS else seconds


def parse_bool(raw: str | None, name: str, default: bool) -> bool:
    """A query flag as Go's `strconv.ParseBool` reads it."""
    if raw is None or raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadRequestError(f"{name} in query must be of type bool: {raw[:32]!r}")


# ------------------------------------------------------------------ alerts


@dataclass(frozen=True)
class AlertStatus:
    silenced_by: list[str]
    inhibited_by: list[str]
    processed: bool = True

    @property
    def state(self) -> str:
        if not self.processed:
            return "unprocessed"
        return "suppressed" if self.silenced_by or self.inhibited_by else "active"


def gettable_alert(alert: Alert, status: AlertStatus, receivers: Sequence[str]) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": format_time(alert.starts_at),
        "endsAt": format_time(alert.ends_at),
        "updatedAt": format_time(alert.updated_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in receivers],
        "status": {
            "state": status.state,
            "silencedBy": list(status.silenced_by),
            "inhibitedBy": list(status.inhibited_by),
            "mutedBy": [],
        },
    }


def postable_alerts(body: Any) -> list[Alert]:
    """A PostableAlerts body (a JSON array) as alerts; each must carry `labels`."""
    if not isinstance(body, list):
        raise BadRequestError("alerts must be a JSON array of alerts")
    return [_postable_alert(item, index) for index, item in enumerate(body)]


def _postable_alert(item: Any, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise BadRequestError(f"{where} must be an object")
    if "labels" not in item:
        raise BadRequestError(f"{where}.labels in body is required")
    return Alert(
        labels=_label_set(item["labels"], f"{where}.labels"),
        annotations=_label_set(item.get("annotations") or {}, f"{where}.annotations"),
        starts_at=parse_time(_string(item, "startsAt", where), f"{where}.startsAt"),
        ends_at=parse_time(_string(item, "endsAt", where), f"{where}.endsAt"),
        generator_url=_string(item, "generatorURL", where),
    )


def _label_set(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequestError(f"{where} must be an object of string values")
    return {str(name): text for name, text in value.items()}


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequestError(f"{where}.{key} must be a string")
    return value


# ------------------------------------------------------------------ silences


def api_matcher(matcher: Matcher) -> dict[str, Any]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.type in (MatchType.RE, MatchType.NRE),
        "isEqual": matcher.type in (MatchType.EQ, MatchType.RE),
    }


def gettable_silence(silence: Silence, now: float) -> dict[str, Any]:
    return {
        "id": silence.id,
        "status": {"state": silence.state(now)},
        "updatedAt": format_time(silence.updated_at),
        "matchers": [api_matcher(matcher) for matcher in silence.matchers],
        "startsAt": format_time(silence.starts_at),
        "endsAt": format_time(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


def postable_silence(body: Any) -> Silence:
    """A PostableSilence body; `matchers`, times, `createdBy` and `comment` are required."""
    if not isinstance(body, dict):
        raise BadRequestError("silence must be a JSON object")
    for key in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
        if key not in body:
            raise BadRequestError(f"{key} in body is required")
    raw_matchers = body["matchers"]
    if not isinstance(raw_matchers, list) or not raw_matchers:
        raise BadRequestError("matchers in body should have at least 1 items")
    return Silence(
        id=_string(body, "id", "silence"),
        matchers=tuple(_matcher(item, i) for i, item in enumerate(raw_matchers)),
        starts_at=parse_time(_string(body, "startsAt", "silence"), "startsAt"),
        ends_at=parse_time(_string(body, "endsAt", "silence"), "endsAt"),
        created_by=_string(body, "createdBy", "silence"),
        comment=_string(body, "comment", "silence"),
    )


def _matcher(item: Any, index: int) -> Matcher:
    where = f"matchers[{index}]"
    if not isinstance(item, dict):
        raise BadRequestError(f"{where} must be an object")
    for key in ("name", "value", "isRegex"):
        if key not in item:
            raise BadRequestError(f"{where}.{key} in body is required")
    is_regex = _flag(item, "isRegex", where, False)
    is_equal = _flag(item, "isEqual", where, True)
    kinds = {
        (True, False): MatchType.EQ,
        (False, False): MatchType.NE,
        (True, True): MatchType.RE,
        (False, True): MatchType.NRE,
    }
    return Matcher(
        _string(item, "name", where), kinds[(is_equal, is_regex)], _string(item, "value", where)
    )


def _flag(item: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = item.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequestError(f"{where}.{key} must be a boolean")
    return value
