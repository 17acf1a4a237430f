"""OTLP requests from protobuf or OTLP/JSON bytes, and responses back.

OTLP/JSON differs from protobuf's JSON mapping in one way that matters: trace and span ids are
hex, not base64. They are rewritten before the standard parser sees them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from observatory.errors import BadRequestError, UnsupportedMediaTypeError
from observatory.signals.batch import Signal, SignalBatch

REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
RESPONSE_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
}
_REJECTED_FIELD = {
    Signal.TRACES: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def media_type(content_type: str | None) -> str:
    """`protobuf` or `json` from a Content-Type header; 415 for anything else."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf", "application/octet-stream"):
        return "protobuf"
    if base == JSON:
        return "json"
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Type {content_type!r}: OTLP/HTTP takes {PROTOBUF} or {JSON}"
    )


def parse_request(signal: Signal, body: bytes, encoding: str) -> Any:
    message = REQUEST_TYPES[signal]()
    if encoding == "protobuf":
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BadRequestError(f"malformed OTLP protobuf {signal.value} request: {exc}") from exc
        return message
    return _parse_json(message, signal, body)


def _parse_json(message: Message, signal: Signal, body: bytes) -> Message:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"malformed OTLP/JSON {signal.value} request: {exc}") from exc
    if not isinstance(document, dict):
        raise BadRequestError(f"OTLP/JSON {signal.value} request must be a JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadRequestError(f"invalid OTLP/JSON {signal.value} request: {exc}") from exc
    return message


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _id_to_base64(key, value) if key in _ID_FIELDS else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _id_to_base64(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise BadRequestError(f"{key} must be a hex string, not {type(value).__name__}")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except (ValueError, binascii.Error) as exc:
        raise BadRequestError(f"{key} {value[:40]!r} is not valid hex") from exc


def response_for(batch: SignalBatch | None, signal: Signal) -> Message:
    """The export response, with a partial success when items were refused."""
    response: Any = RESPONSE_TYPES[signal]()
    if batch is not None and batch.rejected:
        partial = response.partial_success
        setattr(partial, _REJECTED_FIELD[signal], batch.rejected)
        partial.error_message = batch.rejection_message
    return cast(Message, response)


def encode_response(message: Message, encoding: str) -> bytes:
    if encoding == "json":
        return json_format.MessageToJson(message, indent=None).encode()
    return bytes(message.SerializeToString())
