"""`GET /ready` and `GET /metrics` (Observatory's own metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from observatory.self_metrics import SelfMetrics


class HealthApi:
    def __init__(self, metrics: SelfMetrics, is_ready: Callable[[], bool]) -> None:
        self.metrics = metrics
        self.is_ready = is_ready

    def routes(self) -> list[Route]:
        return [
            Route("/ready", self.ready, methods=["GET"]),
            Route("/metrics", self.self_metrics, methods=["GET"]),
        ]

    async def ready(self, request: Request) -> Response:
        if self.is_ready():
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready\n", status_code=503)

    async def self_metrics(self, request: Request) -> Response:
        body = await asyncio.to_thread(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
