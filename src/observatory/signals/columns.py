"""Row-by-row builders of Arrow tables for records that carry a resource and a scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from observatory.signals.attributes import AttributeColumns, Attributes


@dataclass(slots=True)
class ScopeContext:
    """What every record of one resource and instrumentation scope shares."""

    service_name: str
    resource_attributes: Attributes
    scope_name: str
    scope_version: str


def build_table(schema: pa.Schema, arrays: dict[str, object]) -> pa.Table:
    columns: list[pa.Array] = []
    for fld in schema:
        data = arrays[fld.name]
        columns.append(data if isinstance(data, pa.Array) else pa.array(data, type=fld.type))
    return pa.Table.from_arrays(columns, schema=schema)


class ScopedColumns:
    """Base of the span and log builders: one row tuple per record, plus its scope.

    Rows are kept as tuples and turned into columns once, at the end; resource and scope
    columns are built once per distinct scope and spread over the rows with `take`, since
    every record of a scope repeats them.
    """

    SCHEMA: ClassVar[pa.Schema]
    ROW_FIELDS: ClassVar[tuple[str, ...]]

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self._rows: list[tuple[object, ...]] = []
        self._scope_of_row: list[int] = []
        self._scopes: list[ScopeContext] = []
        self._attributes = AttributeColumns("attributes")

    @property
    def rows(self) -> int:
        return len(self._rows)

    def add_scope(self, scope: ScopeContext) -> int:
        """Register the scope of the rows that follow; returns its index for `append`."""
        self._scopes.append(scope)
        return len(self._scopes) - 1

    def append(self, scope_index: int, attributes: Attributes, row: tuple[object, ...]) -> None:
        """Add one record: `row` holds the values of `ROW_FIELDS`, in order."""
        self._rows.append(row)
        self._scope_of_row.append(scope_index)
        self._attributes.append(attributes)

    def table(self) -> pa.Table:
        count = len(self._rows)
        arrays: dict[str, object] = {"tenant": [self.tenant] * count}
        columns = zip(*self._rows, strict=True) if count else ([] for _ in self.ROW_FIELDS)
        arrays.update(zip(self.ROW_FIELDS, (list(c) for c in columns), strict=True))
        arrays.update(self._scope_columns())
        arrays.update(self._attributes.columns())
        return build_table(self.SCHEMA, arrays)

    def _scope_columns(self) -> dict[str, pa.Array]:
        resource = AttributeColumns("resource_attributes")
        for scope in self._scopes:
            resource.append(scope.resource_attributes)
        per_scope: dict[str, pa.Array] = {
            "service_name": pa.array([s.service_name for s in self._scopes], pa.string()),
            "scope_name": pa.array([s.scope_name for s in self._scopes], pa.string()),
            "scope_version": pa.array([s.scope_version for s in self._scopes], pa.string()),
            **resource.columns(),
        }
        indices = pa.array(self._scope_of_row, type=pa.int32())
        return {name: array.take(indices) for name, array in per_scope.items()}
