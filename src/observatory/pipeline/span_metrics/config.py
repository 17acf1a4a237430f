"""The span-metrics generator's settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SpanMetricsSettings:
    """How often metrics are written, which extra labels they carry, and memory bounds.

    `dimensions` are span or resource attribute keys added to the span metrics as labels
    (span attributes win over resource attributes of the same key). `max_series` bounds the
    label sets kept per tenant, a histogram counting once; `max_pending_edges` bounds the
    unpaired client and server spans kept per tenant while they wait `edge_wait_seconds`
    for their other half.
    """

    interval_seconds: float = 15.0
    dimensions: tuple[str, ...] = ()
    max_series: int = 100_000
    edge_wait_seconds: float = 10.0
    max_pending_edges: int = 10_000

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0 or self.edge_wait_seconds < 0:
            raise ValueError("interval_seconds must be positive and edge_wait_seconds not negative")
        if self.max_series < 1 or self.max_pending_edges < 1:
            raise ValueError("max_series and max_pending_edges must be at least 1")

    @classmethod
    def from_settings(cls, settings: Any) -> SpanMetricsSettings:
        """Read `span_metrics_<field>` settings, keeping the default of any not defined."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = getattr(settings, f"span_metrics_{field.name}", None)
            if value is not None:
                values[field.name] = tuple(value) if field.name == "dimensions" else value
        return cls(**values)
