"""What every integration (webhook, Slack, PagerDuty) offers the pipeline, and the metrics
hooks the application passes in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.model import Alert


class NotifyMetrics(Protocol):
    """Counters the application keeps (e.g. `observatory_alertmanager_notifications_total`).

    `sent` and `failed` are called once per notification, after its last attempt; `latency`
    once per HTTP attempt, retries included.
    """

    def sent(self, integration: str, receiver: str) -> None: ...

    def failed(self, integration: str, receiver: str) -> None: ...

    def latency(self, integration: str, receiver: str, seconds: float) -> None: ...


class NullMetrics:
    def sent(self, integration: str, receiver: str) -> None:
        pass

    def failed(self, integration: str, receiver: str) -> None:
        pass

    def latency(self, integration: str, receiver: str, seconds: float) -> None:
        pass


class Integration(Protocol):
    """One `*_configs` entry of a receiver; `name` is the kind ("webhook"), `index` its
    position among the receiver's entries of that kind (the notification log keys on both)."""

    @property
    def name(self) -> str: ...

    @property
    def index(self) -> int: ...

    @property
    def send_resolved(self) -> bool: ...

    async def notify(self, notification: Notification, alerts: Sequence[Alert]) -> bool:
        """Sends `alerts` (resolved ones already left out unless send_resolved) with retries
        until `notification.deadline`; True once the receiver accepted them."""
        ...


class SecretError(Exception):
    """A `*_file` secret that cannot be read."""


def read_secret(value: str | None, path: str | None) -> str:
    """The configured value, or the trimmed contents of the file, read on every send so a
    rotated secret applies without a reload (as in Alertmanager)."""
    if path is None:
        return value or ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc}") from exc
