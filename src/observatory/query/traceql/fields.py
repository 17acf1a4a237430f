"""Where each TraceQL field lives in the `spans` table, as SQL over one span row.

Attributes are split into five typed maps per scope, so a field is not one column but a
lookup per type; the trace-level intrinsics come from `trace_summaries`, joined in as
`__root_name`, `__root_service` and `__trace_duration_ns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.params import SqlParams

IntrinsicType = Literal["string", "duration", "status", "kind", "event"]
MapKind = Literal["string", "int", "float", "bool", "json"]
_SUFFIXES: dict[MapKind, str] = {
    "string": "",
    "int": "_int",
    "float": "_float",
    "bool": "_bool",
    "json": "_json",
}
SCOPE_PREFIXES = {"span": "attributes", "resource": "resource_attributes"}
SERVICE_NAME = "service.name"


@dataclass(frozen=True)
class IntrinsicColumn:
    sql: str
    type: IntrinsicType
    trace_level: bool = False


INTRINSICS: dict[str, IntrinsicColumn] = {
    "name": IntrinsicColumn("name", "string"),
    "statusMessage": IntrinsicColumn("status_message", "string"),
    "status": IntrinsicColumn("status_code", "status"),
    "kind": IntrinsicColumn("kind", "kind"),
    "duration": IntrinsicColumn("duration_ns", "duration"),
    "rootName": IntrinsicColumn("__root_name", "string", trace_level=True),
    "rootServiceName": IntrinsicColumn("__root_service", "string", trace_level=True),
    "traceDuration": IntrinsicColumn("__trace_duration_ns", "duration", trace_level=True),
    "span:id": IntrinsicColumn("lower(hex(span_id))", "string"),
    "span:parentID": IntrinsicColumn("lower(hex(parent_span_id))", "string"),
    "trace:id": IntrinsicColumn("lower(hex(trace_id))", "string"),
    "instrumentation:name": IntrinsicColumn("scope_name", "string"),
    "instrumentation:version": IntrinsicColumn("scope_version", "string"),
    # Evaluated per event inside arrayExists over the span's events.
    "event:name": IntrinsicColumn("tupleElement(__e, 'name')", "event"),
}


def intrinsic(field: ast.Intrinsic) -> IntrinsicColumn:
    return INTRINSICS[field.name]


def is_trace_level(field: ast.Field) -> bool:
    return isinstance(field, ast.Intrinsic) and intrinsic(field).trace_level


class AttributeSql:
    """SQL pieces for one attribute name in one scope's typed maps."""

    def __init__(self, prefix: str, key: str, name: str) -> None:
        self.prefix = prefix
        self.key = key  # a parameter placeholder
        self.name = name

    @property
    def is_service_name(self) -> bool:
        """`resource.service.name`, which also has its own column, first in the sort key."""
        return self.prefix == SCOPE_PREFIXES["resource"] and self.name == SERVICE_NAME

    def map(self, kind: MapKind) -> str:
        return self.prefix + _SUFFIXES[kind]

    def has(self, kind: MapKind) -> str:
        return f"mapContains({self.map(kind)}, {self.key})"

    def get(self, kind: MapKind) -> str:
        return f"{self.map(kind)}[{self.key}]"

    def present(self) -> str:
        return "(" + " OR ".join(self.has(kind) for kind in _SUFFIXES) + ")"

    def array_items(self) -> str:
        """The elements of an array value (OTLP JSON), `[]` for anything else."""
        return f"JSONExtractArrayRaw({self.get('json')}, 'arrayValue', 'values')"

    def number(self) -> str:
        """The value as Float64 if it is an int or a float, else nan."""
        return (
            f"multiIf({self.has('int')}, toFloat64({self.get('int')}), "
            f"{self.has('float')}, {self.get('float')}, nan)"
        )


def scope_sql(field: ast.Attribute, params: SqlParams) -> list[AttributeSql]:
    """The scopes to look in, in order of precedence: an unscoped name tries the span first."""
    key = params.text(field.name)
    scopes = ("span", "resource") if field.scope == "" else (field.scope,)
    return [AttributeSql(SCOPE_PREFIXES[scope], key, field.name) for scope in scopes]


def numeric_value(field: ast.Field, params: SqlParams) -> str:
    """A span's value of a numeric field as Float64, nan where it has none (for aggregates)."""
    if isinstance(field, ast.Intrinsic):
        column = intrinsic(field)
        if column.type != "duration":
            raise QueryError(f"invalid TraceQL query: {field} is not numeric")
        return f"toFloat64({column.sql})"
    scopes = scope_sql(field, params)
    if len(scopes) == 1:
        return scopes[0].number()
    span, resource = scopes
    return f"if(isNaN({span.number()}), {resource.number()}, {span.number()})"
