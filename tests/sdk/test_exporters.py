"""observatory_sdk.exporters: OTLP/HTTP posts each signal to /v1/<signal> under the endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from observatory_sdk import exporters
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.sdk.helpers import resolve_config


class _Recorder(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Recorder.paths = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_exporter_posts_spans_to_v1_traces(collector: str) -> None:
    config = resolve_config(endpoint=collector, protocol="http/protobuf")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporters.span_exporter(config)))
    provider.get_tracer("t").start_span("one").end()
    provider.shutdown()
    assert _Recorder.paths == ["/v1/traces"]


def test_grpc_is_the_default_for_every_signal() -> None:
    config = resolve_config(endpoint="127.0.0.1:4317")
    span_exporter = exporters.span_exporter(config)
    assert isinstance(span_exporter, GrpcSpans)
    assert type(exporters.metric_exporter(config)).__module__.startswith(
        "opentelemetry.exporter.otlp.proto.grpc"
    )
    assert type(exporters.log_exporter(config)).__module__.startswith(
        "opentelemetry.exporter.otlp.proto.grpc"
    )
    span_exporter.shutdown()
