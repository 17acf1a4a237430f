"""Log records as Arrow columns: the `logs` table's rows."""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from observatory.signals.attributes import map_fields
from observatory.signals.columns import ScopedColumns
from observatory.signals.spans import SPAN_ID_BYTES, TRACE_ID_BYTES

LOG_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string()),
        pa.field("timestamp", pa.timestamp("ns")),
        pa.field("observed_timestamp", pa.timestamp("ns")),
        pa.field("severity_number", pa.uint8()),
        pa.field("severity_text", pa.string()),
        pa.field("body", pa.string()),
        pa.field("body_any", pa.string()),
        pa.field("trace_id", pa.binary(TRACE_ID_BYTES)),
        pa.field("span_id", pa.binary(SPAN_ID_BYTES)),
        pa.field("flags", pa.uint32()),
        pa.field("event_name", pa.string()),
        pa.field("service_name", pa.string()),
        pa.field("scope_name", pa.string()),
        pa.field("scope_version", pa.string()),
        *map_fields("resource_attributes"),
        *map_fields("attributes"),
        pa.field("dropped_attributes_count", pa.uint32()),
    ]
)


class LogRow(NamedTuple):
    """A log record's own values."""

    timestamp: int
    observed_timestamp: int
    severity_number: int
    severity_text: str
    body: str
    body_any: str
    trace_id: bytes
    span_id: bytes
    flags: int
    event_name: str
    dropped_attributes_count: int


class LogColumns(ScopedColumns):
    """Builds the `logs` table row by row from plain values."""

    SCHEMA = LOG_SCHEMA
    ROW_FIELDS = LogRow._fields
