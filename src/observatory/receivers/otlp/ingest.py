"""One OTLP export, whatever the transport: admit, decode, commit, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from observatory.errors import ObservatoryError
from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.otlp.decoding import Decoded, OtlpDecoder
from observatory.signals.batch import Signal, SignalBatch
from observatory.tenancy import TenantResolver

BodyReader = Callable[[], Awaitable[bytes]]


class OtlpIngest:
    def __init__(self, pipeline: Pipeline, tenants: TenantResolver, decoder: OtlpDecoder) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self.decoder = decoder
        self.metrics = pipeline.metrics

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
            decoded = await self.decoder.decode(signal, await read_body(), encoding, tenant)
            self._count(signal, protocol, decoded)
            await self.pipeline.write(decoded.batch)
            return decoded.batch
        except ObservatoryError as exc:
            self.metrics.refused_requests.labels(signal.value, exc.reason).inc()
            raise

    def _count(self, signal: Signal, protocol: str, decoded: Decoded) -> None:
        name, batch = signal.value, decoded.batch
        self.metrics.received.labels(name, protocol).inc(batch.items + batch.rejected)
        if batch.rejected:
            self.metrics.refused.labels(name, "invalid_item").inc(batch.rejected)
        if decoded.dropped_attributes:
            self.metrics.dropped.labels(name, "attribute_limits").inc(decoded.dropped_attributes)
