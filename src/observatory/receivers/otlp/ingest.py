"""One OTLP export, whatever the transport: admit, decode, commit, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from observatory.errors import ObservatoryError
from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.otlp.codec import parse_request
from observatory.receivers.otlp.common import DecodeContext
from observatory.receivers.otlp.logs import decode_logs
from observatory.receivers.otlp.metrics import decode_metrics
from observatory.receivers.otlp.traces import decode_traces
from observatory.signals.batch import Signal, SignalBatch
from observatory.tenancy import TenantResolver

BodyReader = Callable[[], Awaitable[bytes]]


class OtlpIngest:
    def __init__(self, pipeline: Pipeline, tenants: TenantResolver) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.metrics = pipeline.metrics
        self._decoders: dict[Signal, Callable[[Any, DecodeContext], SignalBatch]] = {
            Signal.TRACES: decode_traces,
            Signal.METRICS: lambda request, ctx: decode_metrics(request, ctx, pipeline.deltas),
            Signal.LOGS: decode_logs,
        }

    async def handle(
        self,
        signal: Signal,
        protocol: str,
        tenant_header: str | None,
        encoding: str,
        read_body: BodyReader,
    ) -> SignalBatch:
        """Admit, read, decode and commit one request; every refusal is counted here."""
        try:
            tenant = self.tenants.resolve(tenant_header)
            # Refuse before reading and decoding: under overload that work is what hurts.
            self.pipeline.admit(signal)
            request = parse_request(signal, await read_body(), encoding)
            return await self._export(signal, request, tenant, protocol)
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(signal.value, exc.reason).inc()
            raise

    async def _export(
        self, signal: Signal, request: Any, tenant: str, protocol: str
    ) -> SignalBatch:
        ctx = DecodeContext(tenant, self.pipeline.limits, self.pipeline.resources)
        batch = self._decoders[signal](request, ctx)
        self._count(signal, protocol, batch, ctx)
        await self.pipeline.write(batch)
        return batch

    def _count(self, signal: Signal, protocol: str, batch: SignalBatch, ctx: DecodeContext) -> None:
        name = signal.value
        self.metrics.received.labels(name, protocol).inc(batch.items + batch.rejected)
        if batch.rejected:
            self.metrics.refused.labels(name, "invalid_item").inc(batch.rejected)
        if ctx.dropped_attributes:
            self.metrics.dropped.labels(name, "attribute_limits").inc(ctx.dropped_attributes)
