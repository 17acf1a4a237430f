"""Metrics derived from committed spans: Tempo-style span metrics and service graph, and
GenAI client metrics. See docs/span-metrics.md."""

from observatory.pipeline.span_metrics.config import SpanMetricsSettings
from observatory.pipeline.span_metrics.generator import SpanMetricsGenerator, SpanMetricsStats

__all__ = ["SpanMetricsGenerator", "SpanMetricsSettings", "SpanMetricsStats"]
