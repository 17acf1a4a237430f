"""Spans as Arrow columns: the `spans` table's rows."""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from observatory.signals.attributes import map_fields
from observatory.signals.columns import ScopedColumns

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
NO_SPAN_ID = bytes(SPAN_ID_BYTES)
NO_TRACE_ID = bytes(TRACE_ID_BYTES)

EVENT_TYPE = pa.struct(
    [
        ("time_unix_nano", pa.int64()),
        ("name", pa.string()),
        ("attributes", pa.string()),
        ("dropped_attributes_count", pa.uint32()),
    ]
)
LINK_TYPE = pa.struct(
    [
        ("trace_id", pa.binary(TRACE_ID_BYTES)),
        ("span_id", pa.binary(SPAN_ID_BYTES)),
        ("trace_state", pa.string()),
        ("attributes", pa.string()),
        ("dropped_attributes_count", pa.uint32()),
        ("flags", pa.uint32()),
    ]
)

SPAN_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string()),
        pa.field("trace_id", pa.binary(TRACE_ID_BYTES)),
        pa.field("span_id", pa.binary(SPAN_ID_BYTES)),
        pa.field("parent_span_id", pa.binary(SPAN_ID_BYTES)),
        pa.field("trace_state", pa.string()),
        pa.field("flags", pa.uint32()),
        pa.field("service_name", pa.string()),
        pa.field("name", pa.string()),
        pa.field("kind", pa.int8()),
        pa.field("start_time", pa.timestamp("ns")),
        pa.field("duration_ns", pa.int64()),
        pa.field("status_code", pa.int8()),
        pa.field("status_message", pa.string()),
        pa.field("scope_name", pa.string()),
        pa.field("scope_version", pa.string()),
        *map_fields("resource_attributes"),
        *map_fields("attributes"),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("events", pa.list_(EVENT_TYPE)),
        pa.field("dropped_events_count", pa.uint32()),
        pa.field("links", pa.list_(LINK_TYPE)),
        pa.field("dropped_links_count", pa.uint32()),
    ]
)


class SpanRow(NamedTuple):
    """A span's own values, in `spans` column order after the scope columns."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    trace_state: str
    flags: int
    name: str
    kind: int
    start_time: int
    duration_ns: int
    status_code: int
    status_message: str
    dropped_attributes_count: int
    events: list[dict[str, object]]
    dropped_events_count: int
    links: list[dict[str, object]]
    dropped_links_count: int


class SpanColumns(ScopedColumns):
    """Builds the `spans` table row by row from plain values."""

    SCHEMA = SPAN_SCHEMA
    ROW_FIELDS = SpanRow._fields


def ids_or_zero(value: bytes, width: int) -> bytes:
    """OTLP leaves absent ids empty; the store keeps fixed-width zeros instead."""
    return value if len(value) == width else bytes(width)


def event_row(time_unix_nano: int, name: str, attributes: str, dropped: int) -> dict[str, object]:
    return {
        "time_unix_nano": time_unix_nano,
        "name": name,
        "attributes": attributes,
        "dropped_attributes_count": dropped,
    }
