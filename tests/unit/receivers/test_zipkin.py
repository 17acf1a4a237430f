"""Zipkin v2 JSON ingest: decoding, refusals, and Zipkin in, Jaeger out through the store."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from observatory.api.jaeger import JaegerApi
from observatory.errors import BadRequestError, QueueFullError
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.receivers.zipkin import ZipkinReceiver, decode_zipkin, parse_spans
from observatory.store.embedded import EmbeddedStore
from observatory.tenancy import TenantResolver
from tests.unit.receivers.recording import RecordingPipeline, client_for, counter_value

RULES = DecodeRules(128, 4096, "truncate", ())
NOW_US = time.time_ns() // 1000
TRACE = "5982fe77008310cc80f1da5e10147517"
HEADERS = {"Content-Type": "application/json"}


def client_span(**overrides: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TRACE,
        "id": "bd7a977555f6b982",
        "parentId": "90394f6bcffb5d13",
        "name": "get /api",
        "kind": "CLIENT",
        "timestamp": NOW_US,
        "duration": 207_000,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 3306},
        "remoteEndpoint": {"serviceName": "backend", "ipv4": "172.17.0.13", "port": 9000},
        "annotations": [{"timestamp": NOW_US + 10, "value": "ws"}],
        "tags": {"http.method": "GET", "http.path": "/api"},
    }
    span.update(overrides)
    return span


def server_span() -> dict[str, Any]:
    return {
        "traceId": TRACE[16:],
        "id": "90394f6bcffb5d14",
        "name": "handle",
        "kind": "SERVER",
        "timestamp": NOW_US + 5,
        "duration": 100,
        "localEndpoint": {"serviceName": "backend"},
        "tags": {"error": "connection reset", "otel.scope.name": "brave"},
    }


def rows(spans: list[dict[str, Any]], rules: DecodeRules = RULES) -> list[dict[str, Any]]:
    batch = decode_zipkin(json.dumps(spans).encode(), rules.context("t"))
    table = batch.tables.get("spans")
    return table.to_pylist() if table is not None else []


def test_a_client_span_becomes_an_otlp_row() -> None:
    [row] = rows([client_span()])
    assert row["trace_id"] == bytes.fromhex(TRACE)
    assert row["span_id"] == bytes.fromhex("bd7a977555f6b982")
    assert row["parent_span_id"] == bytes.fromhex("90394f6bcffb5d13")
    assert (row["name"], row["kind"], row["service_name"]) == ("get /api", 3, "frontend")
    assert row["start_time"].value == NOW_US * 1000
    assert row["duration_ns"] == 207_000_000
    assert row["resource_attributes"] == [("service.name", "frontend")]
    assert dict(row["attributes"]) == {
        "http.method": "GET",
        "http.path": "/api",
        "network.local.address": "192.168.99.1",
        "peer.service": "backend",
        "network.peer.address": "172.17.0.13",
        "server.address": "172.17.0.13",
    }
    assert dict(row["attributes_int"]) == {
        "network.local.port": 3306,
        "network.peer.port": 9000,
        "server.port": 9000,
    }
    assert row["events"] == [
        {
            "time_unix_nano": (NOW_US + 10) * 1000,
            "name": "ws",
            "attributes": "[]",
            "dropped_attributes_count": 0,
        }
    ]
    assert (row["status_code"], row["status_message"]) == (0, "")


def test_64_bit_trace_ids_error_tag_and_scope() -> None:
    [row] = rows([server_span()])
    assert row["trace_id"] == bytes(8) + bytes.fromhex(TRACE[16:])
    assert row["parent_span_id"] == bytes(8)
    assert (row["kind"], row["status_code"], row["status_message"]) == (2, 2, "connection reset")
    assert row["scope_name"] == "brave"
    assert row["attributes"] == []


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        ({"error": ""}, (2, "")),
        ({"error": "true"}, (2, "")),
        ({"otel.status_code": "ERROR", "otel.status_description": "boom"}, (2, "boom")),
        ({"otel.status_code": "OK"}, (1, "")),
        ({"other": "x"}, (0, "")),
    ],
)
def test_status_from_tags(tags: dict[str, str], status: tuple[int, str]) -> None:
    [row] = rows([client_span(tags=tags)])
    assert (row["status_code"], row["status_message"]) == status


def test_spans_group_into_resources_by_local_service() -> None:
    second = client_span(id="bd7a977555f6b983", kind=None, remoteEndpoint=None)
    found = rows([client_span(), server_span(), second])
    assert [(r["service_name"], r["kind"]) for r in found] == [
        ("frontend", 3),
        ("backend", 2),
        ("frontend", 0),
    ]
    no_service = rows([client_span(localEndpoint=None)])
    assert no_service[0]["service_name"] == "unknown_service"


def test_a_span_without_any_time_is_refused_alone() -> None:
    batch = decode_zipkin(
        json.dumps([client_span(timestamp=None, annotations=[]), server_span()]).encode(),
        RULES.context("t"),
    )
    assert (batch.items, batch.rejected) == (1, 1)
    assert "timestamp" in batch.rejection_message
    [row] = rows([client_span(timestamp=None)])
    assert row["start_time"].value == (NOW_US + 10) * 1000


def test_attribute_limits_and_resource_processor_apply() -> None:
    rules = DecodeRules(2, 3, "truncate", ({"action": "upsert", "key": "env", "value": "prod"},))
    ctx = rules.context("t")
    batch = decode_zipkin(json.dumps([client_span()]).encode(), ctx)
    [row] = batch.tables["spans"].to_pylist()
    assert row["attributes"] == [("http.method", "GET"), ("http.path", "/ap")]
    assert row["dropped_attributes_count"] == 7
    assert dict(row["resource_attributes"]) == {"service.name": "fro", "env": "pro"}
    refusing = DecodeRules(2, 4096, "reject", ())
    assert rows([client_span()], refusing) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"traceId": "a"}', "JSON array"),
        (b"[1]", "span 0: expected a JSON object"),
        (json.dumps([client_span(traceId="xyz")]).encode(), "span 0: field traceId"),
        (json.dumps([client_span(traceId="0" * 32)]).encode(), "field traceId"),
        (json.dumps([client_span(traceId="a" * 33)]).encode(), "field traceId"),
        (json.dumps([server_span(), client_span(id=None)]).encode(), "span 1: field id"),
        (json.dumps([client_span(parentId="zz")]).encode(), "field parentId"),
        (json.dumps([client_span(kind="LOCAL")]).encode(), "field kind"),
        (json.dumps([client_span(timestamp="now")]).encode(), "field timestamp"),
        (json.dumps([client_span(duration=-1)]).encode(), "field duration"),
        (json.dumps([client_span(name=5)]).encode(), "field name"),
        (json.dumps([client_span(tags={"a": {"b": 1}})]).encode(), "field tags: field a"),
        (json.dumps([client_span(annotations=[{"value": "x"}])]).encode(), r"annotations\[0\]"),
        (json.dumps([client_span(localEndpoint={"port": "80"})]).encode(), "localEndpoint"),
    ],
)
def test_malformed_requests_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_spans(body)


def receiver(pipeline: RecordingPipeline) -> ZipkinReceiver:
    tenants = TenantResolver("default", False)
    return ZipkinReceiver(pipeline, tenants, RULES, pipeline.metrics, 1 << 20, 1 << 20)  # type: ignore[arg-type]


async def test_http_202_gzip_tenant_and_counts() -> None:
    pipeline = RecordingPipeline()
    body = gzip.compress(json.dumps([client_span(), server_span()]).encode())
    headers = {**HEADERS, "Content-Encoding": "gzip", "X-Scope-OrgID": "team-z"}
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v2/spans", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert [(b.tenant, b.items) for b in pipeline.batches] == [("team-z", 2)]
    labels = {"signal": "traces", "protocol": "zipkin"}
    assert counter_value(pipeline.metrics, "observatory_received_items_total", labels) == 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"[{]", HEADERS, 400, "malformed"),
        (b"[]", {"Content-Type": "application/x-protobuf"}, 415, "unsupported_media_type"),
        (b"x" * 2048, {**HEADERS, "Content-Encoding": "gzip"}, 400, "malformed"),
    ],
)
async def test_http_refusals(
    body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v2/spans", content=body, headers=headers)
    assert response.status_code == status
    assert response.text.strip()
    labels = {"signal": "traces", "reason": reason}
    assert counter_value(pipeline.metrics, "observatory_refused_requests_total", labels) == 1
    assert not pipeline.batches


async def test_http_overload_is_refused_before_reading() -> None:
    pipeline = RecordingPipeline()
    pipeline.refuse_admit = QueueFullError("queue full", retry_after=3)
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v2/spans", content=b"[]", headers=HEADERS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


async def test_zipkin_in_jaeger_out(store: EmbeddedStore) -> None:
    tenant = "zipkin-unit"
    batch = decode_zipkin(
        json.dumps([client_span(), server_span()]).encode(), RULES.context(tenant)
    )
    store.insert("spans", batch.tables["spans"])
    app = Starlette(routes=JaegerApi(store, TenantResolver(tenant, False)).routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        found = await client.get("/jaeger/api/traces", params={"service": "backend"})
        services = await client.get("/jaeger/api/services")
    assert services.json()["data"] == ["backend", "frontend"]
    [trace] = found.json()["data"]
    assert trace["traceID"] == TRACE[16:]
    [span] = trace["spans"]
    tags = {t["key"]: t["value"] for t in span["tags"]}
    assert tags["error"] is True
    assert tags["otel.status_description"] == "connection reset"
    assert tags["span.kind"] == "server"
    assert trace["processes"][span["processID"]]["serviceName"] == "backend"
