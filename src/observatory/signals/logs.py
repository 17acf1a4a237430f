"""Log records as Arrow columns: the `logs` table's rows.

Every record belongs to a stream: a set of labels as Loki has them (`{service_name="api",
namespace="prod"}`). Loki-pushed records carry their stream's labels; OTLP records get theirs
from a few resource attributes, as Loki's OTLP endpoint does. `stream_id` is a stable hash of
the labels, so queries group records by stream without comparing maps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import NamedTuple

import pyarrow as pa

from observatory.signals.attributes import Attributes, map_fields
from observatory.signals.columns import ScopeContext, ScopedColumns
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
        pa.field("labels", pa.map_(pa.string(), pa.string())),
        pa.field("stream_id", pa.uint64()),
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


def stream_id(labels: Mapping[str, str]) -> int:
    """A stable 64-bit id of a label set (independent of the order the labels came in)."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return int.from_bytes(digest.digest(), "little")


class LogColumns(ScopedColumns):
    """Builds the `logs` table row by row from plain values.

    Each scope (`add_scope`, or `add_stream` for Loki streams) also names the stream its
    records belong to.
    """

    SCHEMA = LOG_SCHEMA
    ROW_FIELDS = LogRow._fields

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant)
        self._stream_labels: list[dict[str, str]] = []
        self._stream_ids: list[int] = []

    def add_scope(self, scope: ScopeContext, labels: Mapping[str, str] | None = None) -> int:
        """Register the scope of the records that follow and their stream labels.

        Without `labels` the stream is the service alone: `{service_name="<service>"}`.
        """
        stream = dict(labels) if labels is not None else {"service_name": scope.service_name}
        self._stream_labels.append(stream)
        self._stream_ids.append(stream_id(stream))
        return super().add_scope(scope)

    def add_stream(
        self,
        labels: Mapping[str, str],
        service_name: str,
        resource_attributes: Attributes = (),
    ) -> int:
        """Register a Loki stream: its labels, and the service it is filed under."""
        scope = ScopeContext(service_name, resource_attributes, "", "")
        return self.add_scope(scope, labels)

    def _scope_columns(self) -> dict[str, pa.Array]:
        columns = super()._scope_columns()
        indices = pa.array(self._scope_of_row, type=pa.int32())
        labels = pa.array(
            [list(s.items()) for s in self._stream_labels], pa.map_(pa.string(), pa.string())
        )
        columns["labels"] = labels.take(indices)
        columns["stream_id"] = pa.array(self._stream_ids, pa.uint64()).take(indices)
        return columns
