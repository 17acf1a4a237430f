"""The SQL behind the Jaeger query API: services, operations, trace search, dependencies.

A search finds trace ids from span-level conditions (every condition on the same span, as
Jaeger's own storage backends match), newest first, then loads those traces' spans in a
second query. Every user value reaches SQL as a `{name:Type}` parameter; only fixed fragments
and generated parameter names are put together here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from observatory.signals.attributes import KIND_SUFFIXES
from observatory.store.protocol import Store

# OTLP span kinds as Jaeger's `span.kind` tag names them; 0 (unspecified) has no tag.
KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
KIND_NUMBERS = {name: number for number, name in KIND_NAMES.items()}
STATUS_NAMES = {1: "OK", 2: "ERROR"}
STATUS_ERROR = 2

# Tags the Jaeger model derives from span columns rather than from attributes.
_COLUMN_TAGS = {
    "otel.status_description": "status_message",
    "otel.scope.name": "scope_name",
    "otel.scope.version": "scope_version",
    "w3c.tracestate": "trace_state",
}
_INT = re.compile(r"^[+-]?\d{1,19}$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INT64 = (-(2**63), 2**63 - 1)


def _maps(prefix: str) -> str:
    return ", ".join(prefix + suffix for suffix in KIND_SUFFIXES)


SPAN_COLUMNS = f"""
    trace_id, span_id, parent_span_id, trace_state, flags, service_name, name, kind,
    toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns,
    status_code, status_message, scope_name, scope_version,
    {_maps("resource_attributes")}, {_maps("attributes")},
    dropped_attributes_count, events, dropped_events_count, links, dropped_links_count
"""

# Ids travel as one comma-separated hex string: they are validated hex, and chDB passes
# list parameters without quoting them. unhex() gives a String, and comparing it with a
# FixedString in IN drops trailing zero bytes, so it is made a FixedString again.
SPANS_OF_TRACES = f"""
SELECT {SPAN_COLUMNS}
FROM spans
WHERE tenant = {{tenant:String}}
    AND trace_id IN (
        SELECT toFixedString(unhex(arrayJoin(splitByChar(',', {{ids:String}}))), 16)
    )
ORDER BY trace_id, start_time, span_id
"""

SERVICES = """
SELECT DISTINCT toString(service_name) AS service
FROM spans
WHERE tenant = {tenant:String}
ORDER BY service
"""

OPERATIONS = """
SELECT toString(name) AS name, kind
FROM spans
WHERE tenant = {tenant:String} AND service_name = {service:String}
GROUP BY name, kind
ORDER BY name, kind
"""

FIND_TRACES = """
SELECT trace_id, max(start_time) AS latest
FROM spans
WHERE {where}
GROUP BY trace_id
ORDER BY latest DESC, trace_id
LIMIT {{limit:UInt32}}
"""

# Calls between services: a span whose parent belongs to another service. Both sides are
# cut to the window first, so the join's right side stays small.
DEPENDENCIES = """
SELECT toString(p.service_name) AS parent, toString(c.service_name) AS child,
    count() AS callCount
FROM (
    SELECT trace_id, parent_span_id, service_name FROM spans
    WHERE tenant = {tenant:String} AND start_time >= fromUnixTimestamp64Nano({start_ns:Int64})
        AND start_time <= fromUnixTimestamp64Nano({end_ns:Int64})
) AS c
INNER JOIN (
    SELECT trace_id, span_id, service_name FROM spans
    WHERE tenant = {tenant:String} AND start_time >= fromUnixTimestamp64Nano({start_ns:Int64})
        AND start_time <= fromUnixTimestamp64Nano({end_ns:Int64})
) AS p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
WHERE p.service_name != c.service_name
GROUP BY parent, child
ORDER BY parent, child
"""


@dataclass(frozen=True)
class TraceQuery:
    """A Jaeger trace search; times in Unix nanoseconds, durations in nanoseconds."""

    service: str
    start_ns: int
    end_ns: int
    limit: int
    operation: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None


@dataclass
class Conditions:
    """WHERE fragments joined by AND, with the parameters they name."""

    parts: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, sql: str, **params: Any) -> None:
        self.parts.append(sql)
        self.params.update(params)

    def where(self) -> str:
        return "\n    AND ".join(self.parts)


def search_conditions(tenant: str, query: TraceQuery) -> Conditions:
    conditions = Conditions()
    conditions.add("tenant = {tenant:String}", tenant=tenant)
    conditions.add("service_name = {service:String}", service=query.service)
    conditions.add(
        "start_time >= fromUnixTimestamp64Nano({start_ns:Int64})", start_ns=query.start_ns
    )
    conditions.add("start_time <= fromUnixTimestamp64Nano({end_ns:Int64})", end_ns=query.end_ns)
    if query.operation:
        conditions.add("name = {operation:String}", operation=query.operation)
    if query.min_duration_ns is not None:
        conditions.add("duration_ns >= {min_ns:Int64}", min_ns=query.min_duration_ns)
    if query.max_duration_ns is not None:
        conditions.add("duration_ns <= {max_ns:Int64}", max_ns=query.max_duration_ns)
    for index, (key, value) in enumerate(query.tags):
        tag = tag_condition(index, key, value)
        conditions.add(tag.where(), **tag.params)
    return conditions


def tag_condition(index: int, key: str, value: str) -> Conditions:
    """One tag as alternatives joined by OR: every typed map, span or resource, that could
    hold it, and the span column a derived tag (`error`, `span.kind`, ...) comes from."""
    alternatives = Conditions()
    key_param = f"tag_key_{index}"
    alternatives.params[key_param] = key
    for suffix, param_type, typed in _typed_values(value):
        param = f"tag_value{suffix}_{index}"
        alternatives.params[param] = typed
        for prefix in ("attributes", "resource_attributes"):
            column = prefix + suffix
            alternatives.parts.append(
                f"(mapContains({column}, {{{key_param}:String}}) "
                f"AND {column}[{{{key_param}:String}}] = {{{param}:{param_type}}})"
            )
    _derived_tag(alternatives, index, key, value)
    return Conditions([f"({' OR '.join(alternatives.parts)})"], alternatives.params)


def _typed_values(value: str) -> Iterator[tuple[str, str, Any]]:
    """The value as every attribute type it can be read as: a tag value is text in Jaeger,
    while attributes keep their types here."""
    yield "", "String", value
    if _INT.match(value) and _INT64[0] <= int(value) <= _INT64[1]:
        yield "_int", "Int64", int(value)
    if _FLOAT.match(value):
        yield "_float", "Float64", float(value)
    if value.lower() in ("true", "false"):
        yield "_bool", "Bool", value.lower() == "true"


def _derived_tag(alternatives: Conditions, index: int, key: str, value: str) -> None:
    param = f"tag_column_{index}"
    if key in _COLUMN_TAGS:
        alternatives.parts.append(f"{_COLUMN_TAGS[key]} = {{{param}:String}}")
        alternatives.params[param] = value
    elif key == "span.kind" and value.lower() in KIND_NUMBERS:
        alternatives.parts.append(f"kind = {{{param}:Int8}}")
        alternatives.params[param] = KIND_NUMBERS[value.lower()]
    elif key == "otel.status_code" and value.upper() in ("OK", "ERROR"):
        alternatives.parts.append(f"status_code = {{{param}:Int8}}")
        alternatives.params[param] = 1 if value.upper() == "OK" else STATUS_ERROR
    elif key == "error" and value.lower() == "true":
        alternatives.parts.append(f"status_code = {STATUS_ERROR}")


class JaegerReader:
    """What the Jaeger API reads from the store; methods block (run them in a thread)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def services(self, tenant: str) -> list[str]:
        table = self._store.query(SERVICES, {"tenant": tenant})
        return [str(s) for s in table.column("service").to_pylist()] if table.num_rows else []

    def operations(self, tenant: str, service: str) -> list[tuple[str, int]]:
        """(name, OTLP kind) of every operation of a service."""
        table = self._store.query(OPERATIONS, {"tenant": tenant, "service": service})
        if not table.num_rows:
            return []
        names, kinds = table.column("name").to_pylist(), table.column("kind").to_pylist()
        return [(str(n), int(k)) for n, k in zip(names, kinds, strict=True)]

    def find_trace_ids(self, tenant: str, query: TraceQuery) -> list[bytes]:
        """Ids of the traces with a span matching every condition, newest first."""
        conditions = search_conditions(tenant, query)
        sql = FIND_TRACES.format(where=conditions.where())
        table = self._store.query(sql, {**conditions.params, "limit": query.limit})
        return [bytes(t) for t in table.column("trace_id").to_pylist()] if table.num_rows else []

    def spans_of(self, tenant: str, trace_ids: list[bytes]) -> list[dict[str, Any]]:
        """Every span of the given traces, grouped by trace, oldest first within one."""
        if not trace_ids:
            return []
        ids = ",".join(trace_id.hex() for trace_id in trace_ids)
        rows: list[dict[str, Any]] = self._store.query(
            SPANS_OF_TRACES, {"tenant": tenant, "ids": ids}
        ).to_pylist()
        return rows

    def dependencies(self, tenant: str, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
        params = {"tenant": tenant, "start_ns": start_ns, "end_ns": end_ns}
        rows: list[dict[str, Any]] = self._store.query(DEPENDENCIES, params).to_pylist()
        return rows
