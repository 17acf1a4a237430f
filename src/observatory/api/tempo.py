"""Tempo's trace-by-id API: `GET /api/traces/<id>` and `GET /api/v2/traces/<id>`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from observatory.api.otlp_json import base64_id, hex_id, resource_spans
from observatory.errors import BadRequestError, NotFoundError, ObservatoryError
from observatory.query.traces import TraceReader
from observatory.tenancy import TenantResolver
from observatory.web import error_response, tenant_header

PROTOBUF = "application/protobuf"


def parse_trace_id(raw: str) -> bytes:
    """A trace id in hex; shorter ids are left-padded with zeros, as Tempo accepts them."""
    text = raw.strip().lower()
    if not text or len(text) > 32:
        raise BadRequestError(f"invalid trace id {raw[:64]!r}: expected up to 32 hex digits")
    try:
        return bytes.fromhex(text.rjust(32, "0"))
    except ValueError as exc:
        raise BadRequestError(f"invalid trace id {raw[:64]!r}: not hex") from exc


def _wants_protobuf(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return PROTOBUF in accept or "application/x-protobuf" in accept


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    """One embedded-message field, for wrapping a Trace in a TraceByIDResponse."""
    tag = (field_number << 3) | 2
    size = len(payload)
    varint = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        varint.append(byte | (0x80 if size else 0))
        if not size:
            break
    return bytes([tag]) + bytes(varint) + payload


class TempoApi:
    def __init__(self, reader: TraceReader, tenants: TenantResolver) -> None:
        self.reader = reader
        self.tenants = tenants

    def routes(self) -> list[Route]:
        return [
            Route("/api/traces/{trace_id}", self.trace_v1, methods=["GET"]),
            Route("/api/v2/traces/{trace_id}", self.trace_v2, methods=["GET"]),
        ]

    async def _rows(self, request: Request) -> list[dict[str, Any]]:
        tenant = self.tenants.resolve(tenant_header(request))
        trace_id = parse_trace_id(request.path_params["trace_id"])
        table = await asyncio.to_thread(self.reader.trace, tenant, trace_id)
        if table.num_rows == 0:
            raise NotFoundError(f"trace {trace_id.hex()} not found")
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    async def trace_v1(self, request: Request) -> Response:
        try:
            rows = await self._rows(request)
        except ObservatoryError as exc:
            return error_response(exc)
        if _wants_protobuf(request):
            return Response(_protobuf(rows), media_type=PROTOBUF)
        return JSONResponse({"batches": resource_spans(rows, hex_id)})

    async def trace_v2(self, request: Request) -> Response:
        try:
            rows = await self._rows(request)
        except ObservatoryError as exc:
            return error_response(exc)
        if _wants_protobuf(request):
            return Response(_length_delimited(1, _protobuf(rows)), media_type=PROTOBUF)
        return JSONResponse(
            {"trace": {"resourceSpans": resource_spans(rows, hex_id)}, "status": "COMPLETE"}
        )


def _protobuf(rows: list[dict[str, Any]]) -> bytes:
    # Tempo's Trace message shares field 1 (resource spans) with OTLP's TracesData.
    document = {"resourceSpans": resource_spans(rows, base64_id)}
    message = json_format.ParseDict(json.loads(json.dumps(document)), TracesData())
    return bytes(message.SerializeToString())
