"""The Slack receiver: a message with one attachment to an incoming webhook URL.

Defaults follow Alertmanager's: the title is the `[FIRING:2] HighLatency api` subject linking
to the alert list, the colour `danger` while anything fires and `good` once all resolved;
the text (empty in Alertmanager) lists each alert's summary and description.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from observatory.alerting.alertmanager.config_model import SlackConfig
from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.notifiers.base import SecretError, read_secret
from observatory.alerting.alertmanager.notifiers.data import (
    SENDER_NAME,
    alerts_url,
    subject,
    summary_list_text,
    template_data,
)
from observatory.alerting.alertmanager.notifiers.retry import Delivery, HttpIntegration
from observatory.alerting.alertmanager.notifiers.templating import Renderer
from observatory.alerting.model import Alert


class SlackIntegration(HttpIntegration[SlackConfig]):
    name = "slack"

    def payload(self, notification: Notification, alerts: Sequence[Alert]) -> dict[str, Any]:
        data = template_data(notification, alerts, self._external_url)
        defaults = _defaults(data, self._external_url, notification.receiver)
        render = Renderer(data, defaults, f"{self.receiver}/slack[{self.index}]").render
        c = self.config
        title = render(c.title, "slack.default.title")
        title_link = render(c.title_link, "slack.default.titlelink")
        attachment = {
            "title": title,
            "title_link": title_link,
            "pretext": render(c.pretext, "slack.default.pretext"),
            "text": render(c.text, "slack.default.text"),
            "fallback": render(c.fallback, "slack.default.fallback"),
            "footer": render(c.footer, "slack.default.footer"),
            "color": render(c.color, "slack.default.color"),
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }
        message = {
            "channel": render(c.channel, "slack.default.channel"),
            "username": render(c.username, "slack.default.username"),
            "icon_emoji": render(c.icon_emoji, "slack.default.iconemoji"),
            "icon_url": render(c.icon_url, "slack.default.iconurl"),
            "attachments": [_without_empty(attachment, keep=("text", "fallback"))],
        }
        return _without_empty(message, keep=("attachments",))

    async def notify(self, notification: Notification, alerts: Sequence[Alert]) -> bool:
        try:
            url = read_secret(self.config.api_url, self.config.api_url_file)
        except SecretError as exc:
            return self._sender.failed(self.name, self.receiver, str(exc))
        if not url:
            return self._sender.failed(self.name, self.receiver, "the Slack API URL is empty")
        delivery = Delivery(
            integration=self.name,
            receiver=self.receiver,
            url=url,
            payload=self.payload(notification, alerts),
            deadline=notification.deadline,
        )
        return await self._sender.send(delivery)


def _defaults(
    data: dict[str, Any], external_url: str, receiver: str
) -> dict[str, Callable[[], str]]:
    title = subject(data)
    link = alerts_url(external_url, receiver)
    return {
        "slack.default.title": lambda: title,
        "slack.default.titlelink": lambda: link,
        "slack.default.fallback": lambda: f"{title} | {link}",
        "slack.default.text": lambda: summary_list_text(data["alerts"]),
        "slack.default.username": lambda: SENDER_NAME,
        "slack.default.color": lambda: "danger" if data["status"] == "firing" else "good",
    }


def _without_empty(fields: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """Drops empty optional fields, as Go's `omitempty` does in Alertmanager's request."""
    return {k: v for k, v in fields.items() if v or k in keep}
