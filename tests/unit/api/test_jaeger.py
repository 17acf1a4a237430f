"""The Jaeger query API: parameters, the JSON model, and the SQL search on the shared store."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
from starlette.applications import Starlette

from observatory.api import jaeger_model
from observatory.api.jaeger import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    JaegerApi,
    logfmt,
    parse_go_duration,
    parse_limit,
    parse_tags,
)
from observatory.errors import BadRequestError
from observatory.query.jaeger import JaegerReader, TraceQuery
from observatory.query.traces import TraceReader
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.receivers.otlp.traces import decode_traces
from observatory.store.embedded import EmbeddedStore
from observatory.tenancy import TenantResolver

TENANT = "jaeger-unit"
RULES = DecodeRules(128, 4096, "truncate", ())
NOW = time.time_ns() // 1_000_000_000 * 1_000_000_000
SECOND = 1_000_000_000


# Parameters.


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("100ms", 100_000_000),
        ("1.2s", 1_200_000_000),
        ("1h30m", 5_400_000_000_000),
        ("500us", 500_000),
        ("500µs", 500_000),
        ("1.5ns", 1),
        (".5s", 500_000_000),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration(text, "minDuration") == ns


@pytest.mark.parametrize("text", ["", "1", "1d", "-1s", "1s2", "s", "1.2.3s", "ms"])
def test_bad_go_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(BadRequestError, match="minDuration"):
        parse_go_duration(text, "minDuration")


def test_tags_as_json_logfmt_and_tag_params() -> None:
    assert parse_tags(['{"a": "1", "b": true, "c": 2.5}'], []) == (
        ("a", "1"),
        ("b", "true"),
        ("c", "2.5"),
    )
    assert dict(parse_tags(['error=true model="llama 3" flag'], ["x:y:z"])) == {
        "x": "y:z",
        "error": "true",
        "model": "llama 3",
        "flag": "true",
    }
    assert logfmt('k="a \\"quoted\\" value" n=') == {"k": 'a "quoted" value', "n": ""}


@pytest.mark.parametrize(
    ("tags", "tag", "message"),
    [
        (["{not json"], [], "cannot parse JSON"),
        (["[1, 2]"], [], "JSON object"),
        (['{"a": {"b": 1}}'], [], "not a scalar"),
        (['a="unterminated'], [], "logfmt"),
        ([], ["nocolon"], "key:value"),
    ],
)
def test_bad_tags(tags: list[str], tag: list[str], message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_tags(tags, tag)


def test_limits() -> None:
    assert parse_limit(None) == DEFAULT_LIMIT
    assert parse_limit("0") == DEFAULT_LIMIT
    assert parse_limit("20") == 20
    assert parse_limit("999999") == MAX_LIMIT
    with pytest.raises(BadRequestError, match="limit"):
        parse_limit("ten")


# The model, on its own.


def test_trace_ids_with_a_zero_high_half_are_64_bit() -> None:
    assert jaeger_model.trace_id_text(bytes(8) + bytes(range(1, 9))) == "0102030405060708"
    assert jaeger_model.trace_id_text(bytes(range(16))) == bytes(range(16)).hex()


def test_tag_types() -> None:
    assert jaeger_model.tag("a", True) == {"key": "a", "type": "bool", "value": True}
    assert jaeger_model.tag("a", 7) == {"key": "a", "type": "int64", "value": 7}
    assert jaeger_model.tag("a", 0.5) == {"key": "a", "type": "float64", "value": 0.5}
    assert jaeger_model.tag("a", float("nan"))["type"] == "string"
    assert jaeger_model.json_tag("b", '{"bytesValue": "AQI="}') == {
        "key": "b",
        "type": "binary",
        "value": "AQI=",
    }
    array = '{"arrayValue": {"values": [{"stringValue": "stop"}, {"intValue": "3"}]}}'
    assert jaeger_model.json_tag("r", array) == {
        "key": "r",
        "type": "string",
        "value": '["stop",3]',
    }


def test_status_tags() -> None:
    assert jaeger_model.status_tags(0, "") == []
    assert jaeger_model.status_tags(1, "") == [
        {"key": "otel.status_code", "type": "string", "value": "OK"}
    ]
    assert [t["key"] for t in jaeger_model.status_tags(2, "boom")] == [
        "otel.status_code",
        "error",
        "otel.status_description",
    ]


# Spans in the shared store, for the model and the search.


@dataclass
class Seeded:
    chat: bytes  # trace of chat-api and rag spans, 10 s ago
    recent: bytes  # chat-api only, 5 s ago
    old: bytes  # three days ago: outside the default two-day window
    root_span: bytes
    child_span: bytes


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, bytes):
        return KeyValue(key=key, value=AnyValue(bytes_value=value))
    if isinstance(value, list):
        values = [AnyValue(string_value=v) for v in value]
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=values)))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def resource(request: ExportTraceServiceRequest, **attributes: object) -> ResourceSpans:
    group = request.resource_spans.add()
    group.resource.attributes.extend(kv(k.replace("_", "."), v) for k, v in attributes.items())
    scope = group.scope_spans.add()
    scope.scope.name, scope.scope.version = "tests.jaeger", "1.0"
    return group


def add_span(group: ResourceSpans, trace_id: bytes, span_id: bytes, start: int, **kw: Any) -> Span:
    attributes = kw.pop("attributes", {})
    span = group.scope_spans[0].spans.add(
        trace_id=trace_id,
        span_id=span_id,
        start_time_unix_nano=start,
        end_time_unix_nano=start + kw.pop("duration"),
        **kw,
    )
    span.attributes.extend(kv(k, v) for k, v in attributes.items())
    return span


def seed(store: EmbeddedStore) -> Seeded:
    seeded = Seeded(b"\x01" * 16, b"\x02" * 16, b"\x03" * 16, b"\x0a" * 8, b"\x0b" * 8)
    request = ExportTraceServiceRequest()
    chat = resource(request, service_name="chat-api", deployment_environment="prod")
    rag = resource(request, service_name="rag")
    root = add_span(
        chat,
        seeded.chat,
        seeded.root_span,
        NOW - 10 * SECOND,
        name="POST /chat",
        kind=Span.SPAN_KIND_SERVER,
        duration=1_500_000_000,
        flags=1,
        attributes={
            "gen_ai.request.model": "llama-3-8b",
            "http.status_code": 200,
            "sampled.ratio": 0.5,
            "cache.hit": True,
            "gen_ai.response.finish_reasons": ["stop"],
            "blob": b"\x01\x02",
        },
        status=Status(code=Status.STATUS_CODE_OK),
    )
    event = root.events.add(time_unix_nano=NOW - 9 * SECOND, name="gen_ai.content.prompt")
    event.attributes.append(kv("tokens", 3))
    child = add_span(
        rag,
        seeded.chat,
        seeded.child_span,
        NOW - 9 * SECOND,
        parent_span_id=seeded.root_span,
        name="retrieve",
        kind=Span.SPAN_KIND_CLIENT,
        duration=200_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="index offline"),
    )
    child.links.add(trace_id=seeded.recent, span_id=b"\x0c" * 8)
    add_span(
        chat,
        seeded.recent,
        b"\x0c" * 8,
        NOW - 5 * SECOND,
        name="POST /chat",
        kind=Span.SPAN_KIND_SERVER,
        duration=100_000_000,
        attributes={"gen_ai.request.model": "gpt-4o"},
    )
    add_span(chat, seeded.old, b"\x0d" * 8, NOW - 3 * 86_400 * SECOND, name="old", duration=1)
    batch = decode_traces(request, RULES.context(TENANT))
    store.insert("spans", batch.tables["spans"])
    return seeded


@pytest.fixture(scope="module")
def seeded(store: EmbeddedStore) -> Seeded:
    return seed(store)


def search(store: EmbeddedStore, **kw: Any) -> list[bytes]:
    query = TraceQuery(
        service=kw.pop("service", "chat-api"),
        start_ns=kw.pop("start_ns", NOW - 86_400 * SECOND),
        end_ns=kw.pop("end_ns", NOW),
        limit=kw.pop("limit", 20),
        **kw,
    )
    return JaegerReader(store).find_trace_ids(TENANT, query)


def test_model_of_a_stored_trace(store: EmbeddedStore, seeded: Seeded) -> None:
    rows = TraceReader(store).trace(TENANT, seeded.chat).to_pylist()
    [trace] = jaeger_model.traces(rows)
    assert trace["traceID"] == seeded.chat.hex()
    assert trace["processes"] == {
        "p1": {
            "serviceName": "chat-api",
            "tags": [{"key": "deployment.environment", "type": "string", "value": "prod"}],
        },
        "p2": {"serviceName": "rag", "tags": []},
    }
    root, child = trace["spans"]
    assert root["operationName"] == "POST /chat"
    assert root["startTime"] == (NOW - 10 * SECOND) // 1000
    assert root["duration"] == 1_500_000
    assert root["references"] == []
    assert root["processID"] == "p1"
    assert root["flags"] == 1
    tags = {t["key"]: (t["type"], t["value"]) for t in root["tags"]}
    assert tags["gen_ai.request.model"] == ("string", "llama-3-8b")
    assert tags["http.status_code"] == ("int64", 200)
    assert tags["sampled.ratio"] == ("float64", 0.5)
    assert tags["cache.hit"] == ("bool", True)
    assert tags["gen_ai.response.finish_reasons"] == ("string", '["stop"]')
    assert tags["blob"] == ("binary", base64.b64encode(b"\x01\x02").decode())
    assert tags["span.kind"] == ("string", "server")
    assert tags["otel.status_code"] == ("string", "OK")
    assert tags["otel.scope.name"] == ("string", "tests.jaeger")
    assert "error" not in tags
    assert root["logs"] == [
        {
            "timestamp": (NOW - 9 * SECOND) // 1000,
            "fields": [
                {"key": "event", "type": "string", "value": "gen_ai.content.prompt"},
                {"key": "tokens", "type": "int64", "value": 3},
            ],
        }
    ]
    assert child["processID"] == "p2"
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": seeded.chat.hex(), "spanID": seeded.root_span.hex()},
        {"refType": "FOLLOWS_FROM", "traceID": seeded.recent.hex(), "spanID": "0c" * 8},
    ]
    child_tags = {t["key"]: t["value"] for t in child["tags"]}
    assert child_tags["error"] is True
    assert child_tags["otel.status_code"] == "ERROR"
    assert child_tags["otel.status_description"] == "index offline"
    assert child_tags["span.kind"] == "client"


def test_search_newest_first_within_the_window(store: EmbeddedStore, seeded: Seeded) -> None:
    assert search(store) == [seeded.recent, seeded.chat]
    assert search(store, limit=1) == [seeded.recent]
    assert search(store, start_ns=NOW - 7 * SECOND) == [seeded.recent]
    assert search(store, start_ns=NOW - 4 * 86_400 * SECOND)[-1] == seeded.old
    assert search(store, service="nobody") == []


def test_search_by_operation_and_duration(store: EmbeddedStore, seeded: Seeded) -> None:
    assert search(store, service="rag", operation="retrieve") == [seeded.chat]
    assert search(store, operation="retrieve") == []
    assert search(store, min_duration_ns=SECOND) == [seeded.chat]
    assert search(store, max_duration_ns=SECOND) == [seeded.recent]
    assert search(store, min_duration_ns=SECOND, max_duration_ns=SECOND) == []


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ((("gen_ai.request.model", "llama-3-8b"),), "chat"),
        ((("gen_ai.request.model", "gpt-4o"),), "recent"),
        ((("http.status_code", "200"),), "chat"),
        ((("sampled.ratio", "0.5"),), "chat"),
        ((("cache.hit", "true"),), "chat"),
        ((("deployment.environment", "prod"), ("gen_ai.request.model", "gpt-4o")), "recent"),
        ((("otel.status_code", "OK"),), "chat"),
        ((("otel.scope.name", "tests.jaeger"),), "both"),
        ((("span.kind", "server"),), "both"),
        ((("http.status_code", "500"),), "none"),
        ((("gen_ai.request.model", "llama-3-8b"), ("span.kind", "client")), "none"),
    ],
)
def test_search_by_tags(
    store: EmbeddedStore, seeded: Seeded, tags: tuple[tuple[str, str], ...], expected: str
) -> None:
    found = {
        "chat": [seeded.chat],
        "recent": [seeded.recent],
        "both": [seeded.recent, seeded.chat],
        "none": [],
    }
    assert search(store, tags=tags) == found[expected]


def test_search_errors_in_another_service(store: EmbeddedStore, seeded: Seeded) -> None:
    assert search(store, service="rag", tags=(("error", "true"),)) == [seeded.chat]
    assert search(store, service="rag", tags=(("otel.status_description", "index offline"),)) == [
        seeded.chat
    ]
    assert search(store, tags=(("error", "true"),)) == []


def test_services_operations_and_dependencies(store: EmbeddedStore, seeded: Seeded) -> None:
    reader = JaegerReader(store)
    assert reader.services(TENANT) == ["chat-api", "rag"]
    assert reader.operations(TENANT, "chat-api") == [("POST /chat", 2), ("old", 0)]
    assert reader.dependencies(TENANT, NOW - 60 * SECOND, NOW) == [
        {"parent": "chat-api", "child": "rag", "callCount": 1}
    ]
    assert reader.services("jaeger-nobody") == []


# The HTTP API.


@pytest.fixture
def client(store: EmbeddedStore, seeded: Seeded) -> Iterator[httpx.AsyncClient]:
    app = Starlette(routes=JaegerApi(store, TenantResolver(TENANT, False)).routes())
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_http_services_and_operations(client: httpx.AsyncClient) -> None:
    services = (await client.get("/jaeger/api/services")).json()
    assert services == {
        "data": ["chat-api", "rag"],
        "total": 2,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }
    names = (await client.get("/jaeger/api/services/chat-api/operations")).json()
    assert names["data"] == ["POST /chat", "old"]
    kinds = await client.get("/jaeger/api/operations", params={"service": "chat-api"})
    assert kinds.json()["data"] == [
        {"name": "POST /chat", "spanKind": "server"},
        {"name": "old", "spanKind": ""},
    ]
    servers = await client.get(
        "/jaeger/api/operations", params={"service": "chat-api", "spanKind": "server"}
    )
    assert servers.json()["data"] == [{"name": "POST /chat", "spanKind": "server"}]


async def test_http_search_and_trace(client: httpx.AsyncClient, seeded: Seeded) -> None:
    params = {
        "service": "chat-api",
        "tags": '{"gen_ai.request.model":"llama-3-8b"}',
        "minDuration": "1.2s",
        "start": str((NOW - 60 * SECOND) // 1000),
        "end": str(NOW // 1000),
        "limit": "20",
    }
    response = await client.get("/jaeger/api/traces", params=params)
    assert response.status_code == 200, response.text
    [trace] = response.json()["data"]
    assert trace["traceID"] == seeded.chat.hex()
    assert len(trace["spans"]) == 2
    logfmt_search = await client.get(
        "/jaeger/api/traces", params={"service": "rag", "tags": "error=true"}
    )
    assert [t["traceID"] for t in logfmt_search.json()["data"]] == [seeded.chat.hex()]
    by_id = (await client.get(f"/jaeger/api/traces/{seeded.recent.hex()}")).json()
    assert [s["spanID"] for s in by_id["data"][0]["spans"]] == ["0c" * 8]
    by_param = await client.get("/jaeger/api/traces", params={"traceID": seeded.recent.hex()})
    assert by_param.json()["data"][0]["traceID"] == seeded.recent.hex()


async def test_http_errors_in_jaeger_format(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/jaeger/api/traces/{'ee' * 16}")
    assert missing.status_code == 404
    assert missing.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found"}],
    }
    for params in (
        {},
        {"service": "chat-api", "minDuration": "2s", "maxDuration": "1s"},
        {"service": "chat-api", "start": "yesterday"},
    ):
        bad = await client.get("/jaeger/api/traces", params=params)
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["code"] == 400
    assert (await client.get("/jaeger/api/traces/xyz")).status_code == 400
    assert (await client.get("/jaeger/api/operations")).status_code == 400


async def test_http_tenants_are_apart(client: httpx.AsyncClient) -> None:
    other = await client.get("/jaeger/api/services", headers={"X-Scope-OrgID": "jaeger-other"})
    assert other.json()["data"] == []
    bad = await client.get("/jaeger/api/services", headers={"X-Scope-OrgID": "bad tenant!"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["msg"]
