"""observatory_sdk.setup: one call builds the pipeline; idempotent; shutdown flushes and resets."""

from __future__ import annotations

import logging

import observatory_sdk
import pytest
from observatory_sdk import AlreadyConfigured, setup_telemetry
from opentelemetry import baggage, context, metrics, propagate, trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.sdk.conftest import Sinks


def test_returns_tracer_and_meter_wired_to_the_exporters(sinks: Sinks) -> None:
    telemetry = sinks.setup("rag", namespace="llm", version="2.0", environment="dev")
    with telemetry.tracer.start_as_current_span("retrieve"):
        pass
    telemetry.meter.create_counter("docs.retrieved").add(3)
    span = sinks.span("retrieve")
    assert span.resource.attributes["service.name"] == "rag"
    assert span.resource.attributes["service.namespace"] == "llm"
    assert span.resource.attributes["service.version"] == "2.0"
    assert span.resource.attributes["deployment.environment.name"] == "dev"
    assert "service.instance.id" in span.resource.attributes
    assert [p.value for p in sinks.points("docs.retrieved")] == [3]
    assert "TraceIdRatioBased{1.0}" in telemetry.sampler_description


def test_installs_the_global_providers(sinks: Sinks) -> None:
    telemetry = sinks.setup()
    assert trace.get_tracer_provider() is telemetry.tracer_provider
    assert metrics.get_meter_provider() is telemetry.meter_provider
    with trace.get_tracer("user.code").start_as_current_span("via-global"):
        pass
    assert sinks.span("via-global").resource.attributes["service.name"] == "svc"


def test_same_configuration_returns_the_running_telemetry(sinks: Sinks) -> None:
    first = sinks.setup()
    assert sinks.setup() is first
    assert observatory_sdk.current() is first


def test_different_configuration_is_refused_until_shutdown(sinks: Sinks) -> None:
    sinks.setup("svc")
    with pytest.raises(AlreadyConfigured, match="shutdown"):
        sinks.setup("other")
    observatory_sdk.shutdown()
    sinks.metrics = InMemoryMetricReader()  # a reader belongs to one MeterProvider for life
    assert sinks.setup("other").config.service_name == "other"


def test_shutdown_flushes_and_a_new_setup_exports_elsewhere(sinks: Sinks) -> None:
    telemetry = sinks.setup()
    telemetry.tracer.start_span("buffered").end()
    telemetry.shutdown()  # no force_flush: shutdown must export what the batch still holds
    assert [s.name for s in sinks.spans.get_finished_spans()] == ["buffered"]
    assert observatory_sdk.current() is None

    second = InMemorySpanExporter()
    setup_telemetry(
        "svc", span_exporter=second, metric_reader=InMemoryMetricReader(), export_logs=False
    )
    trace.get_tracer("later").start_span("after").end()
    observatory_sdk.shutdown()
    assert [s.name for s in second.get_finished_spans()] == ["after"]


def test_shutdown_without_setup_does_nothing() -> None:
    observatory_sdk.shutdown()
    observatory_sdk.shutdown()


def test_w3c_trace_context_and_baggage_are_propagated(sinks: Sinks) -> None:
    telemetry = sinks.setup()
    headers: dict[str, str] = {}
    token = context.attach(baggage.set_baggage("correlation_id", "c-42"))
    try:
        with telemetry.tracer.start_as_current_span("outgoing") as span:
            propagate.inject(headers)
    finally:
        context.detach(token)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert headers["traceparent"].split("-")[1] == trace_id
    assert headers["baggage"] == "correlation_id=c-42"


def test_logs_carry_trace_ids_and_are_exported(sinks: Sinks) -> None:
    telemetry = sinks.setup()
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    capture = Capture()
    logger = logging.getLogger("tests.sdk.setup")
    logger.addHandler(capture)
    try:
        with telemetry.tracer.start_as_current_span("handling") as span:
            logger.warning("kv cache at %d%%", 93)
    finally:
        logger.removeHandler(capture)
    trace_id = span.get_span_context().trace_id
    assert records[0].otelTraceID == format(trace_id, "032x")  # type: ignore[attr-defined]
    exported = [
        r.log_record for r in sinks.finished_logs() if r.log_record.body == "kv cache at 93%"
    ]
    assert len(exported) == 1
    assert exported[0].trace_id == trace_id
    assert exported[0].severity_text == "WARN"


def test_logging_can_be_left_alone(sinks: Sinks) -> None:
    handlers_before = list(logging.getLogger().handlers)
    factory_before = logging.getLogRecordFactory()
    telemetry = sinks.setup(instrument_logging=False, export_logs=False)
    assert telemetry.logger_provider is None
    assert logging.getLogger().handlers == handlers_before
    assert logging.getLogRecordFactory() is factory_before


def test_shutdown_restores_logging(sinks: Sinks) -> None:
    handlers_before = list(logging.getLogger().handlers)
    factory_before = logging.getLogRecordFactory()
    sinks.setup()
    assert logging.getLogger().handlers != handlers_before
    observatory_sdk.shutdown()
    assert logging.getLogger().handlers == handlers_before
    assert logging.getLogRecordFactory() is factory_before


def test_a_first_call_with_a_bad_app_leaves_nothing_set_up(sinks: Sinks) -> None:
    with pytest.raises(TypeError, match="FastAPI or Starlette"):
        sinks.setup(app=object())
    assert observatory_sdk.current() is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_a_failure_while_instrumenting_leaves_nothing_installed(
    sinks: Sinks, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentor exploded")

    monkeypatch.setattr("observatory_sdk.setup.instrument_logging", broken)
    factory_before = logging.getLogRecordFactory()
    with pytest.raises(RuntimeError, match="exploded"):
        sinks.setup()
    assert observatory_sdk.current() is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert logging.getLogRecordFactory() is factory_before
    sinks.metrics = InMemoryMetricReader()
    monkeypatch.undo()
    assert sinks.setup() is observatory_sdk.current()  # and a later setup works
