"""OTLP traces into a span batch."""

from __future__ import annotations

from typing import Any

from observatory.receivers.otlp.common import DecodeContext, batch_of, key_values, scoped_items
from observatory.signals.attributes import encode_key_values
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.spans import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    SpanColumns,
    SpanRow,
    ids_or_zero,
)

_REFUSED_SPAN = "span over attribute limits"
_BAD_ID = "span with a trace id that is not 16 bytes or a span id that is not 8 bytes"


def decode_traces(request: Any, ctx: DecodeContext) -> SignalBatch:
    """Every span of an `ExportTraceServiceRequest`, or a refusal counted in `ctx`."""
    columns = SpanColumns(ctx.tenant)
    groups = request.resource_spans
    for scope, span in scoped_items(ctx, columns, groups, "scope_spans", "spans"):
        _append_span(columns, scope, span, ctx)
    return batch_of(Signal.TRACES, "spans", columns, ctx)


def _append_span(columns: SpanColumns, scope: int, span: Any, ctx: DecodeContext) -> None:
    if len(span.trace_id) != TRACE_ID_BYTES or len(span.span_id) != SPAN_ID_BYTES:
        ctx.reject(1, _BAD_ID)
        return
    limited = ctx.item_attributes(span.attributes)
    if limited is None:
        ctx.reject(1, _REFUSED_SPAN)
        return
    attributes, dropped = limited
    start = span.start_time_unix_nano
    row = SpanRow(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=ids_or_zero(span.parent_span_id, SPAN_ID_BYTES),
        trace_state=span.trace_state,
        flags=span.flags,
        name=span.name,
        kind=span.kind,
        start_time=start,
        duration_ns=max(0, span.end_time_unix_nano - start),
        status_code=span.status.code,
        status_message=span.status.message,
        dropped_attributes_count=span.dropped_attributes_count + dropped,
        events=[_event(e, ctx) for e in span.events] if span.events else [],
        dropped_events_count=span.dropped_events_count,
        links=[_link(link, ctx) for link in span.links] if span.links else [],
        dropped_links_count=span.dropped_links_count,
    )
    columns.append(scope, attributes, row)


def _nested_attributes(pairs: Any, ctx: DecodeContext) -> tuple[str, int]:
    # Events and links are parts of a span: over a limit they are truncated, never refused,
    # so one noisy event cannot cost the whole span.
    outcome = ctx.limits.apply(key_values(pairs))
    return encode_key_values(outcome.attributes), outcome.dropped


def _event(event: Any, ctx: DecodeContext) -> dict[str, object]:
    attributes, dropped = _nested_attributes(event.attributes, ctx)
    return {
        "time_unix_nano": event.time_unix_nano,
        "name": event.name,
        "attributes": attributes,
        "dropped_attributes_count": event.dropped_attributes_count + dropped,
    }


def _link(link: Any, ctx: DecodeContext) -> dict[str, object]:
    attributes, dropped = _nested_attributes(link.attributes, ctx)
    return {
        "trace_id": ids_or_zero(link.trace_id, TRACE_ID_BYTES),
        "span_id": ids_or_zero(link.span_id, SPAN_ID_BYTES),
        "trace_state": link.trace_state,
        "attributes": attributes,
        "dropped_attributes_count": link.dropped_attributes_count + dropped,
        "flags": link.flags,
    }
