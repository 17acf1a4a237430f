"""The composite: every component, started in dependency order and stopped in reverse.

store -> pipeline -> decoders, pushgateway, scrape manager -> APIs -> listeners. A stop
refuses new data, lets requests in flight finish, stops the producers, commits everything
queued, then closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from starlette.routing import BaseRoute

from observatory import __version__
from observatory.alerting.runtime import Alerting
from observatory.api.alertmanager import AlertmanagerApi
from observatory.api.health import HealthApi
from observatory.api.jaeger import JaegerApi
from observatory.api.loki import LokiApi, LokiSettings
from observatory.api.prometheus import PrometheusApi, QuerySettings
from observatory.api.prometheus_rules import RulesApi
from observatory.api.tempo import TempoApi
from observatory.api.tempo_search import TempoSearchApi
from observatory.listeners import ListenerConfig, Listeners
from observatory.pipeline.pipeline import Pipeline
from observatory.pipeline.span_metrics import SpanMetricsGenerator, SpanMetricsSettings
from observatory.query.promql.engine import QueryLimits
from observatory.query.traces import TraceReader
from observatory.receivers.loki.push import LokiPushReceiver
from observatory.receivers.otlp.decoding import DecodeRules, OtlpDecoder
from observatory.receivers.otlp.grpc import create_server
from observatory.receivers.otlp.http import OtlpHttpReceiver
from observatory.receivers.otlp.ingest import OtlpIngest
from observatory.receivers.pushgateway import PushgatewayReceiver
from observatory.receivers.remote_write import RemoteWriteReceiver
from observatory.receivers.scrape.manager import ScrapeManager
from observatory.receivers.zipkin import ZipkinReceiver
from observatory.self_metrics import SelfMetrics
from observatory.settings import Settings
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate
from observatory.store.sizes import table_sizes
from observatory.tenancy import TenantResolver

log = logging.getLogger("observatory")


def retention_of(settings: Settings) -> Retention:
    return Retention(
        traces_days=settings.retention_traces_days,
        metrics_days=settings.retention_metrics_days,
        logs_error_days=settings.retention_logs_error_days,
        logs_info_days=settings.retention_logs_info_days,
        logs_debug_days=settings.retention_logs_debug_days,
    )


def query_settings(settings: Settings) -> QuerySettings:
    return QuerySettings(
        lookback_ms=settings.query_lookback_delta_seconds * 1000,
        max_samples=settings.query_max_samples,
        max_points_per_series=settings.query_max_points_per_series,
        timeout_seconds=settings.query_timeout_seconds,
        max_concurrency=settings.query_max_concurrency,
    )


def loki_settings(settings: Settings) -> LokiSettings:
    return LokiSettings(
        max_entries=settings.logs_query_max_entries,
        max_series=settings.logs_query_max_series,
        timeout_seconds=settings.query_timeout_seconds,
        max_concurrency=settings.query_max_concurrency,
    )


class Observatory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SelfMetrics()
        self.tenants = TenantResolver(settings.default_tenant, settings.require_tenant)
        self.scrape: ScrapeManager | None = None
        self.alerting: Alerting | None = None
        self._reloads: set[asyncio.Task[None]] = set()
        self._ready = False
        self._stop = asyncio.Event()

    def is_ready(self) -> bool:
        return self._ready

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        loop = asyncio.get_running_loop()
        reloads = []
        if self.scrape is not None:
            reloads.append(self.scrape.reload())
        if self.alerting is not None:
            reloads.append(self.alerting.reload_quietly())
        for reload in reloads:
            # Kept until done: the loop holds only weak references to tasks.
            task = loop.create_task(reload)
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            store = EmbeddedStore(self.settings.data_dir)
            stack.callback(store.close)
            await asyncio.to_thread(migrate, store, retention_of(self.settings))
            self.metrics.watch_store(lambda: table_sizes(store))
            span_metrics = SpanMetricsGenerator(SpanMetricsSettings.from_settings(self.settings))
            pipeline = Pipeline(self.settings, store, self.metrics, span_metrics.committed)
            await pipeline.start()
            stack.push_async_callback(pipeline.close)
            # Entered after the pipeline, so left before it closes: the last flush is written.
            await stack.enter_async_context(span_metrics.running(pipeline.write))
            routes, ingest = await self._producers(stack, pipeline)
            routes += await self._start_alerting(stack, store, pipeline)
            await self._serve(store, routes, ingest)
        log.info("stopped; every acknowledged write is committed")

    async def _producers(
        self, stack: contextlib.AsyncExitStack, pipeline: Pipeline
    ) -> tuple[list[BaseRoute], OtlpIngest]:
        """Everything that writes into the pipeline; their routes; the OTLP ingest."""
        s = self.settings
        decoder = OtlpDecoder(DecodeRules.from_settings(s), s.decode_workers, pipeline.deltas)
        await decoder.start()
        stack.callback(decoder.close)
        ingest = OtlpIngest(pipeline, self.tenants, decoder)
        pushgateway = PushgatewayReceiver(
            pipeline,
            self.tenants,
            self.metrics,
            Path(s.data_dir) / "pushgateway",
            s.pushgateway_interval_seconds,
            s.max_request_bytes,
        )
        await pushgateway.start()
        stack.push_async_callback(pushgateway.stop)
        await self._start_scrape(stack, pipeline)
        remote_write = RemoteWriteReceiver(
            pipeline, self.tenants, self.metrics, s.max_request_bytes, s.max_decompressed_bytes
        )
        zipkin = ZipkinReceiver(
            pipeline,
            self.tenants,
            decoder.rules,
            self.metrics,
            s.max_request_bytes,
            s.max_decompressed_bytes,
        )
        loki = LokiPushReceiver(pipeline, self.tenants, decoder.rules, self.metrics, s)
        routes: list[BaseRoute] = [
            *remote_write.routes(),
            *pushgateway.routes(),
            *zipkin.routes(),
            *loki.routes(),
        ]
        return routes, ingest

    async def _start_alerting(
        self, stack: contextlib.AsyncExitStack, store: EmbeddedStore, pipeline: Pipeline
    ) -> list[BaseRoute]:
        s = self.settings
        q = query_settings(s)
        limits = QueryLimits(q.max_samples, q.max_points_per_series, q.timeout_seconds)
        alerting = Alerting(s, store, pipeline, self.metrics.registry, limits, q.lookback_ms)
        await alerting.start()
        stack.push_async_callback(alerting.stop)
        self.alerting = alerting
        return [
            *RulesApi(alerting.rules, self.tenants, alerting.reload).routes(),
            *AlertmanagerApi(alerting.alertmanager, max_body_bytes=s.max_request_bytes).routes(),
        ]

    async def _start_scrape(self, stack: contextlib.AsyncExitStack, pipeline: Pipeline) -> None:
        config = self.settings.scrape_config_file
        if not config:
            return
        self.scrape = ScrapeManager(pipeline, self.metrics, config, self.settings.default_tenant)
        await self.scrape.start()
        stack.push_async_callback(self.scrape.stop)

    async def _serve(
        self, store: EmbeddedStore, ingest_routes: list[BaseRoute], ingest: OtlpIngest
    ) -> None:
        s = self.settings
        otlp = OtlpHttpReceiver(ingest, s).routes()
        health = HealthApi(self.metrics, self.is_ready).routes()
        queries = [
            *TempoApi(TraceReader(store), self.tenants).routes(),
            *TempoSearchApi(store, self.tenants).routes(),
            *JaegerApi(store, self.tenants).routes(),
            *PrometheusApi(store, self.tenants, query_settings(s)).routes(),
            *LokiApi(store, self.tenants, loki_settings(s)).routes(),
        ]
        grpc_server = create_server(
            ingest, f"{s.host}:{s.otlp_grpc_port}", s.max_decompressed_bytes
        )
        listeners = Listeners(ListenerConfig(s.host, s.log_level), grpc_server)
        listeners.add_http([*otlp, *ingest_routes, *health, *queries], s.http_port)
        listeners.add_http([*otlp, *health], s.otlp_http_port)
        await listeners.start()
        self._ready = True
        log.info(
            "observatory %s ready: API on %s:%d, OTLP gRPC :%d, OTLP HTTP :%d",
            __version__,
            s.host,
            s.http_port,
            s.otlp_grpc_port,
            s.otlp_http_port,
        )
        await listeners.wait(self._stop)
        self._ready = False
        log.info("stopping: finishing requests in flight and committing queued data")
        await listeners.stop()


def install_signal_handlers(app: Observatory) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.request_stop)
    loop.add_signal_handler(signal.SIGHUP, app.request_reload)


async def serve(settings: Settings) -> None:
    app = Observatory(settings)
    install_signal_handlers(app)
    await app.run()
