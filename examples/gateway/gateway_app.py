"""The gateway: `POST /api/{team}/predict` is routed to that team's service over httpx.

Every request gets an `X-Correlation-ID` (the caller's, or a new one), which is echoed back,
forwarded as a header and put in W3C baggage so every service downstream can read it; the
trace id is returned in `X-Trace-Id` so a caller can look the trace up. The server span gets a
`team` attribute, and two metrics count and time the requests by team: `gateway.requests`
(a counter, with the response status) and `gateway.latency_ms` (a histogram).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import baggage, context, metrics, trace

CORRELATION_HEADER = "X-Correlation-ID"
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def create_app(teams: Mapping[str, str]) -> FastAPI:
    clients: dict[str, httpx.AsyncClient] = {}
    meter = metrics.get_meter("gateway")
    requests = meter.create_counter(
        "gateway.requests", unit="{request}", description="Requests routed, by team and status."
    )
    latency = meter.create_histogram(
        "gateway.latency_ms",
        unit="ms",
        description="Time to answer a routed request, by team.",
        explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_MS,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=60) as client:
            clients["teams"] = client
            yield

    app = FastAPI(title="gateway", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/{team}/predict")
    async def predict(team: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        correlation_id = request.headers.get(CORRELATION_HEADER) or uuid.uuid4().hex
        span = trace.get_current_span()
        # An unknown team is counted as "unknown": a label must not take any value a caller
        # sends, or a scan of made-up team names becomes a cardinality explosion.
        label = team if team in teams else "unknown"
        span.set_attributes({"team": label, "correlation_id": correlation_id})
        if team not in teams:
            response = JSONResponse({"error": f"no team {team!r}"}, status_code=404)
        else:
            response = await _forward(clients["teams"], teams[team], request, correlation_id)
        response.headers[CORRELATION_HEADER] = correlation_id
        response.headers["X-Trace-Id"] = format(span.get_span_context().trace_id, "032x")
        requests.add(1, {"team": label, "http.response.status_code": response.status_code})
        latency.record((time.perf_counter() - started) * 1000, {"team": label})
        return response

    return app


async def _forward(
    client: httpx.AsyncClient, base_url: str, request: Request, correlation_id: str
) -> JSONResponse:
    body: Any = await request.json()
    token = context.attach(baggage.set_baggage("correlation_id", correlation_id))
    try:
        upstream = await client.post(
            f"{base_url}/predict", json=body, headers={CORRELATION_HEADER: correlation_id}
        )
    except httpx.HTTPError as exc:
        trace.get_current_span().record_exception(exc)
        return JSONResponse({"error": f"team service unreachable: {exc}"}, status_code=502)
    finally:
        context.detach(token)
    return JSONResponse(upstream.json(), status_code=upstream.status_code)
