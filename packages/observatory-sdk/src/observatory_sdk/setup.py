"""`setup_telemetry`: traces, metrics and logs for a service in one call, and `shutdown`.

One pipeline per process. A second call that resolves to the same configuration returns the
running telemetry (and instruments a newly given app), so libraries and app factories can
all call it; a call with a different configuration is refused until `shutdown()`, because the
OpenTelemetry globals can hold one provider each and a silent second pipeline would split a
service's spans between two exporters.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from observatory_sdk import _globals, exporters
from observatory_sdk.config import TelemetryConfig, resolve
from observatory_sdk.genai import settings as genai_settings
from observatory_sdk.instrument import (
    Instrumented,
    instrument_app,
    instrument_clients,
    instrument_logging,
)
from observatory_sdk.version import __version__

_logger = logging.getLogger(__name__)


class AlreadyConfigured(RuntimeError):
    """setup_telemetry was called again with a different configuration without shutdown()."""


@dataclass(frozen=True, eq=False)
class Telemetry:
    """The running pipeline: a tracer and a meter for the service's own code, and the providers."""

    tracer: trace.Tracer
    meter: metrics.Meter
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider | None
    config: TelemetryConfig

    @property
    def resource(self) -> Resource:
        return self.tracer_provider.resource

    @property
    def sampler_description(self) -> str:
        """e.g. `ParentBased{root:TraceIdRatioBased{0.1},...}`, and where the rate came from."""
        return f"{self.tracer_provider.sampler.get_description()} ({self.config.sampler.source})"

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered now; True if every signal made it in time."""
        flushed = self.tracer_provider.force_flush(timeout_millis)
        flushed = self.meter_provider.force_flush(timeout_millis) and flushed
        if self.logger_provider is not None:
            flushed = self.logger_provider.force_flush(timeout_millis) and flushed
        return flushed

    def shutdown(self) -> None:
        """Flush and stop this pipeline, if it is still the running one."""
        with _lock:
            if _active is None or _active.telemetry is not self:
                return
        shutdown()


_Injected = tuple[SpanExporter | None, MetricReader | None, LogRecordExporter | None]


@dataclass
class _Active:
    telemetry: Telemetry
    injected: _Injected
    instrumented: Instrumented


_lock = threading.RLock()
_active: _Active | None = None


def setup_telemetry(
    service_name: str | None = None,
    *,
    app: object | None = None,
    namespace: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    sample_rate: float | None = None,
    metric_export_interval_ms: int | None = None,
    instrument_httpx: bool = True,
    instrument_requests: bool = True,
    instrument_logging: bool = True,
    export_logs: bool = True,
    capture_content: bool | None = None,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    log_exporter: LogRecordExporter | None = None,
) -> Telemetry:
    """Instrument this process: OTLP traces, metrics and logs, W3C propagation, sampling.

    Every argument is optional; what is not given comes from the standard `OTEL_*` variables
    (and `OBSERVATORY_SAMPLE_RATE`, `OBSERVATORY_ENVIRONMENT`), then from defaults: gRPC to
    localhost:4317, 100 % of traces outside production and 10 % in it. `app` is a FastAPI or
    Starlette application to trace (`pip install 'observatory-sdk[fastapi]'`). The exporter
    and reader arguments replace the OTLP ones, for tests and custom sinks.
    """
    config = resolve(
        service_name,
        namespace=namespace,
        version=version,
        environment=environment,
        endpoint=endpoint,
        protocol=protocol,
        sample_rate=sample_rate,
        metric_export_interval_ms=metric_export_interval_ms,
        instrument_httpx=instrument_httpx,
        instrument_requests=instrument_requests,
        instrument_logging=instrument_logging,
        export_logs=export_logs,
        capture_content=capture_content,
    )
    injected: _Injected = (span_exporter, metric_reader, log_exporter)
    global _active
    with _lock:
        fresh = _active is None
        if _active is None:
            _active = _start(config, injected)
        elif _active.telemetry.config != config or not _same(_active.injected, injected):
            raise AlreadyConfigured(
                f"telemetry is already set up for {_active.telemetry.config.service_name!r} "
                "with a different configuration; call observatory_sdk.shutdown() first"
            )
        telemetry, instrumented = _active.telemetry, _active.instrumented
        if app is not None:
            try:
                instrument_app(
                    app,
                    instrumented,
                    telemetry.tracer_provider,
                    telemetry.meter_provider,
                    telemetry.force_flush,
                )
            except Exception:
                if fresh:  # a first call that fails leaves nothing half set up
                    shutdown()
                raise
        return telemetry


def shutdown() -> None:
    """Flush every signal, stop exporting, undo the instrumentation, release the globals.

    After it, `setup_telemetry` can be called again. Safe to call when nothing is set up.
    """
    global _active
    with _lock:
        active, _active = _active, None
        if active is None:
            return
        _stop(active.telemetry, active.instrumented)


def _stop(telemetry: Telemetry, instrumented: Instrumented) -> None:
    """Uninstrument first (no new spans), then flush and stop the providers, then the globals."""
    instrumented.uninstrument()
    genai_settings.set_capture_content(None)
    providers: tuple[object, ...] = (telemetry.tracer_provider, telemetry.meter_provider)
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()
    if telemetry.logger_provider is not None:
        telemetry.logger_provider.shutdown()
        providers += (telemetry.logger_provider,)
    _globals.reset(providers)


def current() -> Telemetry | None:
    """The running telemetry, if setup_telemetry was called and not shut down."""
    active = _active
    return None if active is None else active.telemetry


def _same(left: _Injected, right: _Injected) -> bool:
    return all(a is b for a, b in zip(left, right, strict=True))


def _start(config: TelemetryConfig, injected: _Injected) -> _Active:
    span_exporter, metric_reader, log_exporter = injected
    resource = Resource.create(dict(config.resource_attributes))
    tracer_provider = TracerProvider(resource=resource, sampler=config.sampler.build())
    tracer_provider.add_span_processor(
        BatchSpanProcessor(span_exporter or exporters.span_exporter(config))
    )
    reader = metric_reader or PeriodicExportingMetricReader(
        exporters.metric_exporter(config),
        export_interval_millis=config.metric_export_interval_ms,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = None
    if config.export_logs:
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(log_exporter or exporters.log_exporter(config))
        )
    telemetry = Telemetry(
        tracer=tracer_provider.get_tracer(config.service_name, __version__),
        meter=meter_provider.get_meter(config.service_name, __version__),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        config=config,
    )
    instrumented = Instrumented()
    try:
        _install(telemetry, instrumented)
    except BaseException:
        _stop(telemetry, instrumented)  # a failed start leaves nothing running or installed
        raise
    return _Active(telemetry, injected, instrumented)


def _install(telemetry: Telemetry, done: Instrumented) -> None:
    config = telemetry.config
    foreign = _globals.foreign_tracer_provider()
    if foreign is not None:
        _logger.warning(
            "a global TracerProvider (%s) was installed before setup_telemetry; instrumented "
            "libraries export through observatory_sdk, but trace.get_tracer() keeps the other one",
            type(foreign).__name__,
        )
    _globals.install(telemetry.tracer_provider, telemetry.meter_provider, telemetry.logger_provider)
    if not os.environ.get("OTEL_PROPAGATORS", "").strip():
        set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
    genai_settings.set_capture_content(config.capture_content)
    instrument_clients(
        done,
        telemetry.tracer_provider,
        telemetry.meter_provider,
        httpx=config.instrument_httpx,
        requests=config.instrument_requests,
    )
    if config.instrument_logging:
        instrument_logging(done, telemetry.tracer_provider, telemetry.logger_provider)
