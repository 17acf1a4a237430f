"""OTLP requests built by hand, for tests that need exact control of what is sent."""

from __future__ import annotations

import os
import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span_request(
    spans: int, service: str = "llm-gateway", attributes: dict[str, object] | None = None
) -> tuple[ExportTraceServiceRequest, list[tuple[bytes, bytes]]]:
    """A request of `spans` root spans with fresh ids; returns it and its (trace, span) ids."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "tests"
    ids: list[tuple[bytes, bytes]] = []
    now = time.time_ns()
    extra = attributes or {"gen_ai.request.model": "llama-3-8b", "gen_ai.usage.input_tokens": 42}
    for i in range(spans):
        trace_id, span_id = os.urandom(16), os.urandom(8)
        span = scope.spans.add(
            trace_id=trace_id,
            span_id=span_id,
            name=f"chat {i % 5}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=now + i,
            end_time_unix_nano=now + 500_000_000 + i,
        )
        span.attributes.extend(kv(k, v) for k, v in extra.items())
        ids.append((trace_id, span_id))
    return request, ids


def log_request(records: int, body: str = "hello") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(kv("service.name", "rag"))
    scope = resource_logs.scope_logs.add()
    now = time.time_ns()
    for i in range(records):
        scope.log_records.append(
            LogRecord(
                time_unix_nano=now + i,
                severity_number=9,
                severity_text="INFO",
                body=AnyValue(string_value=f"{body} {i}"),
            )
        )
    return request
