"""Trace lookup by id."""

from __future__ import annotations

import pyarrow as pa

from observatory.signals.attributes import KIND_SUFFIXES
from observatory.store.protocol import Store


def _maps(prefix: str) -> str:
    return ", ".join(prefix + suffix for suffix in KIND_SUFFIXES)


TRACE_BY_ID = f"""
SELECT
    trace_id, span_id, parent_span_id, trace_state, flags, name, kind,
    toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns,
    status_code, status_message, scope_name, scope_version,
    {_maps("resource_attributes")}, {_maps("attributes")},
    dropped_attributes_count, events, dropped_events_count, links, dropped_links_count
FROM spans
WHERE tenant = {{tenant:String}} AND trace_id = unhex({{trace_id:String}})
ORDER BY start_time, span_id
"""


class TraceReader:
    def __init__(self, store: Store) -> None:
        self._store = store

    def trace(self, tenant: str, trace_id: bytes) -> pa.Table:
        """Every span of one trace of one tenant, oldest first; empty when unknown."""
        return self._store.query(TRACE_BY_ID, {"tenant": tenant, "trace_id": trace_id.hex()})
