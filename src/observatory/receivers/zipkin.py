"""Zipkin v2 JSON ingest: `POST /api/v2/spans`, as Zipkin senders (Brave, zipkin-js, the
OpenTelemetry Zipkin exporter) post it.

Spans become OTLP-shaped rows: the local endpoint's service name is the resource's
`service.name`, tags are string attributes, annotations are events. The `error` tag (or
`otel.status_code`) becomes the span status, and `otel.scope.*` / `otel.library.*` tags the
instrumentation scope, so they are not kept as attributes too. The request is answered 202
only once its spans are committed; a malformed request is refused whole with a 400 naming
the span and field, while a span that cannot be stored (no time, over a `reject` limit) is
counted as refused and the rest are kept.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.errors import BadRequestError, ObservatoryError, UnsupportedMediaTypeError
from observatory.pipeline.pipeline import Pipeline
from observatory.pipeline.processors import KeyValues
from observatory.receivers.body import decompress, read_capped
from observatory.receivers.otlp.common import (
    REFUSED_RESOURCE,
    DecodeContext,
    batch_of,
    service_name,
)
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.columns import ScopeContext
from observatory.signals.spans import SPAN_ID_BYTES, TRACE_ID_BYTES, SpanColumns, SpanRow, event_row
from observatory.tenancy import TenantResolver
from observatory.web import plain_error_response, tenant_header

PROTOCOL = "zipkin"
KINDS = {"SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
# Kinds whose remote endpoint is the server (or broker) this span called.
_CALLER_KINDS = (3, 4)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_MAX_MICROS = (2**63 - 1) // 1000
STATUS_TAGS = ("error", "otel.status_code", "otel.status_description")
SCOPE_TAGS = ("otel.scope.name", "otel.scope.version", "otel.library.name", "otel.library.version")
_CONSUMED_TAGS = frozenset(STATUS_TAGS + SCOPE_TAGS)
_NO_TIME = "span without a timestamp or annotations to take its start time from"
_REFUSED_SPAN = "span over attribute limits"
_EMPTY_ATTRIBUTES = "[]"


@dataclass(frozen=True)
class Endpoint:
    service: str = ""
    address: str = ""
    port: int | None = None


@dataclass
class ZipkinSpan:
    """One Zipkin v2 span, checked; times in Unix microseconds."""

    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    name: str
    kind: int
    timestamp: int | None
    duration: int
    local: Endpoint
    remote: Endpoint | None
    annotations: list[tuple[int, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class ZipkinReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        tenants: TenantResolver,
        rules: DecodeRules,
        metrics: SelfMetrics,
        max_request_bytes: int,
        max_decompressed_bytes: int,
    ) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.rules = rules
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.max_decompressed_bytes = max_decompressed_bytes

    def routes(self) -> list[Route]:
        return [Route("/api/v2/spans", self.spans, methods=["POST"])]

    async def spans(self, request: Request) -> Response:
        try:
            await self._ingest(request)
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(Signal.TRACES.value, exc.reason).inc()
            return plain_error_response(exc)
        return Response(status_code=202)

    async def _ingest(self, request: Request) -> None:
        tenant = self.tenants.resolve(tenant_header(request))
        check_content_type(request.headers.get("content-type"))
        # Refuse before reading and decoding: under overload that work is what hurts.
        self.pipeline.admit(Signal.TRACES)
        raw = await read_capped(
            request.stream(), request.headers.get("content-length"), self.max_request_bytes
        )
        body = decompress(raw, request.headers.get("content-encoding"), self.max_decompressed_bytes)
        ctx = self.rules.context(tenant)
        # Decoding a large request takes a while; off the event loop, other requests go on.
        batch = await asyncio.to_thread(decode_zipkin, body, ctx)
        self._count(batch, ctx.dropped_attributes)
        await self.pipeline.write(batch)

    def _count(self, batch: SignalBatch, dropped_attributes: int) -> None:
        signal = Signal.TRACES.value
        self.metrics.received.labels(signal, PROTOCOL).inc(batch.items + batch.rejected)
        if batch.rejected:
            self.metrics.refused.labels(signal, "invalid_item").inc(batch.rejected)
        if dropped_attributes:
            self.metrics.dropped.labels(signal, "attribute_limits").inc(dropped_attributes)


def check_content_type(content_type: str | None) -> None:
    """JSON only; Zipkin's protobuf encoding (application/x-protobuf) gets 415."""
    media = (content_type or "application/json").partition(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaTypeError(
            f"unsupported Content-Type {content_type!r}: send Zipkin v2 spans as application/json"
        )


def decode_zipkin(body: bytes, ctx: DecodeContext) -> SignalBatch:
    """A request body's spans as a span batch; 400 if any span is malformed."""
    return decode_spans(parse_spans(body), ctx)


# Reading and checking the JSON.


def parse_spans(body: bytes) -> list[ZipkinSpan]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, list):
        raise BadRequestError("body must be a JSON array of Zipkin v2 spans")
    return [parse_span(index, raw) for index, raw in enumerate(document)]


class _Fields:
    """A JSON object's fields, read with errors naming the span and the field."""

    def __init__(self, where: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise BadRequestError(f"{where}: expected a JSON object")
        self.where = where
        self.raw: dict[str, Any] = raw

    def bad(self, name: str, expected: str) -> BadRequestError:
        value = orjson.dumps(self.raw.get(name)).decode()[:64]
        return BadRequestError(f"{self.where}: field {name}: expected {expected}, got {value}")

    def string(self, name: str) -> str:
        value = self.raw.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.bad(name, "a string")
        return value

    def hex_id(self, name: str, width: int, required: bool) -> bytes:
        """An id of up to `width` bytes in hex, left-padded (a 64-bit trace id to 128 bits)."""
        value = self.string(name)
        if not value and not required:
            return bytes(width)
        if not _HEX.match(value) or len(value) > 2 * width:
            raise self.bad(name, f"up to {2 * width} hex digits")
        found = bytes.fromhex(value.rjust(2 * width, "0"))
        if required and not any(found):
            raise self.bad(name, "an id that is not all zeros")
        return found

    def micros(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.bad(name, "a number of microseconds")
        if not math.isfinite(value) or not 0 <= value <= _MAX_MICROS:
            raise self.bad(name, "a number of microseconds")
        return int(value)


def parse_span(index: int, raw: Any) -> ZipkinSpan:
    fields = _Fields(f"span {index}", raw)
    kind = fields.string("kind").upper()
    if kind and kind not in KINDS:
        raise fields.bad("kind", "CLIENT, SERVER, PRODUCER or CONSUMER")
    return ZipkinSpan(
        trace_id=fields.hex_id("traceId", TRACE_ID_BYTES, required=True),
        span_id=fields.hex_id("id", SPAN_ID_BYTES, required=True),
        parent_id=fields.hex_id("parentId", SPAN_ID_BYTES, required=False),
        name=fields.string("name"),
        kind=KINDS.get(kind, 0),
        timestamp=fields.micros("timestamp"),
        duration=fields.micros("duration") or 0,
        local=parse_endpoint(fields, "localEndpoint") or Endpoint(),
        remote=parse_endpoint(fields, "remoteEndpoint"),
        annotations=parse_annotations(fields),
        tags=parse_tags(fields),
    )


def parse_endpoint(span: _Fields, name: str) -> Endpoint | None:
    raw = span.raw.get(name)
    if raw is None:
        return None
    fields = _Fields(f"{span.where}: field {name}", raw)
    port = fields.raw.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise fields.bad("port", "an integer")
    address = fields.string("ipv4") or fields.string("ipv6")
    return Endpoint(fields.string("serviceName"), address, port or None)


def parse_annotations(span: _Fields) -> list[tuple[int, str]]:
    raw = span.raw.get("annotations") or []
    if not isinstance(raw, list):
        raise span.bad("annotations", "an array")
    found: list[tuple[int, str]] = []
    for position, item in enumerate(raw):
        fields = _Fields(f"{span.where}: field annotations[{position}]", item)
        timestamp = fields.micros("timestamp")
        if timestamp is None:
            raise fields.bad("timestamp", "a number of microseconds")
        found.append((timestamp, fields.string("value")))
    return found


def parse_tags(span: _Fields) -> dict[str, str]:
    raw = span.raw.get("tags") or {}
    fields = _Fields(f"{span.where}: field tags", raw)
    found: dict[str, str] = {}
    for key, value in fields.raw.items():
        if isinstance(value, str):
            found[key] = value
        elif isinstance(value, bool | int | float):
            # Zipkin tags are strings; a sender writing a number or boolean means its text.
            found[key] = orjson.dumps(value).decode()
        else:
            raise fields.bad(key, "a string")
    return found


# Building span rows.


def decode_spans(spans: list[ZipkinSpan], ctx: DecodeContext) -> SignalBatch:
    columns = SpanColumns(ctx.tenant)
    scopes: dict[tuple[str, str, str], int | None] = {}
    for span in spans:
        _append(columns, scopes, span, ctx)
    return batch_of(Signal.TRACES, "spans", columns, ctx)


def _append(
    columns: SpanColumns,
    scopes: dict[tuple[str, str, str], int | None],
    span: ZipkinSpan,
    ctx: DecodeContext,
) -> None:
    start = start_micros(span)
    if start is None:
        ctx.reject(1, _NO_TIME)
        return
    scope = _scope_index(columns, scopes, span, ctx)
    if scope is None:
        ctx.reject(1, REFUSED_RESOURCE)
        return
    limited = limited_attributes(ctx, span_attributes(span))
    if limited is None:
        ctx.reject(1, _REFUSED_SPAN)
        return
    attributes, dropped = limited
    columns.append(scope, attributes, span_row(span, start, dropped))


def start_micros(span: ZipkinSpan) -> int | None:
    """The span's timestamp; without one (an incomplete span), its first annotation's."""
    if span.timestamp is not None:
        return span.timestamp
    return min((t for t, _ in span.annotations), default=None)


def span_row(span: ZipkinSpan, start: int, dropped_attributes: int) -> SpanRow:
    code, message = status(span.tags)
    return SpanRow(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_id,
        trace_state="",
        flags=0,
        name=span.name,
        kind=span.kind,
        start_time=start * 1000,
        duration_ns=span.duration * 1000,
        status_code=code,
        status_message=message,
        dropped_attributes_count=dropped_attributes,
        events=[event_row(t * 1000, value, _EMPTY_ATTRIBUTES, 0) for t, value in span.annotations],
        dropped_events_count=0,
        links=[],
        dropped_links_count=0,
    )


def status(span_tags: dict[str, str]) -> tuple[int, str]:
    """(OTLP status code, message): the `error` tag's value is the message, unless it only
    says `true`; the OpenTelemetry exporter's `otel.status_code` is read too."""
    if "error" in span_tags:
        message = span_tags["error"]
        return 2, "" if message.lower() in ("", "true") else message
    code = span_tags.get("otel.status_code", "").upper()
    if code == "ERROR":
        return 2, span_tags.get("otel.status_description", "")
    return (1, "") if code == "OK" else (0, "")


def span_attributes(span: ZipkinSpan) -> KeyValues:
    """The tags, then what the endpoints say, unless a tag of that name says it already."""
    attributes: KeyValues = [(k, v) for k, v in span.tags.items() if k not in _CONSUMED_TAGS]
    attributes += [(k, v) for k, v in endpoint_attributes(span) if k not in span.tags]
    return attributes


def endpoint_attributes(span: ZipkinSpan) -> KeyValues:
    found: KeyValues = []
    if span.local.address:
        found.append(("network.local.address", span.local.address))
    if span.local.port:
        found.append(("network.local.port", span.local.port))
    remote = span.remote or Endpoint()
    if remote.service:
        found.append(("peer.service", remote.service))
    if remote.address:
        found.append(("network.peer.address", remote.address))
    if remote.port:
        found.append(("network.peer.port", remote.port))
    if span.kind in _CALLER_KINDS and remote.address:
        found.append(("server.address", remote.address))
        if remote.port:
            found.append(("server.port", remote.port))
    return found


def scope_of(span_tags: dict[str, str]) -> tuple[str, str]:
    name = span_tags.get("otel.scope.name") or span_tags.get("otel.library.name", "")
    version = span_tags.get("otel.scope.version") or span_tags.get("otel.library.version", "")
    return name, version


def _scope_index(
    columns: SpanColumns,
    scopes: dict[tuple[str, str, str], int | None],
    span: ZipkinSpan,
    ctx: DecodeContext,
) -> int | None:
    """Spans of one local service and scope share a resource and scope; None if refused."""
    key = (span.local.service, *scope_of(span.tags))
    if key not in scopes:
        resource = resource_attributes(ctx, key[0])
        scopes[key] = (
            None
            if resource is None
            else columns.add_scope(ScopeContext(resource[1], resource[0], key[1], key[2]))
        )
    return scopes[key]


def resource_attributes(ctx: DecodeContext, service: str) -> tuple[KeyValues, str] | None:
    """The resource of a local service after the resource processor and attribute limits,
    with its service name; None when a `reject` limit refuses it (as for OTLP resources)."""
    attributes = ctx.resources.apply([("service.name", service)] if service else [])
    limited = limited_attributes(ctx, attributes)
    if limited is None:
        return None
    return limited[0], service_name(limited[0])


def limited_attributes(ctx: DecodeContext, attributes: KeyValues) -> tuple[KeyValues, int] | None:
    """Attributes within the limits and how many were dropped; None when refused. The same
    rule as `DecodeContext.item_attributes`, on plain values instead of protobuf ones."""
    outcome = ctx.limits.apply(attributes)
    if outcome.violated and ctx.limits.reject:
        return None
    ctx.dropped_attributes += outcome.dropped
    return outcome.attributes, outcome.dropped
