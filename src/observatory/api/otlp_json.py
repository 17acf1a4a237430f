"""Stored span rows back into OTLP's shape, grouped by resource and scope.

The same dicts serve OTLP/JSON (ids in hex) and, through protobuf's JSON parser, protobuf
(ids in base64), so both encodings come from one code path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import Any

from observatory.signals.attributes import KIND_SUFFIXES

IdEncoder = Callable[[bytes], str]


def hex_id(value: bytes) -> str:
    return value.hex()


def base64_id(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _typed_value(kind: str, value: Any) -> Any:
    if kind == "":
        return {"stringValue": value}
    if kind == "_int":
        return {"intValue": str(value)}
    if kind == "_float":
        return {"doubleValue": value}
    if kind == "_bool":
        return {"boolValue": bool(value)}
    return json.loads(value)


def key_values(row: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The five typed attribute maps of a row as one OTLP key-value list, sorted by key."""
    out = [
        {"key": key, "value": _typed_value(suffix, value)}
        for suffix in KIND_SUFFIXES
        for key, value in row[prefix + suffix]
    ]
    out.sort(key=lambda kv: kv["key"])
    return out


def _is_zero(value: bytes) -> bool:
    return not any(value)


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "timeUnixNano": str(event["time_unix_nano"]),
        "name": event["name"],
        "attributes": json.loads(event["attributes"]),
        "droppedAttributesCount": event["dropped_attributes_count"],
    }


def _link(link: dict[str, Any], encode: IdEncoder) -> dict[str, Any]:
    return {
        "traceId": encode(link["trace_id"]),
        "spanId": encode(link["span_id"]),
        "traceState": link["trace_state"],
        "attributes": json.loads(link["attributes"]),
        "droppedAttributesCount": link["dropped_attributes_count"],
        "flags": link["flags"],
    }


def span(row: dict[str, Any], encode: IdEncoder) -> dict[str, Any]:
    start = int(row["start_ns"])
    out: dict[str, Any] = {
        "traceId": encode(row["trace_id"]),
        "spanId": encode(row["span_id"]),
        "traceState": row["trace_state"],
        "flags": row["flags"],
        "name": row["name"],
        "kind": row["kind"],
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + int(row["duration_ns"])),
        "attributes": key_values(row, "attributes"),
        "droppedAttributesCount": row["dropped_attributes_count"],
        "events": [_event(e) for e in row["events"]],
        "droppedEventsCount": row["dropped_events_count"],
        "links": [_link(link, encode) for link in row["links"]],
        "droppedLinksCount": row["dropped_links_count"],
        "status": {"code": row["status_code"], "message": row["status_message"]},
    }
    if not _is_zero(row["parent_span_id"]):
        out["parentSpanId"] = encode(row["parent_span_id"])
    return out


def resource_spans(rows: Iterable[dict[str, Any]], encode: IdEncoder) -> list[dict[str, Any]]:
    """Spans grouped by resource, then by instrumentation scope, in first-seen order."""
    resources: dict[str, dict[str, Any]] = {}
    for row in rows:
        attributes = key_values(row, "resource_attributes")
        key = json.dumps(attributes, sort_keys=True)
        resource = resources.setdefault(
            key, {"resource": {"attributes": attributes}, "scopeSpans": {}}
        )
        scope_key = (row["scope_name"], row["scope_version"])
        scope = resource["scopeSpans"].setdefault(
            scope_key,
            {"scope": {"name": scope_key[0], "version": scope_key[1]}, "spans": []},
        )
        scope["spans"].append(span(row, encode))
    return [
        {"resource": r["resource"], "scopeSpans": list(r["scopeSpans"].values())}
        for r in resources.values()
    ]
