"""The stock OpenTelemetry SDK exporters, gRPC and HTTP, against the real server."""

from __future__ import annotations

import logging

import httpx
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.server import ServerProcess, query_store


def _send_trace(exporter: object, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    tracer = provider.get_tracer("tests.sdk", "1.0")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "llama-3-8b",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.response.finish_reasons": ["stop"],
        "server.port": 8000,
        "sampled.ratio": 0.5,
        "cache.hit": False,
    }
    with tracer.start_as_current_span("chat llama-3-8b", attributes=attributes) as root:
        root.add_event("gen_ai.content.prompt", {"tokens": 3})
        with tracer.start_as_current_span("retrieve") as child:
            child.set_status(Status(StatusCode.ERROR, "index offline"))
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def _spans(trace: dict[str, object]) -> dict[str, dict[str, object]]:
    spans = {}
    for batch in trace["batches"]:  # type: ignore[attr-defined]
        for scope in batch["scopeSpans"]:
            for span in scope["spans"]:
                spans[span["name"]] = span
    return spans


def _check_trace(server: ServerProcess, trace_id: str, service: str) -> None:
    response = httpx.get(f"{server.api}/api/traces/{trace_id}")
    assert response.status_code == 200, response.text
    trace = response.json()
    resource = {a["key"]: a["value"] for a in trace["batches"][0]["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": service}
    spans = _spans(trace)
    assert set(spans) == {"chat llama-3-8b", "retrieve"}
    root, child = spans["chat llama-3-8b"], spans["retrieve"]
    assert child["parentSpanId"] == root["spanId"]
    assert "parentSpanId" not in root
    attributes = {a["key"]: a["value"] for a in root["attributes"]}
    assert attributes["gen_ai.usage.input_tokens"] == {"intValue": "42"}
    assert attributes["sampled.ratio"] == {"doubleValue": 0.5}
    assert attributes["cache.hit"] == {"boolValue": False}
    assert attributes["gen_ai.response.finish_reasons"] == {
        "arrayValue": {"values": [{"stringValue": "stop"}]}
    }
    assert root["events"][0]["name"] == "gen_ai.content.prompt"
    assert child["status"] == {"code": 2, "message": "index offline"}


def test_traces_over_grpc_and_http_read_back_by_id(server: ServerProcess) -> None:
    grpc_trace = _send_trace(GrpcSpans(endpoint=server.grpc_endpoint, insecure=True), "grpc-svc")
    http_trace = _send_trace(HttpSpans(endpoint=f"{server.otlp_http}/v1/traces"), "http-svc")
    _check_trace(server, grpc_trace, "grpc-svc")
    _check_trace(server, http_trace, "http-svc")
    v2 = httpx.get(f"{server.api}/api/v2/traces/{http_trace}").json()
    assert len(v2["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 2


def _send_metrics(exporter: object, service: str) -> None:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)  # type: ignore[arg-type]
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    meter = provider.get_meter("tests.sdk")
    tokens = meter.create_counter("gen_ai.tokens", unit="{token}")
    tokens.add(120, {"model": "llama"})
    latency = meter.create_histogram("gen_ai.latency", unit="s")
    latency.record(0.25, {"model": "llama"})
    provider.shutdown()


def _send_logs(exporter: object, service: str) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))  # type: ignore[arg-type]
    logger = logging.getLogger(f"tests.{service}")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.warning("kv cache at %d%%", 93)
    logger.removeHandler(handler)
    provider.shutdown()


def test_metrics_and_logs_over_grpc_and_http_reach_the_store(server: ServerProcess) -> None:
    _send_metrics(GrpcMetrics(endpoint=server.grpc_endpoint, insecure=True), "m-grpc")
    _send_metrics(HttpMetrics(endpoint=f"{server.otlp_http}/v1/metrics"), "m-http")
    _send_logs(GrpcLogs(endpoint=server.grpc_endpoint, insecure=True), "l-grpc")
    _send_logs(HttpLogs(endpoint=f"{server.otlp_http}/v1/logs"), "l-http")
    assert server.stop() == 0
    samples = query_store(
        server.data_dir,
        "SELECT s.metric_name AS name, s.value AS value, r.labels['job'] AS job "
        "FROM samples AS s INNER JOIN (SELECT fingerprint, any(labels) AS labels FROM series "
        "GROUP BY fingerprint) AS r USING fingerprint ORDER BY name, job",
    )
    by_name = {(row["name"], row["job"]): row["value"] for row in samples}
    for job in ("m-grpc", "m-http"):
        assert by_name[("gen_ai_tokens_total", job)] == 120
        assert by_name[("gen_ai_latency_seconds_count", job)] == 1
        assert by_name[("gen_ai_latency_seconds_sum", job)] == 0.25
    logs = query_store(
        server.data_dir, "SELECT service_name, body, severity_text FROM logs ORDER BY service_name"
    )
    assert [(r["service_name"], r["body"]) for r in logs] == [
        ("l-grpc", "kv cache at 93%"),
        ("l-http", "kv cache at 93%"),
    ]
    assert all(r["severity_text"] == "WARN" for r in logs)


def test_sdk_log_inside_a_span_links_to_its_trace_through_logql(server: ServerProcess) -> None:
    resource = Resource.create({"service.name": "rag", "k8s.namespace.name": "prod"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(HttpSpans(endpoint=f"{server.otlp_http}/v1/traces"))
    )
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(
        SimpleLogRecordProcessor(HttpLogs(endpoint=f"{server.otlp_http}/v1/logs"))
    )
    logger = logging.getLogger("tests.rag")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=log_provider)
    logger.addHandler(handler)
    with tracer_provider.get_tracer("tests").start_as_current_span("retrieve") as span:
        logger.error("retrieval failed: index offline")
    logger.removeHandler(handler)
    log_provider.shutdown()
    tracer_provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")

    query = f'{{service_name="rag", k8s_namespace_name="prod"}} | trace_id="{trace_id}"'
    response = httpx.get(f"{server.api}/loki/api/v1/query_range", params={"query": query})
    assert response.status_code == 200, response.text
    streams = response.json()["data"]["result"]
    assert [line for s in streams for _, line in s["values"]] == ["retrieval failed: index offline"]
    labels = streams[0]["stream"]
    assert labels["detected_level"] == "error"
    assert labels["span_id"] == format(span.get_span_context().span_id, "016x")
    assert httpx.get(f"{server.api}/api/traces/{trace_id}").status_code == 200
