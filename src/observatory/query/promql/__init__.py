"""PromQL with Prometheus 3 semantics, evaluated with numpy over all steps of a query at once."""

from observatory.query.promql.engine import PromqlEngine, QueryLimits
from observatory.query.promql.format import QueryResult
from observatory.query.promql.memory import InMemorySource
from observatory.query.promql.source import (
    LabelMatcher,
    NativeHistogramError,
    RawSeries,
    SeriesSource,
)

__all__ = [
    "InMemorySource",
    "LabelMatcher",
    "NativeHistogramError",
    "PromqlEngine",
    "QueryLimits",
    "QueryResult",
    "RawSeries",
    "SeriesSource",
]
