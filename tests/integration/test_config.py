"""Settings from a YAML file change what the running server does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.otlp_payloads import span_request
from tests.server import ServerProcess

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_yaml_config_applies_resource_actions(tmp_path: Path) -> None:
    config = tmp_path / "observatory.yaml"
    config.write_text(
        "resource_processor:\n"
        "  - {action: upsert, key: deployment.environment.name, value: prod}\n"
        "  - {action: insert, key: service.name, value: ignored}\n"
        "  - {action: delete, key: host.name}\n"
    )
    server = ServerProcess(tmp_path / "data", args=["--config", str(config)])
    server.start()
    try:
        request, ids = span_request(1, service="rag-api")
        attributes = request.resource_spans[0].resource.attributes
        attributes.add(key="host.name").value.string_value = "node-7"
        url = f"{server.otlp_http}/v1/traces"
        assert httpx.post(url, content=request.SerializeToString(), headers=PROTOBUF).is_success
        trace = httpx.get(f"{server.api}/api/traces/{ids[0][0].hex()}").json()
        resource = trace["batches"][0]["resource"]["attributes"]
        assert {a["key"]: a["value"]["stringValue"] for a in resource} == {
            "deployment.environment.name": "prod",
            "service.name": "rag-api",
        }
    finally:
        server.stop()


def test_bad_config_stops_with_a_message_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "observatory.yaml"
    config.write_text("resource_processor:\n  - {action: rename, key: a}\n")
    result = subprocess.run(
        [sys.executable, "-m", "observatory.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "resource_processor[0]" in result.stderr


def test_trace_v2_protobuf(server: ServerProcess) -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    request, ids = span_request(2)
    url = f"{server.otlp_http}/v1/traces"
    assert httpx.post(url, content=request.SerializeToString(), headers=PROTOBUF).is_success
    response = httpx.get(
        f"{server.api}/api/v2/traces/{ids[1][0].hex()}", headers={"Accept": "application/protobuf"}
    )
    assert response.status_code == 200
    # TraceByIDResponse: field 1 is the trace, which shares its layout with TracesData.
    assert response.content[0] == 0x0A
    trace_bytes = response.content[1:]
    length, shift, offset = 0, 0, 0
    while True:
        byte = trace_bytes[offset]
        length |= (byte & 0x7F) << shift
        offset += 1
        shift += 7
        if not byte & 0x80:
            break
    trace = TracesData.FromString(trace_bytes[offset : offset + length])
    assert trace.resource_spans[0].scope_spans[0].spans[0].span_id == ids[1][1]
