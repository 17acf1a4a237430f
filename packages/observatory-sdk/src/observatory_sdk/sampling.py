"""Which traces to keep: `ParentBased(TraceIdRatioBased(rate))`, the rate fitting the environment.

Parent-based, so a service never cuts a trace that its caller decided to keep (or keeps one the
caller dropped): every service of a request makes the same decision, and traces are whole.

The rate, first found wins:
1. the `sample_rate` argument;
2. `OBSERVATORY_SAMPLE_RATE`;
3. the standard `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, read by the SDK itself;
4. the environment's default: 10 % in production, 100 % anywhere else (development, staging,
   tests, or no environment named), where traffic is small and every trace is wanted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

PRODUCTION_RATE = 0.1
DEFAULT_RATE = 1.0
# Environment names taken as production: exact names, and prefixes such as "prod-eu".
_PRODUCTION_NAMES = frozenset({"prod", "production"})
_PRODUCTION_PREFIXES = ("prod-", "prod_", "production-", "production_")


@dataclass(frozen=True)
class SamplerChoice:
    """The rate to sample root traces at, or None when OTEL_TRACES_SAMPLER decides."""

    rate: float | None
    source: str

    def build(self) -> Sampler | None:
        """The sampler to give the TracerProvider; None lets the SDK read OTEL_TRACES_SAMPLER."""
        if self.rate is None:
            return None
        return ParentBased(TraceIdRatioBased(self.rate))


def choose_sampler(sample_rate: float | None, environment: str | None) -> SamplerChoice:
    if sample_rate is not None:
        return SamplerChoice(_checked(sample_rate, "sample_rate"), "sample_rate argument")
    from_env = os.environ.get("OBSERVATORY_SAMPLE_RATE", "").strip()
    if from_env:
        return SamplerChoice(_parse(from_env, "OBSERVATORY_SAMPLE_RATE"), "OBSERVATORY_SAMPLE_RATE")
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip():
        return SamplerChoice(None, "OTEL_TRACES_SAMPLER")
    if is_production(environment):
        return SamplerChoice(PRODUCTION_RATE, f"default for environment {environment!r}")
    return SamplerChoice(DEFAULT_RATE, f"default for environment {environment or 'unnamed'!r}")


def is_production(environment: str | None) -> bool:
    if not environment:
        return False
    name = environment.strip().lower()
    return name in _PRODUCTION_NAMES or name.startswith(_PRODUCTION_PREFIXES)


def _parse(value: str, source: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"{source}={value!r} is not a number between 0 and 1") from None
    return _checked(rate, source)


def _checked(rate: float, source: str) -> float:
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{source}={rate!r} is outside 0..1 (1 keeps every trace)")
    return float(rate)
