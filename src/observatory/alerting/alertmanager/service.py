"""The built-in Alertmanager: alert store, silences, inhibition, routing and notification,
assembled from one Alertmanager-format config, with reload and periodic clean-up.

It is what the API v2 serves (it implements `api.alertmanager.AlertmanagerView`) and where
rule evaluation sends its alerts. Silences and the notification log live under the data
directory, so a restart (or a `kill -9`) keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from observatory.alerting.alertmanager.alert_store import AlertStore
from observatory.alerting.alertmanager.config import load_config, load_config_file
from observatory.alerting.alertmanager.config_model import AlertmanagerConfig
from observatory.alerting.alertmanager.dispatcher import Dispatcher
from observatory.alerting.alertmanager.inhibit import Inhibitor
from observatory.alerting.alertmanager.nflog import NotificationLog
from observatory.alerting.alertmanager.notifiers import build_integrations, template_warnings
from observatory.alerting.alertmanager.notifiers.base import NotifyMetrics
from observatory.alerting.alertmanager.notifiers.pipeline import NotificationPipeline
from observatory.alerting.alertmanager.notifiers.retry import HttpSender
from observatory.alerting.alertmanager.routing import Route, RouteGroup, receivers_for
from observatory.alerting.alertmanager.silences import Silences
from observatory.alerting.model import Alert

log = logging.getLogger(__name__)

# With no config file: every alert goes to one receiver that only records it (API, amtool).
DEFAULT_CONFIG = """\
route:
  receiver: default
  group_by: [alertname, service]
receivers:
  - name: default
"""
MAINTENANCE_SECONDS = 900.0
NOTIFY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AlertmanagerSettings:
    config_file: str
    data_dir: Path
    external_url: str
    retention_seconds: float


def read_config(config_file: str) -> AlertmanagerConfig:
    if not config_file:
        return load_config(DEFAULT_CONFIG, "<default alertmanager config>")
    return load_config_file(Path(config_file))


class Alertmanager:
    """Holds the parts that survive a reload (alerts, silences, the notification log) and
    rebuilds the ones a config defines (routes, inhibit rules, receivers) on `reload()`."""

    def __init__(self, settings: AlertmanagerSettings, metrics: NotifyMetrics) -> None:
        self.settings = settings
        self.started_at = time.time()
        folder = settings.data_dir / "alertmanager"
        folder.mkdir(parents=True, exist_ok=True)
        self.config = read_config(settings.config_file)
        self._log_warnings(self.config)
        self.alerts = AlertStore(resolve_timeout_seconds=self.config.global_.resolve_timeout)
        self.silences = Silences(
            folder / "silences.json", retention_seconds=settings.retention_seconds
        )
        self.nflog = NotificationLog(
            folder / "nflog.json", retention_seconds=settings.retention_seconds
        )
        self._client = httpx.AsyncClient(timeout=NOTIFY_TIMEOUT_SECONDS)
        self._sender = HttpSender(self._client, metrics)
        self.route = Route.from_config(self.config.route)
        self.inhibitor = Inhibitor(self.config.inhibit_rules, self.alerts)
        self.dispatcher = self._dispatcher()
        self._maintenance: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.dispatcher.start()
        self._maintenance = asyncio.create_task(self._maintain())

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.dispatcher.stop()
        self.inhibitor.close()
        await self._client.aclose()

    async def reload(self) -> None:
        """Re-read the config; on an error keep running with the old one (and raise it)."""
        config = read_config(self.settings.config_file)
        self._log_warnings(config)
        await self.dispatcher.stop()
        self.inhibitor.close()
        self.config = config
        self.alerts.resolve_timeout_seconds = config.global_.resolve_timeout
        self.route = Route.from_config(config.route)
        self.inhibitor = Inhibitor(config.inhibit_rules, self.alerts)
        self.dispatcher = self._dispatcher()
        self.dispatcher.start()
        log.info("alertmanager config reloaded from %s", config.source)

    def _dispatcher(self) -> Dispatcher:
        integrations = build_integrations(self.config, self._sender, self.settings.external_url)
        pipeline = NotificationPipeline(integrations, self.nflog)
        return Dispatcher(self.route, self.alerts, self._muted, pipeline)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            for collect in (self.nflog.gc, self.inhibitor.gc, self.alerts.gc, self.silences.gc):
                try:
                    collect()
                except Exception:  # a clean-up failure must not stop the next one
                    log.exception("alertmanager clean-up failed")

    def _muted(self, labels: Mapping[str, str]) -> bool:
        return bool(self.silences.mutes(labels)) or self.inhibitor.muted(labels)

    @staticmethod
    def _log_warnings(config: AlertmanagerConfig) -> None:
        for warning in (*config.warnings, *template_warnings(config)):
            log.warning("alertmanager config %s: %s", config.source, warning)

    # ------------------------------------------------------------ what the API reads

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        return receivers_for(self.route, labels)

    def groups_for(self, labels: Mapping[str, str]) -> list[RouteGroup]:
        return [
            RouteGroup(route.id(), route.opts.receiver, route.group_labels(labels))
            for route in self.route.match(labels)
        ]

    def inhibited_by(self, labels: Mapping[str, str]) -> list[str]:
        return self.inhibitor.mutes(labels)

    def receiver_names(self) -> list[str]:
        return self.config.receiver_names()

    def config_yaml(self) -> str:
        return self.config.original

    def put_alerts(self, alerts: list[Alert]) -> None:
        self.alerts.put(alerts)
