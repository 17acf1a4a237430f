"""Zipkin JSON and OpenTelemetry SDK spans in, the Jaeger query API out, on the real server."""

from __future__ import annotations

import gzip
import json
import os
import time
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.server import ServerProcess

JAEGER = "/jaeger/api"


def _zipkin_spans(trace_id: str, now_us: int) -> list[dict[str, Any]]:
    client = {
        "traceId": trace_id,
        "id": "a1b2c3d4e5f60718",
        "name": "post /v1/chat/completions",
        "kind": "CLIENT",
        "timestamp": now_us,
        "duration": 350_000,
        "localEndpoint": {"serviceName": "zipkin-frontend", "ipv4": "10.0.0.1"},
        "remoteEndpoint": {"serviceName": "zipkin-llm", "ipv4": "10.0.0.2", "port": 8000},
        "annotations": [{"timestamp": now_us + 1000, "value": "wire.send"}],
        "tags": {"http.method": "POST", "gen_ai.request.model": "llama"},
    }
    server = {
        "traceId": trace_id,
        "id": "a1b2c3d4e5f60719",
        "parentId": "a1b2c3d4e5f60718",
        "name": "chat",
        "kind": "SERVER",
        "timestamp": now_us + 2000,
        "duration": 300_000,
        "localEndpoint": {"serviceName": "zipkin-llm"},
        "tags": {"error": "model overloaded"},
    }
    return [client, server]


def _get(server: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.api}{JAEGER}{path}", params=params, timeout=30)


def test_zipkin_in_jaeger_out(server: ServerProcess) -> None:
    trace_id, now_us = os.urandom(16).hex(), time.time_ns() // 1000
    body = gzip.compress(json.dumps(_zipkin_spans(trace_id, now_us)).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    posted = httpx.post(f"{server.api}/api/v2/spans", content=body, headers=headers)
    assert posted.status_code == 202, posted.text
    services = _get(server, "/services").json()["data"]
    assert {"zipkin-frontend", "zipkin-llm"} <= set(services)
    operations = _get(server, "/operations", service="zipkin-llm").json()["data"]
    assert operations == [{"name": "chat", "spanKind": "server"}]
    found = _get(server, "/traces", service="zipkin-llm", tags="error=true").json()["data"]
    assert [t["traceID"] for t in found] == [trace_id]
    trace = _get(server, f"/traces/{trace_id}").json()["data"][0]
    client, child = sorted(trace["spans"], key=lambda s: s["startTime"])
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": client["spanID"]}
    ]
    assert client["startTime"] == now_us and client["duration"] == 350_000
    assert client["logs"][0]["fields"][0]["value"] == "wire.send"
    tags = {t["key"]: t["value"] for t in client["tags"]}
    assert tags["peer.service"] == "zipkin-llm"
    assert tags["network.peer.port"] == 8000
    assert trace["processes"][child["processID"]]["serviceName"] == "zipkin-llm"


def test_zipkin_refusals_name_the_field(server: ServerProcess) -> None:
    spans = _zipkin_spans("not-hex", time.time_ns() // 1000)
    bad_id = httpx.post(f"{server.api}/api/v2/spans", json=spans)
    assert bad_id.status_code == 400
    assert "traceId" in bad_id.text
    bad_json = httpx.post(
        f"{server.api}/api/v2/spans", content=b"[{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert "JSON" in bad_json.text


def _send_sdk_trace(server: ServerProcess, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=f"{server.otlp_http}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.jaeger", "2.0")
    attributes: dict[str, str | int] = {
        "gen_ai.request.model": "llama",
        "gen_ai.usage.input_tokens": 42,
    }
    with tracer.start_as_current_span(
        "chat llama", kind=SpanKind.CLIENT, attributes=attributes
    ) as root:
        root.add_event("gen_ai.content.prompt", {"tokens": 3})
        with tracer.start_as_current_span("retrieve") as child:
            child.set_status(Status(StatusCode.ERROR, "index offline"))
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def test_sdk_spans_found_by_tags_and_rendered(server: ServerProcess) -> None:
    trace_id = _send_sdk_trace(server, "sdk-chat")
    now_us = time.time_ns() // 1000
    found = _get(
        server,
        "/traces",
        service="sdk-chat",
        tags='{"gen_ai.request.model":"llama"}',
        start=str(now_us - 3_600_000_000),
        end=str(now_us + 1_000_000),
        limit="20",
    )
    assert found.status_code == 200, found.text
    assert [t["traceID"] for t in found.json()["data"]] == [trace_id]
    assert (
        _get(server, "/traces", service="sdk-chat", tags='{"gen_ai.request.model":"gpt"}').json()[
            "data"
        ]
        == []
    )
    trace = _get(server, f"/traces/{trace_id}").json()["data"][0]
    spans = {s["operationName"]: s for s in trace["spans"]}
    root, child = spans["chat llama"], spans["retrieve"]
    assert child["references"][0]["spanID"] == root["spanID"]
    root_tags = {t["key"]: (t["type"], t["value"]) for t in root["tags"]}
    assert root_tags["gen_ai.usage.input_tokens"] == ("int64", 42)
    assert root_tags["span.kind"] == ("string", "client")
    assert root_tags["otel.scope.name"] == ("string", "tests.jaeger")
    assert root["logs"][0]["fields"][0] == {
        "key": "event",
        "type": "string",
        "value": "gen_ai.content.prompt",
    }
    child_tags = {t["key"]: t["value"] for t in child["tags"]}
    assert child_tags["error"] is True
    assert child_tags["otel.status_description"] == "index offline"
    process = trace["processes"][root["processID"]]
    assert process["serviceName"] == "sdk-chat"
    assert "telemetry.sdk.language" in {t["key"] for t in process["tags"]}
    missing = _get(server, f"/traces/{'0f' * 16}")
    assert missing.status_code == 404
    assert missing.json()["errors"] == [{"code": 404, "msg": "trace not found"}]
