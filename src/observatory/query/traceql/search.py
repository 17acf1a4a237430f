"""Runs a TraceQL search and shapes the answer as Tempo's search response.

Three queries: the search itself (trace ids, matched counts, chosen span ids), the merged
`trace_summaries` rows of the found traces, and the chosen spans' details. Span details are
read last, for at most `limit * spss` spans, so `select()`ed attributes cost nothing per
inspected span, as in Tempo.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from observatory.api.otlp_json import key_values
from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.fields import SCOPE_PREFIXES, SERVICE_NAME
from observatory.query.traceql.params import SqlParams
from observatory.query.traceql.parser import KIND_CODES, STATUS_CODES
from observatory.query.traceql.search_sql import WINDOW, SearchBounds, compile_search
from observatory.store.protocol import Store

ROOT_NOT_YET_RECEIVED = "<root span not yet received>"  # Tempo's text when the root is missing
# Ids as FixedString: a String set would miss ids ending in zero bytes, which IN compares
# without their padding.
_IDS = "(SELECT toFixedString(unhex(arrayJoin(splitByChar(',', {%s:String}))), %d))"
SUMMARIES = f"""
SELECT trace_id, toUnixTimestamp64Nano(min(start_time)) AS start_ns,
    toUnixTimestamp64Nano(max(end_time)) AS end_ns,
    max(root_service_name) AS root_service, max(root_name) AS root_name
FROM trace_summaries
WHERE tenant = {{tenant:String}} AND trace_id IN {_IDS % ("ids", 16)}
GROUP BY trace_id
"""
SPAN_DETAILS = f"""
SELECT trace_id, span_id, name, toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns,
    service_name, status_code, status_message, kind__MAPS__
FROM spans
WHERE {WINDOW} AND trace_id IN {_IDS % ("ids", 16)} AND span_id IN {_IDS % ("span_ids", 8)}
"""
_MAPS = ", attributes, attributes_int, attributes_float, attributes_bool, attributes_json, "
_MAPS += "resource_attributes, resource_attributes_int, resource_attributes_float, "
_MAPS += "resource_attributes_bool, resource_attributes_json"
_STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
_KIND_NAMES = {code: name for name, code in KIND_CODES.items()}
# Intrinsics shown as span attributes when a query uses them; the others are span fields.
_SHOWN_INTRINSICS = {"status", "statusMessage", "kind"}


def query_fields(node: object) -> Iterator[ast.Field]:
    """Every field a query reads or selects, in order of appearance."""
    if isinstance(node, ast.Attribute | ast.Intrinsic):
        yield node
    elif isinstance(node, ast.Query):
        yield from query_fields(node.root)
    elif isinstance(node, ast.Comparison):
        yield node.field
    elif isinstance(node, ast.Not):
        yield from query_fields(node.operand)
    elif isinstance(node, ast.Logical | ast.SpansetOp):
        yield from query_fields(node.left)
        yield from query_fields(node.right)
    elif isinstance(node, ast.SpansetFilter):
        yield from query_fields(node.condition)
    elif isinstance(node, ast.Pipeline):
        yield from query_fields(node.source)
        for stage in node.stages:
            yield from query_fields(stage)
    elif isinstance(node, ast.Select):
        yield from node.fields


def hex_list(values: Iterable[bytes]) -> str:
    return ",".join(value.hex() for value in values)


class TraceSearch:
    def __init__(self, store: Store) -> None:
        self.store = store

    def search(self, query: ast.Query, bounds: SearchBounds) -> dict[str, Any]:
        """Tempo's search response for a parsed query."""
        compiled = compile_search(query, bounds)
        found = self._query(compiled.sql, compiled.params)
        summaries = self._summaries(bounds.tenant, found)
        fields = list(dict.fromkeys(query_fields(query)))
        spans = self._spans(bounds, found, needs_maps=any(_is_attribute(f) for f in fields))
        traces = [_trace(row, summaries, spans, fields) for row in found]
        inspected = int(found[0]["__inspected"]) if found else 0
        return {"traces": traces, "metrics": _metrics(inspected)}

    def _query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return query_rows(self.store, sql, params)

    def _summaries(self, tenant: str, found: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
        if not found:
            return {}
        params = SqlParams(tenant=tenant, ids=hex_list(row["trace_id"] for row in found))
        rows = self._query(SUMMARIES, params.values)
        return {row["trace_id"]: row for row in rows}

    def _spans(
        self, bounds: SearchBounds, found: list[dict[str, Any]], needs_maps: bool
    ) -> dict[tuple[bytes, bytes], dict[str, Any]]:
        span_ids = {span for row in found for span in row["__picked"]}
        if not span_ids:
            return {}
        params = SqlParams(
            tenant=bounds.tenant,
            start_ns=bounds.start_ns,
            end_ns=bounds.end_ns,
            ids=hex_list(row["trace_id"] for row in found),
            span_ids=hex_list(span_ids),
        )
        sql = SPAN_DETAILS.replace("__MAPS__", _MAPS if needs_maps else "")
        rows = self._query(sql, params.values)
        return {(row["trace_id"], row["span_id"]): row for row in rows}


def query_rows(store: Store, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        rows: list[dict[str, Any]] = store.query(sql, params).to_pylist()
    except RuntimeError as exc:
        raise _store_error(exc) from None
    return rows


def _is_attribute(field: ast.Field) -> bool:
    return isinstance(field, ast.Attribute)


def _store_error(exc: RuntimeError) -> Exception:
    """A regular expression RE2 refuses is the user's error; anything else is ours."""
    text = str(exc)
    if "re2" in text or "regular expression" in text.lower():
        detail = text.split("error:", 1)[-1].split(".", 1)[0].strip()
        return QueryError(f"invalid TraceQL query: bad regular expression: {detail}")
    return exc


def _metrics(inspected: int) -> dict[str, Any]:
    # inspectedBytes is a uint64, which Tempo's JSON writes as a string.
    return {"inspectedTraces": inspected, "inspectedBytes": "0", "completedJobs": 1, "totalJobs": 1}


def _trace(
    row: dict[str, Any],
    summaries: dict[bytes, dict[str, Any]],
    spans: dict[tuple[bytes, bytes], dict[str, Any]],
    fields: list[ast.Field],
) -> dict[str, Any]:
    trace_id = row["trace_id"]
    summary = summaries.get(trace_id, {})
    start, end = int(summary.get("start_ns", 0)), int(summary.get("end_ns", 0))
    chosen = [spans[(trace_id, s)] for s in row["__picked"] if (trace_id, s) in spans]
    spanset = {"spans": [_span(s, fields) for s in chosen], "matched": int(row["__matched"])}
    out: dict[str, Any] = {
        "traceID": trace_id.hex(),
        "rootServiceName": summary.get("root_service") or ROOT_NOT_YET_RECEIVED,
        "startTimeUnixNano": str(start),
        "durationMs": max(end - start, 0) // 1_000_000,
        "spanSet": spanset,
        "spanSets": [spanset],
    }
    if summary.get("root_name"):
        out["rootTraceName"] = summary["root_name"]
    return out


def _span(row: dict[str, Any], fields: list[ast.Field]) -> dict[str, Any]:
    return {
        "spanID": row["span_id"].hex(),
        "name": row["name"],
        "startTimeUnixNano": str(row["start_ns"]),
        "durationNanos": str(row["duration_ns"]),
        "attributes": _span_attributes(row, fields),
    }


def _span_attributes(row: dict[str, Any], fields: list[ast.Field]) -> list[dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    for field in fields:
        if isinstance(field, ast.Attribute):
            found = _attribute_value(row, field)
            if found is not None:
                shown.setdefault(field.name, found)
        elif field.name in _SHOWN_INTRINSICS:
            shown.setdefault(field.name, _intrinsic_value(row, field.name))
    shown.setdefault(SERVICE_NAME, {"stringValue": row["service_name"]})
    return [{"key": key, "value": value} for key, value in shown.items()]


def _attribute_value(row: dict[str, Any], field: ast.Attribute) -> dict[str, Any] | None:
    scopes = ("span", "resource") if field.scope == "" else (field.scope,)
    for scope in scopes:
        for pair in key_values(row, SCOPE_PREFIXES[scope]):
            if pair["key"] == field.name:
                value: dict[str, Any] = pair["value"]
                return value
    return None


def _intrinsic_value(row: dict[str, Any], name: str) -> dict[str, Any]:
    if name == "status":
        return {"stringValue": _STATUS_NAMES.get(row["status_code"], "unset")}
    if name == "kind":
        return {"stringValue": _KIND_NAMES.get(row["kind"], "unspecified")}
    return {"stringValue": row["status_message"]}
