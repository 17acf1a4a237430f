"""The notification pipeline the dispatcher calls for each group flush.

For every integration of the group's receiver, at the same time (as Alertmanager's fan-out):
ask the notification log whether anything must be said, leave resolved alerts out unless the
integration sends them, send with retries, and record a success in the log. The flush counts
as delivered when every integration succeeded; a failed one is tried again at the next flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.nflog import NotificationLog
from observatory.alerting.alertmanager.notifiers.base import Integration

log = logging.getLogger(__name__)


def log_key(receiver: str, integration: Integration) -> str:
    """The notification log's receiver key, as Alertmanager's `receiver/integration/index`."""
    return f"{receiver}/{integration.name}/{integration.index}"


class NotificationPipeline:
    def __init__(
        self, integrations: Mapping[str, Sequence[Integration]], nflog: NotificationLog
    ) -> None:
        self.integrations = integrations
        self.nflog = nflog

    async def __call__(self, notification: Notification) -> bool:
        targets = self.integrations.get(notification.receiver, ())
        results = await asyncio.gather(*(self._one(i, notification) for i in targets))
        return all(results)

    async def _one(self, integration: Integration, notification: Notification) -> bool:
        key = log_key(notification.receiver, integration)
        firing = {a.fingerprint for a in notification.firing()}
        resolved = {a.fingerprint for a in notification.resolved()}
        reason = self.nflog.reason(
            key,
            notification.group_key,
            firing,
            resolved,
            send_resolved=integration.send_resolved,
            repeat_interval=notification.repeat_interval,
        )
        if not reason.notify:
            return True
        alerts = notification.alerts if integration.send_resolved else notification.firing()
        log.debug("notifying %s for %s: %s", key, notification.group_key, reason.value)
        # With only resolved alerts and send_resolved off nothing is sent, but the log still
        # records that they are resolved, so they are not reported again.
        if alerts and not await integration.notify(notification, alerts):
            return False
        expiry = 2 * notification.repeat_interval
        self.nflog.log(key, notification.group_key, firing, resolved, expiry_seconds=expiry)
        return True
