"""OTLP exporters for the three signals, over gRPC or HTTP/protobuf.

With no endpoint argument nothing is passed to the exporters, so they read the standard
variables themselves (`OTEL_EXPORTER_OTLP_ENDPOINT`, the per-signal `..._TRACES_ENDPOINT` and
so on, headers, timeout, compression, certificates) exactly as they would without this SDK.
"""

from __future__ import annotations

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
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from observatory_sdk.config import Signal, TelemetryConfig, signal_url


def span_exporter(config: TelemetryConfig) -> SpanExporter:
    if config.protocol("traces") == "grpc":
        return GrpcSpans(endpoint=config.endpoint)
    return HttpSpans(endpoint=_http_url(config, "traces"))


def metric_exporter(config: TelemetryConfig) -> MetricExporter:
    if config.protocol("metrics") == "grpc":
        return GrpcMetrics(endpoint=config.endpoint)
    return HttpMetrics(endpoint=_http_url(config, "metrics"))


def log_exporter(config: TelemetryConfig) -> LogRecordExporter:
    if config.protocol("logs") == "grpc":
        return GrpcLogs(endpoint=config.endpoint)
    return HttpLogs(endpoint=_http_url(config, "logs"))


def _http_url(config: TelemetryConfig, signal: Signal) -> str | None:
    if config.endpoint is None:
        return None
    return signal_url(config.endpoint, signal)
