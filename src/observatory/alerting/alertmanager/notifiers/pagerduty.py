"""The PagerDuty receiver: Events API v2 (`routing_key`), or v1 (`service_key`).

One incident per alert group: the dedup key is the SHA-256 of the group key, the event a
`trigger` while any alert fires and a `resolve` once all are resolved. The severity is the
configured one, else the alerts' common `severity` label when PagerDuty knows it, else
`error` (Alertmanager's default). Custom details default to Alertmanager's: the firing and
resolved alerts as text and their counts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from observatory.alerting.alertmanager.config_model import PAGERDUTY_SEVERITIES, PagerdutyConfig
from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.notifiers.base import SecretError, read_secret
from observatory.alerting.alertmanager.notifiers.data import (
    SENDER_NAME,
    alert_list_text,
    alerts_url,
    subject,
    template_data,
    truncate,
)
from observatory.alerting.alertmanager.notifiers.retry import Delivery, HttpIntegration
from observatory.alerting.alertmanager.notifiers.templating import Renderer
from observatory.alerting.model import Alert

MAX_EVENT_BYTES = 512_000
MAX_SUMMARY = 1024
_TOO_LARGE = (
    "Custom details have been removed because the original event exceeds the maximum size of 512kB"
)


class PagerdutyIntegration(HttpIntegration[PagerdutyConfig]):
    name = "pagerduty"

    def payload(
        self, notification: Notification, alerts: Sequence[Alert], key: str
    ) -> dict[str, Any]:
        data = template_data(notification, alerts, self._external_url)
        defaults = _defaults(data, self._external_url, notification.receiver)
        render = Renderer(data, defaults, f"{self.receiver}/pagerduty[{self.index}]").render
        details = {name: make() for name, make in _detail_defaults(data).items()}
        details.update({k: render(v, "") for k, v in self.config.details or ()})
        trigger = data["status"] == "firing"
        dedup_key = hashlib.sha256(notification.group_key.encode()).hexdigest()
        if self.config.uses_v1:
            return _v1(self.config, render, key, dedup_key, trigger, details)
        return _v2(self.config, render, key, dedup_key, trigger, details, data)

    async def notify(self, notification: Notification, alerts: Sequence[Alert]) -> bool:
        c = self.config
        try:
            if c.uses_v1:
                key = read_secret(c.service_key, c.service_key_file)
            else:
                key = read_secret(c.routing_key, c.routing_key_file)
        except SecretError as exc:
            return self._sender.failed(self.name, self.receiver, str(exc))
        if not key:
            return self._sender.failed(self.name, self.receiver, "the PagerDuty key is empty")
        delivery = Delivery(
            integration=self.name,
            receiver=self.receiver,
            url=c.url or "",
            payload=_fit(self.payload(notification, alerts, key)),
            deadline=notification.deadline,
            # PagerDuty's v1 API answers 403 when rate limiting; v2 uses 429.
            retry_statuses=frozenset({403}) if c.uses_v1 else frozenset({429}),
        )
        return await self._sender.send(delivery)


Render = Callable[[str | None, str], str]


def _v2(
    c: PagerdutyConfig,
    render: Render,
    key: str,
    dedup_key: str,
    trigger: bool,
    details: dict[str, str],
    data: dict[str, Any],
) -> dict[str, Any]:
    client = render(c.client, "pagerduty.default.client")
    payload = {
        "summary": truncate(render(c.description, "pagerduty.default.description"), MAX_SUMMARY),
        "source": render(c.source, "") if c.source else client,
        "severity": _severity(render(c.severity, ""), data),
        "class": render(c.class_, ""),
        "component": render(c.component, ""),
        "group": render(c.group, ""),
        "custom_details": details,
    }
    return {
        "routing_key": key,
        "event_action": "trigger" if trigger else "resolve",
        "dedup_key": dedup_key,
        "payload": {k: v for k, v in payload.items() if v or k in ("summary", "source")},
        "client": client,
        "client_url": render(c.client_url, "pagerduty.default.clientURL"),
    }


def _v1(
    c: PagerdutyConfig,
    render: Render,
    key: str,
    dedup_key: str,
    trigger: bool,
    details: dict[str, str],
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "service_key": key,
        "event_type": "trigger" if trigger else "resolve",
        "incident_key": dedup_key,
        "description": truncate(
            render(c.description, "pagerduty.default.description"), MAX_SUMMARY
        ),
        "details": details,
    }
    if trigger:
        message["client"] = render(c.client, "pagerduty.default.client")
        message["client_url"] = render(c.client_url, "pagerduty.default.clientURL")
    return message


def _severity(configured: str, data: dict[str, Any]) -> str:
    for candidate in (configured, data["commonLabels"].get("severity", "")):
        if candidate.lower() in PAGERDUTY_SEVERITIES:
            return str(candidate.lower())
    return "error"


def _defaults(
    data: dict[str, Any], external_url: str, receiver: str
) -> dict[str, Callable[[], str]]:
    return {
        "pagerduty.default.description": lambda: subject(data),
        "pagerduty.default.client": lambda: SENDER_NAME,
        "pagerduty.default.clientURL": lambda: alerts_url(external_url, receiver),
    }


def _detail_defaults(data: dict[str, Any]) -> dict[str, Callable[[], str]]:
    firing = [a for a in data["alerts"] if a["status"] == "firing"]
    resolved = [a for a in data["alerts"] if a["status"] == "resolved"]
    return {
        "firing": lambda: alert_list_text(firing),
        "resolved": lambda: alert_list_text(resolved),
        "num_firing": lambda: str(len(firing)),
        "num_resolved": lambda: str(len(resolved)),
    }


def _fit(message: dict[str, Any]) -> dict[str, Any]:
    """PagerDuty refuses events over 512 kB; drop the details rather than the incident."""
    if len(json.dumps(message).encode()) <= MAX_EVENT_BYTES:
        return message
    if "payload" in message:
        return {
            **message,
            "payload": {**message["payload"], "custom_details": {"error": _TOO_LARGE}},
        }
    return {**message, "details": {"error": _TOO_LARGE}}
