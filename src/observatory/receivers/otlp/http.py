"""OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` (also Loki's `/otlp/v1/logs`),
protobuf or JSON, gzip or not."""

from __future__ import annotations

from google.rpc import status_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.errors import ObservatoryError
from observatory.receivers.body import decompress, read_capped
from observatory.receivers.otlp.codec import (
    JSON,
    PROTOBUF,
    encode_response,
    media_type,
    response_for,
)
from observatory.receivers.otlp.ingest import OtlpIngest
from observatory.settings import Settings
from observatory.signals.batch import Signal
from observatory.web import retry_headers, tenant_header

_CONTENT_TYPES = {"protobuf": PROTOBUF, "json": JSON}


class OtlpHttpReceiver:
    def __init__(self, ingest: OtlpIngest, settings: Settings) -> None:
        self.ingest = ingest
        self.max_request_bytes: int = settings.max_request_bytes
        self.max_decompressed_bytes: int = settings.max_decompressed_bytes

    def routes(self) -> list[Route]:
        routes = [
            Route(f"/v1/{signal.value}", self._endpoint(signal), methods=["POST"])
            for signal in Signal
        ]
        # Loki's OTLP endpoint, for senders configured with a Loki URL.
        routes.append(Route("/otlp/v1/logs", self._endpoint(Signal.LOGS), methods=["POST"]))
        return routes

    def _endpoint(self, signal: Signal):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            return await self.export(signal, request)

        return endpoint

    async def export(self, signal: Signal, request: Request) -> Response:
        # The body's encoding decides the error's encoding too, so find it first.
        try:
            encoding = media_type(request.headers.get("content-type"))
        except ObservatoryError as exc:
            self.ingest.metrics.refused_requests.labels(signal.value, exc.reason).inc()
            return _status_response(exc, "json")

        async def read_body() -> bytes:
            raw = await read_capped(
                request.stream(), request.headers.get("content-length"), self.max_request_bytes
            )
            return decompress(
                raw, request.headers.get("content-encoding"), self.max_decompressed_bytes
            )

        try:
            batch = await self.ingest.handle(
                signal, "http", tenant_header(request), encoding, read_body
            )
        except ObservatoryError as exc:
            return _status_response(exc, encoding)
        body = encode_response(response_for(batch, signal), encoding)
        return Response(body, media_type=_CONTENT_TYPES[encoding])


def _status_response(error: ObservatoryError, encoding: str) -> Response:
    """OTLP/HTTP errors carry a `google.rpc.Status` in the request's encoding."""
    status = status_pb2.Status(code=error.grpc_status.value[0], message=error.message)
    return Response(
        encode_response(status, encoding),
        status_code=error.http_status,
        media_type=_CONTENT_TYPES[encoding],
        headers=retry_headers(error),
    )
