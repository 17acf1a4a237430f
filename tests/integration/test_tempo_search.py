"""TraceQL search over spans sent by the stock OpenTelemetry SDK to the real server."""

from __future__ import annotations

import time
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tests.server import ServerProcess

MS = 1_000_000


def _provider(server: ServerProcess, service: str, tenant: str | None) -> TracerProvider:
    headers = {"X-Scope-OrgID": tenant} if tenant else None
    exporter = OTLPSpanExporter(endpoint=f"{server.otlp_http}/v1/traces", headers=headers)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _send_chat(server: ServerProcess, tenant: str | None = None) -> str:
    """gateway POST /v1/chat (3s) -> chat llama-3-8b -> retrieve [error]; returns the trace id."""
    start = time.time_ns() - 10_000 * MS
    gateway = _provider(server, "gateway", tenant)
    root = gateway.get_tracer("tests").start_span(
        "POST /v1/chat", kind=SpanKind.SERVER, start_time=start
    )
    chat_service = _provider(server, "chat-svc", tenant)
    tracer = chat_service.get_tracer("tests")
    attributes: dict[str, str | int] = {"gen_ai.request.model": "llama-3-8b"}
    attributes["gen_ai.usage.input_tokens"] = 42
    context = set_span_in_context(root)
    chat = tracer.start_span(
        "chat llama-3-8b", context, SpanKind.CLIENT, attributes, start_time=start + MS
    )
    retrieve = tracer.start_span("retrieve", set_span_in_context(chat), start_time=start + 2 * MS)
    retrieve.set_status(Status(StatusCode.ERROR, "index offline"))
    retrieve.end(end_time=start + 200 * MS)
    chat.end(end_time=start + 2_500 * MS)
    root.end(end_time=start + 3_000 * MS)
    chat_service.shutdown()
    gateway.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def _get(server: ServerProcess, path: str, tenant: str | None = None, **params: Any) -> Any:
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    response = httpx.get(f"{server.api}{path}", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _search_until_found(server: ServerProcess, query: str, tenant: str | None = None) -> Any:
    """Writes commit asynchronously; search until the trace shows up."""
    deadline = time.monotonic() + 30
    while True:
        body = _get(server, "/api/search", tenant, q=query)
        if body["traces"] or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_traceql_search_finds_sdk_traces(server: ServerProcess) -> None:
    trace_id = _send_chat(server)
    query = '{ span.gen_ai.request.model = "llama-3-8b" && duration > 2s }'
    (trace,) = _search_until_found(server, query)["traces"]
    assert trace["traceID"] == trace_id
    assert trace["rootServiceName"] == "gateway"
    assert trace["rootTraceName"] == "POST /v1/chat"
    assert trace["durationMs"] == 3000
    (span,) = trace["spanSet"]["spans"]
    attributes = {a["key"]: a["value"] for a in span["attributes"]}
    assert span["name"] == "chat llama-3-8b"
    assert span["durationNanos"] == str(2_499 * MS)
    assert attributes["gen_ai.request.model"] == {"stringValue": "llama-3-8b"}
    assert attributes["service.name"] == {"stringValue": "chat-svc"}

    errors = _get(
        server, "/api/search", q='{ resource.service.name = "gateway" } >> { status = error }'
    )
    assert [s["name"] for s in errors["traces"][0]["spanSet"]["spans"]] == ["retrieve"]
    counted = _get(server, "/api/search", q="{ } | count() = 3 | avg(duration) > 1s")
    assert [t["traceID"] for t in counted["traces"]] == [trace_id]
    tagged = _get(server, "/api/search", tags="service.name=chat-svc", minDuration="2s")
    assert [t["traceID"] for t in tagged["traces"]] == [trace_id]
    by_id = httpx.get(f"{server.api}/api/traces/{trace['traceID']}")
    assert by_id.status_code == 200


def test_tags_tenants_and_errors(server: ServerProcess) -> None:
    _send_chat(server, tenant="team-b")
    assert _search_until_found(server, "{ }", tenant="team-b")["traces"]
    assert _get(server, "/api/search", q="{ }")["traces"] == []

    names = _get(server, "/api/search/tags", "team-b")["tagNames"]
    assert {"gen_ai.request.model", "service.name"} <= set(names)
    scopes = _get(server, "/api/v2/search/tags", "team-b")["scopes"]
    assert [scope["name"] for scope in scopes] == ["span", "resource", "intrinsic"]
    services = _get(server, "/api/search/tag/service.name/values", "team-b")["tagValues"]
    assert services == ["chat-svc", "gateway"]
    path = "/api/v2/search/tag/resource.service.name/values"
    typed = _get(server, path, "team-b", q="{ status = error }")
    assert typed["tagValues"] == [{"type": "string", "value": "chat-svc"}]

    bad = httpx.get(f"{server.api}/api/search", params={"q": "{ .a = }"})
    assert bad.status_code == 400
    assert "position 8" in bad.text
    assert httpx.get(f"{server.api}/api/echo").text == "echo"
    assert httpx.get(f"{server.api}/api/status/buildinfo").json()["version"]
