"""`traces_spanmetrics_*`: a call counter and a latency histogram per span label set."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa

from observatory.pipeline.span_metrics.columns import (
    RESOURCE,
    SPAN,
    Column,
    duration_seconds,
    histogram_groups,
    text_attribute,
    text_or_empty,
)
from observatory.pipeline.span_metrics.names import (
    CALLS,
    INTRINSIC_LABELS,
    LATENCY,
    SPAN_KINDS,
    STATUS_CODES,
)
from observatory.pipeline.span_metrics.registry import Increment, Labels
from observatory.receivers.otlp.prometheus_names import label_name

log = logging.getLogger(__name__)


def dimension_labels(dimensions: Sequence[str]) -> list[tuple[str, str]]:
    """(attribute key, label name) of each usable dimension.

    Keys become label names as the OTLP receiver makes them of attribute keys, so a dimension
    reads the same as the attribute on a client-sent metric.
    """
    out: list[tuple[str, str]] = []
    for key in dimensions:
        name = label_name(key)
        if not name:
            log.warning("span metrics dimension %r cannot be a label name; ignored", key)
            continue
        out.append((key, "__" + name if name in INTRINSIC_LABELS else name))
    return out


class SpanMetrics:
    def __init__(self, dimensions: Sequence[str]) -> None:
        self._dimensions = dimension_labels(dimensions)

    def increments(self, spans: pa.Table) -> list[Increment]:
        """What a span table adds to the call counter and the latency histogram."""
        groups = histogram_groups(self._keys(spans), duration_seconds(spans), LATENCY.bounds)
        out: list[Increment] = []
        for (tenant, *values), bucket, count, total in groups:
            labels = self._labels(values)
            out.append(Increment(tenant, CALLS, labels, count))
            out.append(Increment(tenant, LATENCY, labels, count, bucket, total))
        return out

    def _keys(self, spans: pa.Table) -> dict[str, Column]:
        keys: dict[str, Column] = {
            "tenant": spans.column("tenant"),
            "service": text_or_empty(spans.column("service_name")),
            "span_name": text_or_empty(spans.column("name")),
            "kind": spans.column("kind"),
            "status": spans.column("status_code"),
        }
        for index, (key, _) in enumerate(self._dimensions):
            keys[f"d{index}"] = text_or_empty(text_attribute(spans, key, (SPAN, RESOURCE)))
        return keys

    def _labels(self, values: list[object]) -> Labels:
        service, span_name, kind, status, *dimensions = values
        pairs = [
            ("service", str(service)),
            ("span_name", str(span_name)),
            ("span_kind", _name_of(SPAN_KINDS, kind)),
            ("status_code", _name_of(STATUS_CODES, status)),
        ]
        for (_, name), value in zip(self._dimensions, dimensions, strict=True):
            pairs.append((name, str(value)))
        # Prometheus reads an empty label as an absent one, so it is not stored at all.
        return tuple(pair for pair in pairs if pair[1])


def _name_of(names: dict[int, str], code: object) -> str:
    # A code outside the enumeration gets the zero value's name rather than a label value
    # of its own, which would be a series per unknown number.
    return names.get(code if isinstance(code, int) else 0, names[0])
