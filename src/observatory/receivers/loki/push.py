"""Loki push API: `POST /loki/api/v1/push`, and the legacy `POST /api/prom/push`.

Success is 204 with no body, once every accepted entry is committed. As in Loki, entries that
fail a check (line too long, timestamp out of range, no labels or too many) are dropped, the
rest of the push is written, and the answer is a 400 naming what was dropped: resending it
cannot succeed. A push over a tenant limit (active streams, ingestion rate) is refused whole
with 429 and `Retry-After` before anything is written, so the client's retry stores nothing
twice. Errors are plain text, as Loki answers them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.errors import (
    BadRequestError,
    LineTooLongError,
    ObservatoryError,
    OverloadedError,
    TimestampOutOfRangeError,
    TooManyLabelsError,
)
from observatory.pipeline.pipeline import Pipeline
from observatory.pipeline.processors import AttributeLimits
from observatory.receivers.body import read_capped
from observatory.receivers.log_enrichment import IdExtractor
from observatory.receivers.loki.decode import PushEntry, PushStream, body_format, decode_body
from observatory.receivers.loki.limits import EntryLimits, RateLimiter, StreamTracker
from observatory.receivers.loki.streams import (
    entry_severity,
    format_labels,
    label_problem,
    label_severity,
    with_service_name,
)
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.self_metrics import SelfMetrics
from observatory.settings import Settings
from observatory.signals.attributes import Attributes
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.logs import LogColumns, LogRow, stream_id
from observatory.tenancy import TenantResolver
from observatory.web import plain_error_response, tenant_header

PROTOCOL = "loki"
SIGNAL = Signal.LOGS.value
# A push of thousands of bad entries is answered with the first few messages and a count.
_MAX_MESSAGES = 10


class TooFarInFutureError(TimestampOutOfRangeError):
    reason = "too_far_in_future"


class InvalidLabelsError(BadRequestError):
    reason = "invalid_labels"


class MissingLabelsError(BadRequestError):
    reason = "missing_labels"


class StructuredMetadataError(BadRequestError):
    reason = "structured_metadata_too_large"


_ERRORS: dict[str, type[BadRequestError]] = {
    LineTooLongError.reason: LineTooLongError,
    TooManyLabelsError.reason: TooManyLabelsError,
    TimestampOutOfRangeError.reason: TimestampOutOfRangeError,
    TooFarInFutureError.reason: TooFarInFutureError,
    InvalidLabelsError.reason: InvalidLabelsError,
    MissingLabelsError.reason: MissingLabelsError,
    StructuredMetadataError.reason: StructuredMetadataError,
}


@dataclass
class Rejections:
    """Entries dropped by a check: counts by Loki's reason, and the first messages."""

    counts: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    more: int = 0

    def add(self, reason: str, message: str, count: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + count
        if len(self.messages) < _MAX_MESSAGES:
            self.messages.append(message)
        else:
            self.more += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def error(self, received: int) -> BadRequestError:
        """The 400 of the push: the first problem decides its reason."""
        lines = list(self.messages)
        if self.more:
            lines.append(f"(and {self.more} more)")
        lines.append(f"total ignored: {self.total} out of {received}")
        first = next(iter(self.counts), "")
        return _ERRORS.get(first, BadRequestError)("\n".join(lines))


@dataclass(frozen=True)
class PushRules:
    """What decoding a push needs; read in a worker thread, never changed."""

    limits: EntryLimits
    attributes: AttributeLimits
    ids: IdExtractor
    max_decompressed_bytes: int


@dataclass
class DecodedPush:
    batch: SignalBatch
    received: int
    # Bytes of the accepted lines and their structured metadata: what the rate limit counts.
    size: int
    stream_ids: set[int]
    rejections: Rejections
    dropped_attributes: int


class _BatchBuilder:
    """Checks each stream and entry and keeps the ones that pass as log rows."""

    def __init__(self, tenant: str, rules: PushRules, now: int) -> None:
        self.columns = LogColumns(tenant)
        self.rules = rules
        self.now = now
        self.received = 0
        self.size = 0
        self.dropped = 0
        self.stream_ids: set[int] = set()
        self.rejections = Rejections()

    def add(self, stream: PushStream) -> None:
        self.received += len(stream.entries)
        problem = label_problem(stream.labels, self.rules.limits.max_labels)
        if problem is not None:
            reason, message = problem
            self.rejections.add(reason, message, len(stream.entries))
            return
        labels, service = with_service_name(stream.labels)
        name = format_labels(labels)
        level = label_severity(labels)
        scope = -1
        for entry in stream.entries:
            accepted = self._row(entry, name, level)
            if accepted is None:
                continue
            # Registered with its first accepted entry: a stream all refused is no stream.
            if scope < 0:
                scope = self.columns.add_stream(labels, service)
                self.stream_ids.add(stream_id(labels))
            row, attributes = accepted
            self.columns.append(scope, attributes, row)

    def _row(
        self, entry: PushEntry, stream: str, level: tuple[int, str] | None
    ) -> tuple[LogRow, Attributes] | None:
        line = entry.line
        size = len(line) if line.isascii() else len(line.encode())
        number, text = entry_severity(level, entry.metadata, line)
        problem = self.rules.limits.check(stream, entry.timestamp, number, size, self.now)
        if problem is not None:
            self.rejections.add(*problem)
            return None
        limited = self.rules.attributes.apply(entry.metadata)
        if limited.violated and self.rules.attributes.reject:
            self.rejections.add(
                StructuredMetadataError.reason,
                f"entry for stream '{stream}' has structured metadata over the attribute "
                "limits (settings max_attributes_per_item, max_attribute_value_length)",
            )
            return None
        self.dropped += limited.dropped
        self.size += size + sum(len(k) + len(str(v)) for k, v in limited.attributes)
        trace_id, span_id = self.rules.ids.ids(line, limited.attributes)
        row = LogRow(
            timestamp=entry.timestamp,
            observed_timestamp=self.now,
            severity_number=number,
            severity_text=text,
            body=line,
            body_any="",
            trace_id=trace_id,
            span_id=span_id,
            flags=0,
            event_name="",
            dropped_attributes_count=limited.dropped,
        )
        return row, limited.attributes

    def result(self) -> DecodedPush:
        columns = self.columns
        tables = {"logs": columns.table()} if columns.rows else {}
        batch = SignalBatch(Signal.LOGS, columns.tenant, tables, items=columns.rows)
        batch.rejected = self.rejections.total
        return DecodedPush(
            batch, self.received, self.size, self.stream_ids, self.rejections, self.dropped
        )


def build_batch(streams: list[PushStream], tenant: str, rules: PushRules, now: int) -> DecodedPush:
    """The entries of `streams` that pass every check, as one log batch, and what did not."""
    builder = _BatchBuilder(tenant, rules, now)
    for stream in streams:
        builder.add(stream)
    return builder.result()


def decode_push(
    body: bytes, fmt: str, encoding: str | None, tenant: str, rules: PushRules, now: int
) -> DecodedPush:
    """A push body as a log batch; `now` (Unix ns) is the observed time and the age reference."""
    streams = decode_body(body, fmt, encoding, rules.max_decompressed_bytes)
    return build_batch(streams, tenant, rules, now)


class LokiPushReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        tenants: TenantResolver,
        rules: DecodeRules,
        metrics: SelfMetrics,
        settings: Settings,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.metrics = metrics
        self.max_request_bytes: int = settings.max_request_bytes
        self.rules = PushRules(
            EntryLimits.from_settings(settings),
            rules.limits,
            rules.ids,
            settings.max_decompressed_bytes,
        )
        self.streams = StreamTracker(settings.logs_max_streams_per_tenant)
        self.rate = RateLimiter.from_settings(settings)
        self.clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/loki/api/v1/push", self.push, methods=["POST"]),
            Route("/api/prom/push", self.push, methods=["POST"]),
        ]

    async def push(self, request: Request) -> Response:
        try:
            await self._ingest(request)
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(SIGNAL, exc.reason).inc()
            return plain_error_response(exc)
        return Response(status_code=204)

    async def _ingest(self, request: Request) -> None:
        tenant = self.tenants.resolve(tenant_header(request))
        fmt = body_format(request.headers.get("content-type"))
        # Refuse before reading and decoding: under overload that work is what hurts.
        self.pipeline.admit(Signal.LOGS)
        body = await read_capped(
            request.stream(), request.headers.get("content-length"), self.max_request_bytes
        )
        encoding = request.headers.get("content-encoding")
        # Decoding a large push takes a while; off the event loop, other requests go on.
        decoded = await asyncio.to_thread(
            decode_push, body, fmt, encoding, tenant, self.rules, self.clock()
        )
        self._count(decoded)
        self._check_tenant_limits(tenant, decoded)
        if decoded.batch.items:
            await self.pipeline.write(decoded.batch)
        if decoded.rejections.messages:
            raise decoded.rejections.error(decoded.received)

    def _check_tenant_limits(self, tenant: str, decoded: DecodedPush) -> None:
        """Streams first: a push refused for its streams does not spend the tenant's rate."""
        try:
            self.streams.check(tenant, decoded.stream_ids)
            self.rate.take(tenant, decoded.size, decoded.batch.items)
        except OverloadedError as exc:
            self.metrics.refused.labels(SIGNAL, exc.reason).inc(decoded.batch.items)
            raise
        self.streams.record(tenant, decoded.stream_ids)

    def _count(self, decoded: DecodedPush) -> None:
        self.metrics.received.labels(SIGNAL, PROTOCOL).inc(decoded.received)
        for reason, count in decoded.rejections.counts.items():
            self.metrics.refused.labels(SIGNAL, reason).inc(count)
        if decoded.dropped_attributes:
            self.metrics.dropped.labels(SIGNAL, "attribute_limits").inc(decoded.dropped_attributes)
