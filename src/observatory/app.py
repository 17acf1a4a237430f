"""The composite: every component, started in dependency order and stopped in reverse.

store -> pipeline -> receivers and APIs -> listeners. A stop refuses new data, lets requests
in flight finish, commits everything queued, then closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from grpc import aio
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from observatory import __version__
from observatory.api.health import HealthApi
from observatory.api.tempo import TempoApi
from observatory.pipeline.pipeline import Pipeline
from observatory.query.traces import TraceReader
from observatory.receivers.otlp.decoding import DecodeRules, OtlpDecoder
from observatory.receivers.otlp.grpc import create_server
from observatory.receivers.otlp.http import OtlpHttpReceiver
from observatory.receivers.otlp.ingest import OtlpIngest
from observatory.self_metrics import SelfMetrics
from observatory.settings import Settings
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate
from observatory.store.sizes import table_sizes
from observatory.tenancy import TenantResolver

log = logging.getLogger("observatory")


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the composite."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def retention_of(settings: Settings) -> Retention:
    return Retention(
        traces_days=settings.retention_traces_days,
        metrics_days=settings.retention_metrics_days,
        logs_error_days=settings.retention_logs_error_days,
        logs_info_days=settings.retention_logs_info_days,
        logs_debug_days=settings.retention_logs_debug_days,
    )


class Observatory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SelfMetrics()
        self._ready = False
        self._stop = asyncio.Event()

    def is_ready(self) -> bool:
        return self._ready

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        settings = self.settings
        store = EmbeddedStore(settings.data_dir)
        try:
            await asyncio.to_thread(migrate, store, retention_of(settings))
            self.metrics.watch_store(lambda: table_sizes(store))
            pipeline = Pipeline(settings, store, self.metrics)
            await pipeline.start()
            try:
                await self._serve(pipeline, store)
            finally:
                await pipeline.close()
        finally:
            store.close()
        log.info("stopped; every acknowledged write is committed")

    async def _serve(self, pipeline: Pipeline, store: EmbeddedStore) -> None:
        settings = self.settings
        tenants = TenantResolver(settings.default_tenant, settings.require_tenant)
        decoder = OtlpDecoder(
            DecodeRules.from_settings(settings), settings.decode_workers, pipeline.deltas
        )
        await decoder.start()
        try:
            await self._listen(OtlpIngest(pipeline, tenants, decoder), store, tenants)
        finally:
            decoder.close()

    async def _listen(
        self, ingest: OtlpIngest, store: EmbeddedStore, tenants: TenantResolver
    ) -> None:
        settings = self.settings
        otlp_routes = OtlpHttpReceiver(ingest, settings).routes()
        health = HealthApi(self.metrics, self.is_ready).routes()
        api_routes: list[BaseRoute] = [
            *otlp_routes,
            *health,
            *TempoApi(TraceReader(store), tenants).routes(),
        ]
        listeners = [
            self._listener(Starlette(routes=api_routes), settings.http_port),
            self._listener(Starlette(routes=[*otlp_routes, *health]), settings.otlp_http_port),
        ]
        grpc_server = create_server(
            ingest, f"{settings.host}:{settings.otlp_grpc_port}", settings.max_decompressed_bytes
        )
        await grpc_server.start()
        tasks = [asyncio.create_task(listener.serve()) for listener in listeners]
        await self._wait_started(listeners, tasks)
        self._ready = True
        log.info(
            "observatory %s ready: API on %s:%d, OTLP gRPC :%d, OTLP HTTP :%d",
            __version__,
            settings.host,
            settings.http_port,
            settings.otlp_grpc_port,
            settings.otlp_http_port,
        )
        await self._stop_or_crash(tasks)
        await self._shutdown(listeners, tasks, grpc_server)

    def _listener(self, app: Starlette, port: int) -> _Listener:
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=port,
            lifespan="off",
            access_log=False,
            log_level=self.settings.log_level,
            timeout_graceful_shutdown=30,
        )
        return _Listener(config)

    async def _wait_started(
        self, listeners: list[_Listener], tasks: list[asyncio.Task[None]]
    ) -> None:
        while not all(listener.started for listener in listeners):
            if any(task.done() for task in tasks):
                raise SystemExit("a listener failed to start (is its port already in use?)")
            await asyncio.sleep(0.02)

    async def _stop_or_crash(self, tasks: list[asyncio.Task[None]]) -> None:
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()

    async def _shutdown(
        self, listeners: list[_Listener], tasks: list[asyncio.Task[None]], grpc_server: aio.Server
    ) -> None:
        self._ready = False
        log.info("stopping: finishing requests in flight and committing queued data")
        for listener in listeners:
            listener.should_exit = True
        await grpc_server.stop(grace=30)
        await asyncio.gather(*tasks, return_exceptions=True)


def install_signal_handlers(app: Observatory) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.request_stop)


async def serve(settings: Settings) -> None:
    app = Observatory(settings)
    install_signal_handlers(app)
    await app.run()
