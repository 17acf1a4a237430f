"""The tracer and metric instruments the GenAI helpers record with, following the globals.

Looked up per call through OpenTelemetry's global providers, so the helpers work with any SDK
setup (this package's or the user's own) and follow a `shutdown()` and new setup. The lookup is
cached on the provider's identity: one attribute read per call instead of a new tracer and
three instrument registrations.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics, trace

from observatory_sdk.genai import attributes as attr
from observatory_sdk.version import __version__

SCOPE = "observatory_sdk.genai"


@dataclass(frozen=True)
class GenAIInstruments:
    duration: metrics.Histogram
    tokens: metrics.Histogram
    first_chunk: metrics.Histogram


_tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None
_instruments: tuple[metrics.MeterProvider, GenAIInstruments] | None = None


def tracer() -> trace.Tracer:
    global _tracer
    provider = trace.get_tracer_provider()
    cached = _tracer
    if cached is None or cached[0] is not provider:
        cached = (provider, provider.get_tracer(SCOPE, __version__))
        _tracer = cached
    return cached[1]


def instruments() -> GenAIInstruments:
    global _instruments
    provider = metrics.get_meter_provider()
    cached = _instruments
    if cached is None or cached[0] is not provider:
        cached = (provider, _create(provider.get_meter(SCOPE, __version__)))
        _instruments = cached
    return cached[1]


def _create(meter: metrics.Meter) -> GenAIInstruments:
    return GenAIInstruments(
        duration=meter.create_histogram(
            attr.OPERATION_DURATION_METRIC,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=attr.SECONDS_BUCKETS,
        ),
        tokens=meter.create_histogram(
            attr.TOKEN_USAGE_METRIC,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=attr.TOKEN_BUCKETS,
        ),
        first_chunk=meter.create_histogram(
            attr.TIME_TO_FIRST_CHUNK_METRIC,
            unit="s",
            description="Time from issuing a streaming request to receiving its first chunk.",
            explicit_bucket_boundaries_advisory=attr.SECONDS_BUCKETS,
        ),
    )
