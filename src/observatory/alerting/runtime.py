"""Alerting as one component of `serve`: rule evaluation over the store, and notification
through the built-in Alertmanager or external ones.

Rules read through the PromQL engine over the store and write their series (recording
rules, `ALERTS`, `ALERTS_FOR_STATE`) through the pipeline, durably, like any other metrics.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from observatory.alerting.alertmanager.service import Alertmanager, AlertmanagerSettings
from observatory.alerting.model import Alert
from observatory.alerting.rules import QueryFunc, Sample
from observatory.alerting.rules.group import engine_query
from observatory.alerting.rules.manager import (
    PrometheusRuleMetrics,
    RuleManager,
    RuleManagerConfig,
    sample_columns,
)
from observatory.alerting.rules.sender import AlertmanagerSender
from observatory.errors import ObservatoryError
from observatory.pipeline.pipeline import Pipeline
from observatory.query.metric_source import StoreSeriesSource
from observatory.query.promql.engine import PromqlEngine, QueryLimits
from observatory.settings import Settings
from observatory.signals.batch import Signal, SignalBatch
from observatory.store.protocol import Store

log = logging.getLogger(__name__)
EXTERNAL_TIMEOUT_SECONDS = 10.0


class NotificationMetrics:
    """`observatory_alertmanager_notifications_*`, by integration and receiver."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["integration", "receiver"]
        self._sent = Counter(
            "observatory_alertmanager_notifications",
            "Notifications delivered.",
            labels,
            registry=registry,
        )
        self._failed = Counter(
            "observatory_alertmanager_notifications_failed",
            "Notifications given up on after their retries.",
            labels,
            registry=registry,
        )
        self._latency = Histogram(
            "observatory_alertmanager_notification_latency_seconds",
            "Time of one notification attempt.",
            labels,
            registry=registry,
        )

    def sent(self, integration: str, receiver: str) -> None:
        self._sent.labels(integration, receiver).inc()

    def failed(self, integration: str, receiver: str) -> None:
        self._failed.labels(integration, receiver).inc()

    def latency(self, integration: str, receiver: str, seconds: float) -> None:
        self._latency.labels(integration, receiver).observe(seconds)


def external_url(settings: Settings) -> str:
    if settings.external_url:
        return str(settings.external_url)
    return f"http://{settings.host}:{settings.http_port}"


class Alerting:
    """Starts, reloads and stops the rule manager and where its alerts go."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pipeline: Pipeline,
        registry: CollectorRegistry,
        limits: QueryLimits,
        lookback_ms: int,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.limits = limits
        self.lookback_ms = lookback_ms
        self.alertmanager = Alertmanager(
            AlertmanagerSettings(
                settings.alertmanager_config_file,
                Path(settings.data_dir),
                external_url(settings),
                settings.alertmanager_silence_retention_hours * 3600,
            ),
            NotificationMetrics(registry),
        )
        self.sender: AlertmanagerSender | None = None
        if settings.alerting_alertmanagers:
            urls = [str(url) for url in settings.alerting_alertmanagers]
            self.sender = AlertmanagerSender(urls, EXTERNAL_TIMEOUT_SECONDS)
        self.rules = RuleManager(
            RuleManagerConfig(
                rule_files=tuple(str(p) for p in settings.rule_files),
                rules_dir=Path(settings.rules_dir) if settings.rules_dir else None,
                default_tenant=settings.default_tenant,
                evaluation_interval_seconds=settings.rule_evaluation_interval_seconds,
                external_labels={str(k): str(v) for k, v in settings.external_labels.items()},
                external_url=external_url(settings),
            ),
            query_for=self._query_for,
            write=self._write,
            send=self._send,
            source_for=self._source_for,
            metrics=PrometheusRuleMetrics(registry),
        )

    async def start(self) -> None:
        await self.alertmanager.start()
        if self.sender is not None:
            await self.sender.start()
        await self.rules.start()

    async def stop(self) -> None:
        await self.rules.stop()
        if self.sender is not None:
            await self.sender.stop()
        await self.alertmanager.stop()

    async def reload(self) -> None:
        """Rules and the Alertmanager config; the first error is raised after both tried."""
        errors: list[ObservatoryError] = []
        for reload in (self.rules.reload, self.alertmanager.reload):
            try:
                await reload()
            except ObservatoryError as exc:
                log.error("reload failed: %s", exc.message)
                errors.append(exc)
        if errors:
            raise errors[0]

    async def reload_quietly(self) -> None:
        with contextlib.suppress(ObservatoryError):
            await self.reload()

    def _source_for(self, tenant: str) -> StoreSeriesSource:
        return StoreSeriesSource(self.store, tenant, self.limits.max_samples)

    def _query_for(self, tenant: str) -> QueryFunc:
        engine = PromqlEngine(self._source_for(tenant), self.lookback_ms, self.limits)
        return engine_query(engine)

    async def _write(self, tenant: str, samples: list[Sample]) -> None:
        columns = sample_columns(tenant, samples)
        batch = SignalBatch(Signal.METRICS, tenant, columns.tables(), items=columns.samples)
        await self.pipeline.write(batch)

    async def _send(self, tenant: str, alerts: Sequence[Alert]) -> None:
        if self.sender is not None:
            await self.sender.send(tenant, alerts)
            return
        try:
            self.alertmanager.put_alerts(list(alerts))
        except ObservatoryError as exc:
            log.error("alerts of tenant %s not taken by the alertmanager: %s", tenant, exc.message)
