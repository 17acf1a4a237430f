"""Decoding in worker processes gives the same answers as decoding in the main process."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.otlp_payloads import log_request, span_request
from tests.server import ServerProcess, query_store

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_traces_logs_and_bad_input_through_decoder_processes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"OBSERVATORY_DECODE_WORKERS": "2"})
    server.start()
    try:
        request, ids = span_request(50, attributes={"gen_ai.usage.input_tokens": 7})
        url = f"{server.otlp_http}/v1/traces"
        assert httpx.post(url, content=request.SerializeToString(), headers=PROTOBUF).is_success
        trace = httpx.get(f"{server.api}/api/traces/{ids[0][0].hex()}").json()
        span = trace["batches"][0]["scopeSpans"][0]["spans"][0]
        assert span["attributes"] == [
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}}
        ]
        broken = httpx.post(url, content=b"\x0a\xff", headers=PROTOBUF)
        assert broken.status_code == 400
        logs = log_request(20).SerializeToString()
        assert httpx.post(f"{server.otlp_http}/v1/logs", content=logs, headers=PROTOBUF).is_success
    finally:
        assert server.stop() == 0
    assert query_store(server.data_dir, "SELECT count() AS n FROM logs") == [{"n": 20}]
    assert query_store(server.data_dir, "SELECT count() AS n FROM spans") == [{"n": 50}]
