"""Tag names and tag values for search autocompletion, within a time window.

Values come back typed (`string`, `int`, `float`, `bool`, `keyword`), as Tempo's v2 API
answers. An optional span condition (the `q` parameter's `{ ... }`) restricts both to the spans
it matches. `DISTINCT ... LIMIT` lets ClickHouse stop reading once it has enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from observatory.query.traceql import ast
from observatory.query.traceql.conditions import ConditionCompiler
from observatory.query.traceql.fields import SCOPE_PREFIXES, AttributeSql, scope_sql
from observatory.query.traceql.params import SqlParams
from observatory.query.traceql.parser import KIND_CODES, STATUS_CODES
from observatory.query.traceql.search import query_rows
from observatory.query.traceql.search_sql import TRACE_JOIN, WINDOW
from observatory.store.protocol import Store

INTRINSIC_TAGS = (
    "duration", "event:name", "instrumentation:name", "instrumentation:version", "kind", "name",
    "rootName", "rootServiceName", "span:duration", "span:id", "span:kind", "span:name",
    "span:parentID", "span:status", "span:statusMessage", "status", "statusMessage",
    "trace:duration", "trace:id", "trace:rootName", "trace:rootService", "traceDuration",
)  # fmt: skip
_KEYS = "arrayConcat(mapKeys({p}), mapKeys({p}_int), mapKeys({p}_float), mapKeys({p}_bool), "
_KEYS += "mapKeys({p}_json))"
_IS_ROOT = "reinterpretAsUInt64(parent_span_id) = 0"
# Per span, the values an intrinsic offers, as (type, value) pairs.
INTRINSIC_VALUES = {
    "name": "[('string', toString(name))]",
    "statusMessage": "if(status_message = '', [], [('string', status_message)])",
    "status": "[('keyword', toString(status_code))]",
    "kind": "[('keyword', toString(kind))]",
    "rootName": f"if({_IS_ROOT}, [('string', toString(name))], [])",
    "rootServiceName": f"if({_IS_ROOT}, [('string', toString(service_name))], [])",
    "instrumentation:name": "if(scope_name = '', [], [('string', toString(scope_name))])",
    "instrumentation:version": "if(scope_version = '', [], [('string', toString(scope_version))])",
    "event:name": "arrayMap(__e -> ('string', tupleElement(__e, 'name')), events)",
}
_CODE_NAMES = {
    "status": {str(code): name for name, code in STATUS_CODES.items()},
    "kind": {str(code): name for name, code in KIND_CODES.items()},
}


@dataclass(frozen=True)
class TagWindow:
    tenant: str
    start_ns: int
    end_ns: int
    limit: int
    condition: ast.Condition | None = None


def _typed_pairs(scope: AttributeSql) -> str:
    """Per span, the attribute's value as (type, text) pairs: none, or one per map holding it."""
    candidates = [
        f"('string', {scope.get('string')}, {scope.has('string')})",
        f"('int', toString({scope.get('int')}), {scope.has('int')})",
        f"('float', toString({scope.get('float')}), {scope.has('float')})",
        f"('bool', if({scope.get('bool')}, 'true', 'false'), {scope.has('bool')})",
    ]
    return f"arrayMap(__v -> (__v.1, __v.2), arrayFilter(__v -> __v.3, [{', '.join(candidates)}]))"


class TagCatalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def tag_names(self, window: TagWindow, scope: str) -> list[str]:
        """Attribute names of one scope (`span` or `resource`), sorted."""
        params = _params(window)
        source, where = _filter(window, params)
        keys = _KEYS.format(p=SCOPE_PREFIXES[scope])
        sql = (
            f"SELECT tag FROM (SELECT DISTINCT arrayJoin({keys}) AS tag FROM {source} "
            f"WHERE {where} LIMIT {{limit:UInt32}}) ORDER BY tag"
        )
        return [str(row["tag"]) for row in query_rows(self.store, sql, params.values)]

    def values(self, window: TagWindow, field: ast.Field) -> list[dict[str, str]]:
        """Distinct values of a field as `{"type", "value"}`, sorted by type then value."""
        params = _params(window)
        pairs = self._pairs(field, params)
        if pairs is None:
            return []
        source, where = _filter(window, params)
        sql = (
            "SELECT DISTINCT __v.1 AS type, __v.2 AS value "
            f"FROM {source} ARRAY JOIN {pairs} AS __v WHERE {where} LIMIT {{limit:UInt32}}"
        )
        named = [_named(field, row) for row in query_rows(self.store, sql, params.values)]
        return sorted(named, key=lambda item: (item["type"], item["value"]))

    def _pairs(self, field: ast.Field, params: SqlParams) -> str | None:
        if isinstance(field, ast.Intrinsic):
            return INTRINSIC_VALUES.get(field.name)
        scopes = [_typed_pairs(scope) for scope in scope_sql(field, params)]
        return scopes[0] if len(scopes) == 1 else f"arrayConcat({', '.join(scopes)})"


def _params(window: TagWindow) -> SqlParams:
    return SqlParams(
        tenant=window.tenant, start_ns=window.start_ns, end_ns=window.end_ns, limit=window.limit
    )


def _filter(window: TagWindow, params: SqlParams) -> tuple[str, str]:
    """The FROM source and WHERE condition of the window's spans that match the condition."""
    if window.condition is None:
        return "spans", WINDOW
    conditions = ConditionCompiler(params)
    sql = conditions.compile(window.condition)
    return (TRACE_JOIN if conditions.trace_level else "spans"), f"{WINDOW} AND {sql}"


def _named(field: ast.Field, row: dict[str, Any]) -> dict[str, str]:
    """Status and kind codes by their TraceQL names."""
    value = str(row["value"])
    if isinstance(field, ast.Intrinsic) and field.name in _CODE_NAMES:
        value = _CODE_NAMES[field.name].get(value, value)
    return {"type": str(row["type"]), "value": value}
