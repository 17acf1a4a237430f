"""observatory_sdk.instrument: the app, the HTTP clients, and what shutdown undoes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import observatory_sdk
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.sdk.conftest import Sinks


class _Headers(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Headers.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    _Headers.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Headers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item}

    return app


def test_fastapi_app_gets_server_spans_and_flushes_on_app_shutdown(sinks: Sinks) -> None:
    app = _fastapi_app()
    sinks.setup(app=app)
    with TestClient(app) as client:
        assert client.get("/items/7").status_code == 200
    # Leaving the client ran the app's shutdown, which flushed: no force_flush here.
    spans = sinks.spans.get_finished_spans()
    assert [(s.name, s.kind) for s in spans] == [("GET /items/{item}", SpanKind.SERVER)]
    assert spans[0].attributes is not None
    assert spans[0].attributes["http.route"] == "/items/{item}"


def test_an_app_given_to_a_later_call_is_instrumented_too(sinks: Sinks) -> None:
    first = sinks.setup()
    app = _fastapi_app()
    assert sinks.setup(app=app) is first
    assert sinks.setup(app=app) is first  # twice: still one server span per request
    with TestClient(app) as client:
        client.get("/items/1")
    assert len(sinks.finished_spans()) == 1


def test_starlette_app_is_instrumented(sinks: Sinks) -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello", hello)])
    sinks.setup(app=app)
    with TestClient(app) as client:
        client.get("/hello")
    servers = [s for s in sinks.finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /hello"]


def test_httpx_and_requests_send_traceparent_until_shutdown(sinks: Sinks, upstream: str) -> None:
    telemetry = sinks.setup()
    with telemetry.tracer.start_as_current_span("caller") as caller:
        httpx.get(upstream)
        requests.get(upstream, timeout=5)
    trace_id = format(caller.get_span_context().trace_id, "032x")
    assert [h["traceparent"].split("-")[1] for h in _Headers.seen] == [trace_id, trace_id]
    client_spans = [s for s in sinks.finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(client_spans) == 2
    assert all(
        s.parent is not None and s.parent.span_id == caller.get_span_context().span_id
        for s in client_spans
    )

    observatory_sdk.shutdown()
    httpx.get(upstream)
    requests.get(upstream, timeout=5)
    assert "traceparent" not in _Headers.seen[2]
    assert "traceparent" not in _Headers.seen[3]


def test_clients_can_be_left_alone(sinks: Sinks, upstream: str) -> None:
    telemetry = sinks.setup(instrument_httpx=False, instrument_requests=False)
    with telemetry.tracer.start_as_current_span("caller"):
        httpx.get(upstream)
    assert "traceparent" not in _Headers.seen[0]


def test_an_instrumentor_the_user_turned_on_stays_on(sinks: Sinks, upstream: str) -> None:
    RequestsInstrumentor().instrument()
    try:
        sinks.setup()
        observatory_sdk.shutdown()
        assert RequestsInstrumentor().is_instrumented_by_opentelemetry
    finally:
        RequestsInstrumentor().uninstrument()
