"""Span metrics on the real server: a trace across three HTTP services, propagated with W3C
trace context by the OpenTelemetry SDK, becomes service-graph edges queryable with PromQL."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from tests.server import ServerProcess

GENAI_CALL: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "vllm",
    "gen_ai.request.model": "llama-3-8b",
    "gen_ai.usage.input_tokens": 42,
    "gen_ai.usage.output_tokens": 7,
}


class Service:
    """A tiny HTTP service with its own TracerProvider: a server span per request and, when
    it has a downstream, a client span around the call, its context injected in the headers."""

    def __init__(
        self,
        name: str,
        otlp_http: str,
        downstream: str | None = None,
        call_attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": name}))
        exporter = OTLPSpanExporter(endpoint=f"{otlp_http}/v1/traces")
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("tests.span_metrics")
        self.downstream = downstream
        self.call_attributes = call_attributes or {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.provider.shutdown()

    def handle(self, headers: dict[str, str], path: str) -> bytes:
        context = extract(headers)
        with self.tracer.start_as_current_span(f"GET {path}", context, SpanKind.SERVER):
            if self.downstream is None:
                return b"done"
            return self._call(self.downstream)

    def _call(self, url: str) -> bytes:
        attributes = self.call_attributes
        with self.tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=attributes):
            headers: dict[str, str] = {}
            inject(headers)
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as reply:
                body: bytes = reply.read()
                return body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {key.lower(): value for key, value in self.headers.items()}
                body = service.handle(headers, self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # A short interval when the wiring reads it from settings; the test waits longer anyway.
    process = ServerProcess(
        tmp_path / "data", env={"OBSERVATORY_SPAN_METRICS_INTERVAL_SECONDS": "1"}
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def services(server: ServerProcess) -> Iterator[dict[str, Service]]:
    model = Service("model-server", server.otlp_http)
    team = Service("team-api", server.otlp_http, model.url, GENAI_CALL)
    gateway = Service("gateway", server.otlp_http, team.url)
    try:
        yield {"gateway": gateway, "team-api": team, "model-server": model}
    finally:
        for service in (gateway, team, model):
            service.close()


def _query(server: ServerProcess, query: str) -> list[dict[str, object]]:
    response = httpx.get(f"{server.api}/api/v1/query", params={"query": query})
    assert response.status_code == 200, response.text
    result: list[dict[str, object]] = response.json()["data"]["result"]
    return result


def _edges(server: ServerProcess) -> dict[tuple[str, str, str], str]:
    result = _query(server, "traces_service_graph_request_total")
    edges: dict[tuple[str, str, str], str] = {}
    for row in result:
        labels = row["metric"]
        assert isinstance(labels, dict)
        edge = (labels["client"], labels["server"], labels.get("connection_type", ""))
        edges[edge] = row["value"][1]  # type: ignore[index]
    return edges


def _wait_for_edges(
    server: ServerProcess, wanted: dict[tuple[str, str, str], str], timeout: float = 60.0
) -> None:
    """Wait until every wanted edge has its value: the generator writes every interval."""
    deadline = time.monotonic() + timeout
    edges: dict[tuple[str, str, str], str] = {}
    while time.monotonic() < deadline:
        edges = _edges(server)
        if all(edges.get(edge) == value for edge, value in wanted.items()):
            return
        time.sleep(0.5)
    raise AssertionError(f"wanted edges {wanted}, found {edges}:\n{server.log()}")


def test_a_trace_across_three_services_becomes_service_graph_edges(
    server: ServerProcess, services: dict[str, Service]
) -> None:
    for _ in range(2):
        assert httpx.get(services["gateway"].url).text == "done"
    _wait_for_edges(
        server,
        {
            ("gateway", "team-api", ""): "2",
            ("team-api", "model-server", ""): "2",
            ("user", "gateway", "virtual_node"): "2",
        },
    )

    calls = _query(server, 'traces_spanmetrics_calls_total{service="team-api"}')
    kinds = {row["metric"]["span_kind"] for row in calls}  # type: ignore[index]
    assert kinds == {"SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"}

    tokens = _query(server, 'gen_ai_client_token_usage_sum{source="spans"}')
    by_type = {row["metric"]["gen_ai_token_type"]: row["value"][1] for row in tokens}  # type: ignore[index]
    assert by_type == {"input": "84", "output": "14"}
