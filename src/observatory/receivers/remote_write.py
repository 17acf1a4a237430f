"""Prometheus remote-write 1.0: `POST /api/v1/write`, snappy-compressed `prometheus.WriteRequest`.

Success is 204 with no body. Errors are plain text, as Prometheus's own receiver answers, so
the message shows up as is in the sender's log. A 4xx tells the sender to drop the batch and
429/5xx to retry it, so only a payload that can never succeed gets a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import cramjam
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.errors import (
    BadRequestError,
    ObservatoryError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.body import read_capped
from observatory.receivers.prompb import (
    METRIC_TYPES,
    LabelMessage,
    TimeSeriesMessage,
    WriteRequestMessage,
    parse_write_request,
)
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.metrics import MetricColumns
from observatory.tenancy import TenantResolver
from observatory.web import plain_error_response, tenant_header

PROTOCOL = "remote_write"
METRIC_NAME_LABEL = "__name__"
V1_MESSAGE = "prometheus.WriteRequest"
NATIVE_HISTOGRAMS = "native_histogram"
# A snappy block's length prefix is a 32-bit varint: at most five bytes.
_MAX_VARINT_BYTES = 5


class RemoteWriteReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        tenants: TenantResolver,
        metrics: SelfMetrics,
        max_request_bytes: int,
        max_decompressed_bytes: int,
    ) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.max_decompressed_bytes = max_decompressed_bytes

    def routes(self) -> list[Route]:
        return [Route("/api/v1/write", self.write, methods=["POST"])]

    async def write(self, request: Request) -> Response:
        try:
            await self._ingest(request)
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(Signal.METRICS.value, exc.reason).inc()
            return plain_error_response(exc)
        return Response(status_code=204)

    async def _ingest(self, request: Request) -> None:
        tenant = self.tenants.resolve(tenant_header(request))
        check_content_type(request.headers.get("content-type"))
        check_content_encoding(request.headers.get("content-encoding"))
        # Refuse before reading and decoding: under overload that work is what hurts.
        self.pipeline.admit(Signal.METRICS)
        body = await read_capped(
            request.stream(), request.headers.get("content-length"), self.max_request_bytes
        )
        # Decoding a large request takes a while; off the event loop, other requests go on.
        batch, histograms = await asyncio.to_thread(
            decode_write_request, body, tenant, self.max_decompressed_bytes
        )
        self._count(batch, histograms)
        await self.pipeline.write(batch)

    def _count(self, batch: SignalBatch, histograms: int) -> None:
        signal = Signal.METRICS.value
        self.metrics.received.labels(signal, PROTOCOL).inc(batch.items + histograms)
        if histograms:
            self.metrics.refused.labels(signal, NATIVE_HISTOGRAMS).inc(histograms)


def check_content_type(content_type: str | None) -> None:
    """415 for anything but remote-write 1.0 protobuf, so a 2.0 sender falls back to 1.0."""
    if not content_type:
        return
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/x-protobuf":
        raise UnsupportedMediaTypeError(
            f"unsupported Content-Type {content_type!r}: remote write needs application/x-protobuf"
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        message = value.strip().strip('"')
        if key.strip().lower() == "proto" and message != V1_MESSAGE:
            raise UnsupportedMediaTypeError(
                f"unsupported remote-write message {message!r}: only remote write 1.0 "
                f"({V1_MESSAGE}) is accepted"
            )


def check_content_encoding(encoding: str | None) -> None:
    if encoding is None or encoding.strip().lower() != "snappy":
        raise BadRequestError(
            f"remote write needs Content-Encoding: snappy, got {encoding!r}: the body must be "
            "a snappy block-compressed prometheus.WriteRequest"
        )


def decode_write_request(body: bytes, tenant: str, cap: int) -> tuple[SignalBatch, int]:
    """The request's samples and metadata, and how many native histograms it dropped."""
    request = parse_write_request(snappy_decompress(body, cap))
    columns = MetricColumns(tenant)
    histograms = 0
    for index, series in enumerate(request.timeseries):
        histograms += len(series.histograms)
        _add_series(columns, index, series)
    _add_metadata(columns, request)
    items = columns.samples + len(request.metadata)
    batch = SignalBatch(Signal.METRICS, tenant, columns.tables(), items=items)
    if histograms:
        batch.rejected = histograms
        batch.rejection_message = "native histograms are not supported; send classic histograms"
    return batch, histograms


def snappy_decompress(body: bytes, cap: int) -> bytes:
    """The snappy block's content; 413 from its declared length, before inflating anything."""
    declared = snappy_declared_length(body)
    if declared > cap:
        raise PayloadTooLargeError(
            f"decompressed request body would be {declared} bytes, over the limit of {cap} "
            "bytes (setting max_decompressed_bytes)"
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise BadRequestError(f"body is not valid snappy block-compressed data: {exc}") from exc


def snappy_declared_length(body: bytes) -> int:
    """The uncompressed length a snappy block declares in its leading varint."""
    length = 0
    for position, byte in enumerate(body[:_MAX_VARINT_BYTES]):
        length |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            return length
    raise BadRequestError(
        "body is not valid snappy block-compressed data: no uncompressed length at its start"
    )


def _add_series(columns: MetricColumns, index: int, series: TimeSeriesMessage) -> None:
    name, labels = series_labels(index, series.labels)
    for sample in series.samples:
        columns.add_sample(name, labels, sample.timestamp, sample.value)


def series_labels(index: int, pairs: Sequence[LabelMessage]) -> tuple[str, dict[str, str]]:
    """The metric name and the other labels of series number `index`; 400 if they are invalid."""
    labels = _label_map(index, pairs)
    name = labels.pop(METRIC_NAME_LABEL, "")
    if not name:
        raise BadRequestError(
            f"series {index} has no {METRIC_NAME_LABEL} label (metric name): {format_labels(pairs)}"
        )
    return name, labels


def _label_map(index: int, pairs: Sequence[LabelMessage]) -> dict[str, str]:
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for pair in pairs:
        if not pair.name or pair.name in seen:
            problem = (
                f"label name {pair.name!r} more than once" if pair.name else "an empty label name"
            )
            raise BadRequestError(f"series {index} has {problem}: {format_labels(pairs)}")
        seen.add(pair.name)
        # In the Prometheus model an empty value is the same as no label at all.
        if pair.value:
            labels[pair.name] = pair.value
    return labels


def format_labels(pairs: Sequence[LabelMessage]) -> str:
    return "{" + ", ".join(f"{pair.name}={pair.value!r}" for pair in pairs) + "}"


def _add_metadata(columns: MetricColumns, request: WriteRequestMessage) -> None:
    for entry in request.metadata:
        if entry.metric_family_name:
            metric_type = METRIC_TYPES.get(entry.type, "unknown")
            columns.add_metadata(entry.metric_family_name, metric_type, entry.unit, entry.help)
