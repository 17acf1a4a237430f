"""Bad input gets a clear 4xx, is counted, and never hurts the server."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import psutil
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.integration.otlp_payloads import span_request
from tests.server import ServerProcess

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _post(
    server: ServerProcess, body: bytes, headers: dict[str, str], signal: str = "traces"
) -> httpx.Response:
    return httpx.post(f"{server.otlp_http}/v1/{signal}", content=body, headers=headers, timeout=30)


def _message(response: httpx.Response) -> str:
    """The `google.rpc.Status` message of an OTLP/HTTP error, in the request's encoding."""
    if response.headers["content-type"].startswith("application/json"):
        return str(response.json()["message"])
    return str(Status.FromString(response.content).message)


@pytest.fixture
def small_server(tmp_path: Path) -> ServerProcess:
    server = ServerProcess(
        tmp_path / "data",
        env={
            "OBSERVATORY_MAX_DECOMPRESSED_BYTES": str(1024 * 1024),
            "OBSERVATORY_MAX_REQUEST_BYTES": str(512 * 1024),
            "OBSERVATORY_MAX_ATTRIBUTE_VALUE_LENGTH": "16",
        },
    )
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


def test_gzip_bomb_gets_413_and_memory_stays_bounded(small_server: ServerProcess) -> None:
    assert small_server.process is not None
    process = psutil.Process(small_server.process.pid)
    before = process.memory_info().rss
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 512 * 1024
    for _ in range(3):
        response = _post(small_server, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status_code == 413
    assert process.memory_info().rss - before < 64 * 1024 * 1024
    metrics = httpx.get(f"{small_server.api}/metrics").text
    assert 'observatory_refused_requests_total{reason="too_large",signal="traces"} 3.0' in metrics


def test_body_over_the_raw_limit_gets_413(small_server: ServerProcess) -> None:
    response = _post(small_server, b"x" * (600 * 1024), PROTOBUF)
    assert response.status_code == 413
    assert "max_request_bytes" in _message(response)


def test_truncated_protobuf_gets_400_naming_the_problem(small_server: ServerProcess) -> None:
    request, _ = span_request(5)
    body = request.SerializeToString()
    response = _post(small_server, body[: len(body) - 7], PROTOBUF)
    assert response.status_code == 400
    assert "malformed OTLP protobuf traces request" in _message(response)


def test_broken_json_gets_400(small_server: ServerProcess) -> None:
    response = _post(small_server, b'{"resourceSpans": [', {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "malformed OTLP/JSON" in _message(response)
    bad_id = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]})
    response = _post(small_server, bad_id.encode(), {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "traceId" in _message(response)


def test_unknown_content_type_gets_415(small_server: ServerProcess) -> None:
    response = _post(small_server, b"hello", {"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_long_attribute_is_truncated_by_default(small_server: ServerProcess) -> None:
    request, ids = span_request(1, attributes={"gen_ai.prompt": "p" * 100})
    assert _post(small_server, request.SerializeToString(), PROTOBUF).status_code == 200
    trace = httpx.get(f"{small_server.api}/api/traces/{ids[0][0].hex()}").json()
    span = trace["batches"][0]["scopeSpans"][0]["spans"][0]
    assert span["attributes"] == [{"key": "gen_ai.prompt", "value": {"stringValue": "p" * 16}}]


def test_long_attribute_is_rejected_with_partial_success_when_configured(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        env={
            "OBSERVATORY_MAX_ATTRIBUTE_VALUE_LENGTH": "16",
            "OBSERVATORY_ATTRIBUTE_LIMIT_ACTION": "reject",
        },
    )
    server.start()
    try:
        long_request, long_ids = span_request(2, attributes={"gen_ai.prompt": "p" * 100})
        ok_request, ok_ids = span_request(3)
        long_request.resource_spans.extend(ok_request.resource_spans)
        response = _post(server, long_request.SerializeToString(), PROTOBUF)
        assert response.status_code == 200
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans == 2
        assert "attribute limits" in answer.partial_success.error_message
        api = server.api
        assert httpx.get(f"{api}/api/traces/{long_ids[0][0].hex()}").status_code == 404
        assert httpx.get(f"{api}/api/traces/{ok_ids[0][0].hex()}").status_code == 200
    finally:
        server.stop()


def test_tenant_b_cannot_read_tenant_a_trace(small_server: ServerProcess) -> None:
    request, ids = span_request(1)
    headers = {**PROTOBUF, "X-Scope-OrgID": "team-a"}
    assert _post(small_server, request.SerializeToString(), headers).status_code == 200
    url = f"{small_server.api}/api/traces/{ids[0][0].hex()}"
    assert httpx.get(url, headers={"X-Scope-OrgID": "team-a"}).status_code == 200
    assert httpx.get(url, headers={"X-Scope-OrgID": "team-b"}).status_code == 404
    assert httpx.get(url).status_code == 404


def test_server_keeps_serving_after_garbage(small_server: ServerProcess) -> None:
    for body in (b"", b"\xff" * 100, b"\x0a\xff\xff\xff\xff\x0f", b"{}"):
        response = _post(small_server, body, PROTOBUF)
        assert response.status_code in (200, 400)
    assert httpx.get(f"{small_server.api}/ready").status_code == 200
