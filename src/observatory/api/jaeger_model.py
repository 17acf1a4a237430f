"""Stored span rows in Jaeger's JSON model, as the Jaeger UI and Grafana read it.

Follows what Jaeger itself shows for OTLP data: the resource becomes the process (its
`service.name` the service name), span kind, status and scope become tags (`span.kind`,
`otel.status_code`, `error`, `otel.status_description`, `otel.scope.name`), events become
logs, the parent a CHILD_OF reference and links FOLLOWS_FROM references.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from observatory.query.jaeger import KIND_NAMES, STATUS_ERROR, STATUS_NAMES
from observatory.signals.attributes import KIND_SUFFIXES

UNKNOWN_SERVICE = "unknown_service"
SERVICE_NAME = "service.name"
_TAG_TYPES = {"": "string", "_int": "int64", "_float": "float64", "_bool": "bool"}

Tag = dict[str, Any]


def trace_id_text(trace_id: bytes) -> str:
    """Jaeger writes a 128-bit id whose high half is zero as 16 hex digits (a 64-bit id)."""
    return trace_id[8:].hex() if not any(trace_id[:8]) else trace_id.hex()


def tag(key: str, value: Any) -> Tag:
    """A Jaeger key-value from a plain Python value."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return _float_tag(key, value)
    return {"key": key, "type": "string", "value": str(value)}


def _float_tag(key: str, value: float) -> Tag:
    # JSON has no NaN or infinity; Jaeger cannot show them either, so they go as text.
    if math.isfinite(value):
        return {"key": key, "type": "float64", "value": value}
    return {"key": key, "type": "string", "value": str(value)}


def _plain(any_value: dict[str, Any]) -> Any:
    """An OTLP/JSON AnyValue as a plain value; arrays and maps as their JSON, as Jaeger does."""
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "boolValue" in any_value:
        return bool(any_value["boolValue"])
    if "arrayValue" in any_value:
        return [_plain(v) for v in any_value["arrayValue"].get("values", [])]
    if "kvlistValue" in any_value:
        pairs = any_value["kvlistValue"].get("values", [])
        return {kv["key"]: _plain(kv.get("value", {})) for kv in pairs}
    return ""


def json_tag(key: str, any_value_json: str) -> Tag:
    """A tag from the JSON map (bytes, arrays and key-value lists)."""
    any_value: dict[str, Any] = json.loads(any_value_json)
    if "bytesValue" in any_value:
        return {"key": key, "type": "binary", "value": any_value["bytesValue"]}
    value = _plain(any_value)
    if isinstance(value, list | dict):
        return {"key": key, "type": "string", "value": json.dumps(value, separators=(",", ":"))}
    return tag(key, value)


def _typed_tag(suffix: str, key: str, value: Any) -> Tag:
    if suffix == "_json":
        return json_tag(key, value)
    if suffix == "_float":
        return _float_tag(key, float(value))
    return {"key": key, "type": _TAG_TYPES[suffix], "value": value}


def attribute_tags(row: dict[str, Any], prefix: str) -> list[Tag]:
    """The five typed attribute maps of a row as Jaeger tags, sorted by key."""
    tags = [
        _typed_tag(suffix, key, value)
        for suffix in KIND_SUFFIXES
        for key, value in row[prefix + suffix]
    ]
    tags.sort(key=lambda t: str(t["key"]))
    return tags


def otlp_key_value_tags(encoded: str) -> list[Tag]:
    """Event attributes, stored as one JSON string of OTLP/JSON key-values."""
    pairs: list[dict[str, Any]] = json.loads(encoded) if encoded else []
    return [json_tag(kv["key"], json.dumps(kv.get("value", {}))) for kv in pairs]


def derived_tags(row: dict[str, Any]) -> list[Tag]:
    """What Jaeger shows of the OTLP span's own fields, after its attributes."""
    tags: list[Tag] = []
    if row["scope_name"]:
        tags.append(tag("otel.scope.name", row["scope_name"]))
    if row["scope_version"]:
        tags.append(tag("otel.scope.version", row["scope_version"]))
    if row["kind"] in KIND_NAMES:
        tags.append(tag("span.kind", KIND_NAMES[row["kind"]]))
    tags.extend(status_tags(row["status_code"], row["status_message"]))
    if row["trace_state"]:
        tags.append(tag("w3c.tracestate", row["trace_state"]))
    return tags


def status_tags(code: int, message: str) -> list[Tag]:
    tags: list[Tag] = []
    if code in STATUS_NAMES:
        tags.append(tag("otel.status_code", STATUS_NAMES[code]))
    if code == STATUS_ERROR:
        tags.append(tag("error", True))
    if message:
        tags.append(tag("otel.status_description", message))
    return tags


def references(row: dict[str, Any]) -> list[dict[str, str]]:
    """The parent as CHILD_OF, first, as Jaeger expects it; then links as FOLLOWS_FROM."""
    refs: list[dict[str, str]] = []
    if any(row["parent_span_id"]):
        refs.append(_reference("CHILD_OF", row["trace_id"], row["parent_span_id"]))
    for link in row["links"]:
        refs.append(_reference("FOLLOWS_FROM", link["trace_id"], link["span_id"]))
    return refs


def _reference(kind: str, trace_id: bytes, span_id: bytes) -> dict[str, str]:
    return {"refType": kind, "traceID": trace_id_text(trace_id), "spanID": span_id.hex()}


def logs(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": int(event["time_unix_nano"]) // 1000,
            "fields": [tag("event", event["name"]), *otlp_key_value_tags(event["attributes"])],
        }
        for event in row["events"]
    ]


def process(row: dict[str, Any]) -> dict[str, Any]:
    """The resource as a Jaeger process: its service name, and its other attributes as tags."""
    tags = attribute_tags(row, "resource_attributes")
    names = [t["value"] for t in tags if t["key"] == SERVICE_NAME and t["type"] == "string"]
    service = names[0] if names else row.get("service_name") or UNKNOWN_SERVICE
    return {"serviceName": service, "tags": [t for t in tags if t["key"] != SERVICE_NAME]}


def span(row: dict[str, Any], process_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceID": trace_id_text(row["trace_id"]),
        "spanID": row["span_id"].hex(),
        "operationName": row["name"],
        "references": references(row),
        "startTime": int(row["start_ns"]) // 1000,
        "duration": int(row["duration_ns"]) // 1000,
        "tags": [*attribute_tags(row, "attributes"), *derived_tags(row)],
        "logs": logs(row),
        "processID": process_id,
        "warnings": None,
    }
    # Jaeger's flags are the W3C trace flags (1: sampled), left out when zero.
    if row["flags"] & 0xFF:
        out["flags"] = row["flags"] & 0xFF
    return out


class _TraceBuilder:
    """One trace's spans, with processes numbered p1, p2, ... in first-seen order."""

    def __init__(self, trace_id: bytes) -> None:
        self.trace_id = trace_id
        self.spans: list[dict[str, Any]] = []
        self.processes: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, str] = {}

    def add(self, row: dict[str, Any]) -> None:
        found = process(row)
        key = json.dumps(found, sort_keys=True)
        if key not in self._ids:
            self._ids[key] = f"p{len(self._ids) + 1}"
            self.processes[self._ids[key]] = found
        self.spans.append(span(row, self._ids[key]))

    def build(self) -> dict[str, Any]:
        return {
            "traceID": trace_id_text(self.trace_id),
            "spans": self.spans,
            "processes": self.processes,
            "warnings": None,
        }


def traces(
    rows: Iterable[dict[str, Any]], order: list[bytes] | None = None
) -> list[dict[str, Any]]:
    """Rows of one or more traces as Jaeger traces, in `order` (default: first seen)."""
    builders: dict[bytes, _TraceBuilder] = {}
    for row in rows:
        trace_id = bytes(row["trace_id"])
        builders.setdefault(trace_id, _TraceBuilder(trace_id)).add(row)
    ids = order if order is not None else list(builders)
    return [builders[trace_id].build() for trace_id in ids if trace_id in builders]
