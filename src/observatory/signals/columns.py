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
    """Base of the span and log builders: scalars, scope columns, two attribute sets."""

    SCHEMA: ClassVar[pa.Schema]
    SCALARS: ClassVar[tuple[str, ...]]

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.rows = 0
        self._cols: dict[str, list[object]] = {name: [] for name in self.SCALARS}
        self._shared: dict[str, list[object]] = {
            "service_name": [],
            "scope_name": [],
            "scope_version": [],
        }
        self._resource = AttributeColumns("resource_attributes")
        self._attributes = AttributeColumns("attributes")

    def append(self, scope: ScopeContext, attributes: Attributes, **values: object) -> None:
        """Add one row; `values` holds every name in `SCALARS`."""
        for name in self.SCALARS:
            self._cols[name].append(values[name])
        self._shared["service_name"].append(scope.service_name)
        self._shared["scope_name"].append(scope.scope_name)
        self._shared["scope_version"].append(scope.scope_version)
        self._resource.append(scope.resource_attributes)
        self._attributes.append(attributes)
        self.rows += 1

    def table(self) -> pa.Table:
        arrays: dict[str, object] = {"tenant": [self.tenant] * self.rows}
        arrays.update(self._cols)
        arrays.update(self._shared)
        arrays.update(self._resource.columns())
        arrays.update(self._attributes.columns())
        return build_table(self.SCHEMA, arrays)
