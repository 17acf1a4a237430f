"""Alertmanager's notification data (the webhook body, and what templates see) and its default
texts: the `[FIRING:2] HighLatency api` subject and the plain-text alert list."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.model import Alert

SENDER_NAME = "Observatory"
ZERO_TIME = "0001-01-01T00:00:00Z"
# Go's regexp.QuoteMeta escapes exactly these.
_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def template_data(
    notification: Notification, alerts: Sequence[Alert], external_url: str
) -> dict[str, Any]:
    """Alertmanager's `template.Data` as JSON, for the alerts actually being sent."""
    now = notification.now
    firing = any(not a.resolved(now) for a in alerts)
    return {
        # Alertmanager escapes the receiver name as a regex (its UI filters on it).
        "receiver": quote_meta(notification.receiver),
        "status": "firing" if firing else "resolved",
        "alerts": [alert_json(a, now) for a in alerts],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common([a.labels for a in alerts]),
        "commonAnnotations": common([a.annotations for a in alerts]),
        "externalURL": external_url,
    }


def alert_json(alert: Alert, now: float) -> dict[str, Any]:
    return {
        "status": "resolved" if alert.resolved(now) else "firing",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def rfc3339(seconds: float) -> str:
    """A time as Go marshals one to JSON (RFC 3339, fraction without trailing zeros, UTC);
    0 is Go's zero time."""
    if seconds == 0:
        return ZERO_TIME
    micros = round(seconds * 1_000_000)
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
    fraction = f"{micros % 1_000_000:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map has with the same value."""
    if not maps:
        return {}
    first, rest = maps[0], maps[1:]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def quote_meta(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def alerts_url(external_url: str, receiver: str) -> str:
    """Alertmanager's `__alertmanagerURL`: the alert list filtered on the receiver."""
    return f"{external_url}/#/alerts?receiver={urllib.parse.quote_plus(quote_meta(receiver))}"


def subject(data: Mapping[str, Any]) -> str:
    """Alertmanager's `__subject`: status, firing count, the group label values, then the
    values of the other common labels in parentheses (the trailing space is Alertmanager's)."""
    status = str(data["status"])
    firing = sum(1 for a in data["alerts"] if a["status"] == "firing")
    head = f"[{status.upper()}{f':{firing}' if status == 'firing' else ''}]"
    group: Mapping[str, str] = data["groupLabels"]
    labels: Mapping[str, str] = data["commonLabels"]
    text = f"{head} {' '.join(group[k] for k in sorted(group))} "
    if len(labels) > len(group):
        others = [labels[k] for k in sorted(labels) if k not in group]
        text += f"({' '.join(others)})"
    return text


def alert_list_text(alerts: Sequence[Mapping[str, Any]]) -> str:
    """Alertmanager's `__text_alert_list`: each alert's labels, annotations and source."""
    parts: list[str] = []
    for alert in alerts:
        parts.append("Labels:\n")
        parts.extend(f" - {k} = {v}\n" for k, v in sorted(alert["labels"].items()))
        parts.append("Annotations:\n")
        parts.extend(f" - {k} = {v}\n" for k, v in sorted(alert["annotations"].items()))
        parts.append(f"Source: {alert['generatorURL']}\n")
    return "".join(parts)


def summary_list_text(alerts: Sequence[Mapping[str, Any]]) -> str:
    """One entry per alert for chat: its summary (or name), then its description."""
    lines: list[str] = []
    for alert in alerts:
        annotations: Mapping[str, str] = alert["annotations"]
        title = annotations.get("summary") or alert["labels"].get("alertname", "")
        lines.append(f"*[{alert['status'].upper()}]* {title}")
        if annotations.get("description"):
            lines.append(annotations["description"])
    return "\n".join(lines)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, the last one an ellipsis when cut (as Alertmanager)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
