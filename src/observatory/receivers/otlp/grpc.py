"""OTLP/gRPC: the trace, metrics and logs export services.

Requests arrive as raw bytes and are parsed here, so gRPC gets the same limits, errors and
counting as OTLP/HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.any_pb2 import Any
from google.protobuf.duration_pb2 import Duration
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from grpc import aio

from observatory.errors import ObservatoryError, OverloadedError
from observatory.receivers.otlp.codec import encode_response, response_for
from observatory.receivers.otlp.ingest import OtlpIngest
from observatory.signals.batch import Signal
from observatory.tenancy import TENANT_HEADER

_SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}

_STATUS_DETAILS = "grpc-status-details-bin"

Handler = Callable[[bytes, aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]


def _tenant(context: aio.ServicerContext[bytes, bytes]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key.lower() == TENANT_HEADER.lower():
            return value if isinstance(value, str) else value.decode()
    return None


def _handler(ingest: OtlpIngest, signal: Signal) -> Handler:
    async def export(body: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        async def read_body() -> bytes:
            return body

        try:
            batch = await ingest.handle(signal, "grpc", _tenant(context), "protobuf", read_body)
        except ObservatoryError as exc:
            await _abort(context, exc)
            raise AssertionError("unreachable") from exc
        return encode_response(response_for(batch, signal), "protobuf")

    return export


async def _abort(context: aio.ServicerContext[bytes, bytes], error: ObservatoryError) -> None:
    if isinstance(error, OverloadedError):
        # OTLP exporters retry RESOURCE_EXHAUSTED only when the status carries RetryInfo,
        # and wait the delay it names.
        context.set_trailing_metadata(((_STATUS_DETAILS, _retry_status(error)),))
    await context.abort(error.grpc_status, error.message)


def _retry_status(error: OverloadedError) -> bytes:
    detail = Any()
    detail.Pack(RetryInfo(retry_delay=Duration(seconds=error.retry_after_seconds)))
    status = status_pb2.Status(
        code=error.grpc_status.value[0], message=error.message, details=[detail]
    )
    return bytes(status.SerializeToString())


def generic_handlers(ingest: OtlpIngest) -> list[grpc.GenericRpcHandler]:
    handlers: list[grpc.GenericRpcHandler] = []
    for signal, service in _SERVICES.items():
        method = grpc.unary_unary_rpc_method_handler(_handler(ingest, signal))
        handlers.append(grpc.method_handlers_generic_handler(service, {"Export": method}))
    return handlers


def create_server(ingest: OtlpIngest, address: str, max_message_bytes: int) -> aio.Server:
    server = aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
        compression=None,
    )
    server.add_generic_rpc_handlers(generic_handlers(ingest))
    server.add_insecure_port(address)
    return server
