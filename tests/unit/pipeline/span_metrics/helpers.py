"""Span tables built the way the OTLP decoder builds them, and samples read back by series."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from observatory.signals.attributes import Attributes, encode_key_values
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.columns import ScopeContext
from observatory.signals.spans import NO_SPAN_ID, SpanColumns, SpanRow, event_row

START_NS = 1_700_000_000_000_000_000
MS = 1_000_000
_ids = itertools.count(1)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def new_id(width: int = 8) -> bytes:
    return next(_ids).to_bytes(width, "big")


@dataclass
class Span:
    service: str
    name: str = "op"
    kind: int = 1
    trace_id: bytes = field(default_factory=lambda: new_id(16))
    span_id: bytes = field(default_factory=new_id)
    parent_span_id: bytes = NO_SPAN_ID
    duration_ms: float = 1.0
    status: int = 0
    attributes: Attributes = ()
    resource: Attributes = ()
    events: Sequence[tuple[float, str]] = ()

    def child(self, service: str, kind: int, **changes: object) -> Span:
        """A span of this trace whose parent is this span."""
        fields = {"trace_id": self.trace_id, "parent_span_id": self.span_id, **changes}
        return Span(service, kind=kind, **fields)  # type: ignore[arg-type]


def table(spans: Iterable[Span], tenant: str = "t1") -> pa.Table:
    columns = SpanColumns(tenant)
    for span in spans:
        resource = [("service.name", span.service), *span.resource]
        scope = columns.add_scope(ScopeContext(span.service, resource, "test", "1"))
        columns.append(scope, span.attributes, _row(span))
    return columns.table()


def _row(span: Span) -> SpanRow:
    events = [
        event_row(START_NS + int(at_ms * MS), name, encode_key_values([]), 0)
        for at_ms, name in span.events
    ]
    return SpanRow(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        trace_state="",
        flags=0,
        name=span.name,
        kind=span.kind,
        start_time=START_NS,
        duration_ns=int(span.duration_ms * MS),
        status_code=span.status,
        status_message="",
        dropped_attributes_count=0,
        events=events,
        dropped_events_count=0,
        links=[],
        dropped_links_count=0,
    )


def samples(batch: SignalBatch) -> dict[SeriesKey, list[tuple[int, float]]]:
    """Every sample of a METRICS batch, by (metric name, sorted labels), oldest first."""
    assert batch.signal is Signal.METRICS
    series = batch.tables["series"].to_pylist()
    labels = {row["fingerprint"]: tuple(sorted(row["labels"])) for row in series}
    out: dict[SeriesKey, list[tuple[int, float]]] = {}
    for row in batch.tables["samples"].to_pylist():
        key = (row["metric_name"], labels[row["fingerprint"]])
        at_ms = int(row["timestamp"].timestamp() * 1000)
        out.setdefault(key, []).append((at_ms, row["value"]))
    for points in out.values():
        points.sort()
    return out


def latest(batch: SignalBatch) -> dict[SeriesKey, float]:
    """The newest value of every series in a batch."""
    return {key: points[-1][1] for key, points in samples(batch).items()}


def key(metric: str, **labels: str) -> SeriesKey:
    return metric, tuple(sorted(labels.items()))


def by_tenant(batches: Iterable[SignalBatch]) -> dict[str, SignalBatch]:
    return {batch.tenant: batch for batch in batches}
