"""Refusals before any work: memory limit, missing tenant; and tenants over gRPC with gzip."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.integration.otlp_payloads import span_request
from tests.server import ServerProcess

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _server(tmp_path: Path, **env: str) -> ServerProcess:
    server = ServerProcess(
        tmp_path / "data", env={f"OBSERVATORY_{k.upper()}": v for k, v in env.items()}
    )
    server.start()
    return server


def test_over_memory_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    # 64 MiB is below what the process needs just to run, so every ingest is refused.
    server = _server(tmp_path, memory_limit_bytes=str(64 * 1024 * 1024))
    try:
        request, _ = span_request(3)
        response = httpx.post(
            f"{server.otlp_http}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        channel = grpc.insecure_channel(server.grpc_endpoint)
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=ExportTraceServiceRequest.SerializeToString,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as refused:
            export(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "memory_limit_bytes" in (refused.value.details() or "")
        trailers = dict(refused.value.trailing_metadata() or ())
        status = Status.FromString(trailers["grpc-status-details-bin"])
        retry = RetryInfo()
        assert status.details[0].Unpack(retry)
        assert retry.retry_delay.seconds == 5
        channel.close()
        assert httpx.get(f"{server.api}/ready").status_code == 200
        metrics = httpx.get(f"{server.api}/metrics").text
        assert (
            'observatory_refused_requests_total{reason="memory_limit",signal="traces"} 2.0'
            in metrics
        )
    finally:
        server.stop()


def test_required_tenant_is_enforced(tmp_path: Path) -> None:
    server = _server(tmp_path, require_tenant="true")
    try:
        request, ids = span_request(1)
        url, body = f"{server.otlp_http}/v1/traces", request.SerializeToString()
        assert httpx.post(url, content=body, headers=PROTOBUF).status_code == 401
        headers = {**PROTOBUF, "X-Scope-OrgID": "bad tenant/../"}
        assert httpx.post(url, content=body, headers=headers).status_code == 400
        headers = {**PROTOBUF, "X-Scope-OrgID": "team-a"}
        assert httpx.post(url, content=body, headers=headers).status_code == 200
        trace_url = f"{server.api}/api/traces/{ids[0][0].hex()}"
        assert httpx.get(trace_url).status_code == 401
        assert httpx.get(trace_url, headers={"X-Scope-OrgID": "team-a"}).status_code == 200
    finally:
        server.stop()


def test_grpc_tenant_metadata_and_gzip(server: ServerProcess) -> None:
    exporter = OTLPSpanExporter(
        endpoint=server.grpc_endpoint,
        insecure=True,
        headers={"x-scope-orgid": "team-grpc"},
        compression=grpc.Compression.Gzip,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "gz"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("compressed") as span:
        pass
    provider.shutdown()
    trace_url = f"{server.api}/api/traces/{format(span.get_span_context().trace_id, '032x')}"
    assert httpx.get(trace_url, headers={"X-Scope-OrgID": "team-grpc"}).status_code == 200
    assert httpx.get(trace_url).status_code == 404
