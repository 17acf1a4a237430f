"""Receivers Observatory sends to (webhook, Slack, PagerDuty) and the pipeline around them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from observatory.alerting.alertmanager.config_model import AlertmanagerConfig, ReceiverConfig
from observatory.alerting.alertmanager.notifiers.base import (
    Integration,
    NotifyMetrics,
    NullMetrics,
)
from observatory.alerting.alertmanager.notifiers.pagerduty import PagerdutyIntegration
from observatory.alerting.alertmanager.notifiers.pipeline import NotificationPipeline
from observatory.alerting.alertmanager.notifiers.retry import HttpSender, RetryPolicy
from observatory.alerting.alertmanager.notifiers.slack import SlackIntegration
from observatory.alerting.alertmanager.notifiers.templating import check_template
from observatory.alerting.alertmanager.notifiers.webhook import WebhookIntegration

__all__ = [
    "HttpSender",
    "Integration",
    "NotificationPipeline",
    "NotifyMetrics",
    "NullMetrics",
    "PagerdutyIntegration",
    "RetryPolicy",
    "SlackIntegration",
    "WebhookIntegration",
    "build_integrations",
    "template_warnings",
]

log = logging.getLogger(__name__)


def build_integrations(
    config: AlertmanagerConfig, sender: HttpSender, external_url: str
) -> dict[str, list[Integration]]:
    """Every receiver's integrations, by receiver name (a receiver may have none)."""
    base = external_url.rstrip("/")
    return {r.name: list(_integrations(r, sender, base)) for r in config.receivers}


def _integrations(
    receiver: ReceiverConfig, sender: HttpSender, external_url: str
) -> Iterator[Integration]:
    name = receiver.name
    for i, webhook in enumerate(receiver.webhook_configs):
        yield WebhookIntegration(webhook, name, i, sender, external_url)
    for i, slack in enumerate(receiver.slack_configs):
        yield SlackIntegration(slack, name, i, sender, external_url)
    for i, pagerduty in enumerate(receiver.pagerduty_configs):
        yield PagerdutyIntegration(pagerduty, name, i, sender, external_url)


def template_warnings(config: AlertmanagerConfig) -> list[str]:
    """Receiver texts that will not render (and so fall back to the defaults)."""
    found: list[str] = []
    for receiver in config.receivers:
        for i, slack in enumerate(receiver.slack_configs):
            texts = {f: getattr(slack, f) for f in ("title", "title_link", "text", "fallback")}
            found += _check(f"receiver {receiver.name!r} slack_configs[{i}]", texts)
        for i, pd in enumerate(receiver.pagerduty_configs):
            texts = {"description": pd.description, "severity": pd.severity}
            texts.update(dict(pd.details or ()))
            found += _check(f"receiver {receiver.name!r} pagerduty_configs[{i}]", texts)
    return found


def _check(where: str, texts: dict[str, str | None]) -> list[str]:
    problems = ((field, check_template(text)) for field, text in texts.items())
    return [f"{where}.{field}: {p}; the default is used" for field, p in problems if p]
