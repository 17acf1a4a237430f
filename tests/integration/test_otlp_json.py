"""OTLP/JSON in (hex ids, int64 as strings, enum names or numbers), OTLP/JSON and protobuf out."""

from __future__ import annotations

import gzip
import json
import time

import httpx
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from tests.server import ServerProcess

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"


# Recent: retention drops spans older than a week as soon as they land.
START = time.time_ns() // 1_000_000_000 * 1_000_000_000


def _document() -> dict[str, object]:
    span = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "parentSpanId": PARENT_ID,
        "name": "chat gpt-4o",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 1_500_000_000),
        "attributes": [
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "9007199254740993"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        ],
        "status": {"code": 2, "message": "upstream timeout"},
    }
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]
                },
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": [span]}],
            }
        ]
    }


def test_otlp_json_gzip_round_trip(server: ServerProcess) -> None:
    body = gzip.compress(json.dumps(_document()).encode())
    response = httpx.post(
        f"{server.api}/v1/traces",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")

    trace = httpx.get(f"{server.api}/api/traces/{TRACE_ID}").json()
    span = trace["batches"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_ID
    assert span["spanId"] == SPAN_ID
    assert span["parentSpanId"] == PARENT_ID
    assert span["kind"] == 2
    assert span["endTimeUnixNano"] == str(START + 1_500_000_000)
    attributes = {a["key"]: a["value"] for a in span["attributes"]}
    assert attributes["gen_ai.usage.output_tokens"] == {"intValue": "9007199254740993"}
    assert span["status"] == {"code": 2, "message": "upstream timeout"}


def test_trace_as_protobuf_when_asked(server: ServerProcess) -> None:
    httpx.post(
        f"{server.otlp_http}/v1/traces",
        content=json.dumps(_document()).encode(),
        headers={"Content-Type": "application/json"},
    ).raise_for_status()
    response = httpx.get(
        f"{server.api}/api/traces/{TRACE_ID}", headers={"Accept": "application/protobuf"}
    )
    assert response.status_code == 200
    data = TracesData.FromString(response.content)
    span = data.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_ID
    values = {a.key: a.value for a in span.attributes}
    assert values["gen_ai.usage.output_tokens"].int_value == 9007199254740993


def test_unknown_and_short_trace_ids(server: ServerProcess) -> None:
    assert httpx.get(f"{server.api}/api/traces/{'0' * 31}1").status_code == 404
    assert httpx.get(f"{server.api}/api/traces/not-hex").status_code == 400
