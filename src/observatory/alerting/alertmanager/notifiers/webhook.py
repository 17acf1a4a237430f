"""The webhook receiver: Alertmanager's webhook payload, version "4"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from observatory.alerting.alertmanager.config_model import WebhookConfig
from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.notifiers.base import SecretError, read_secret
from observatory.alerting.alertmanager.notifiers.data import template_data
from observatory.alerting.alertmanager.notifiers.retry import Delivery, HttpIntegration
from observatory.alerting.model import Alert


class WebhookIntegration(HttpIntegration[WebhookConfig]):
    name = "webhook"

    def payload(self, notification: Notification, alerts: Sequence[Alert]) -> dict[str, Any]:
        """The JSON body; beyond `max_alerts` alerts are cut and counted in truncatedAlerts."""
        limit = self.config.max_alerts
        kept = list(alerts[:limit]) if limit and len(alerts) > limit else list(alerts)
        return {
            **template_data(notification, kept, self._external_url),
            "version": "4",
            "groupKey": notification.group_key,
            "truncatedAlerts": len(alerts) - len(kept),
        }

    async def notify(self, notification: Notification, alerts: Sequence[Alert]) -> bool:
        try:
            url = read_secret(self.config.url, self.config.url_file)
        except SecretError as exc:
            return self._sender.failed(self.name, self.receiver, str(exc))
        if not url:
            return self._sender.failed(self.name, self.receiver, "the webhook URL is empty")
        delivery = Delivery(
            integration=self.name,
            receiver=self.receiver,
            url=url,
            payload=self.payload(notification, alerts),
            deadline=notification.deadline,
            timeout=self.config.timeout,
        )
        return await self._sender.send(delivery)
