"""OTLP logs into a log batch, each record in a Loki stream.

A record's stream is labelled as Loki's OTLP endpoint labels it by default: the resource
attributes of `INDEX_LABEL_ATTRIBUTES`, dots made underscores, and `service_name`. Records
without trace ids or a severity get them from their attributes or body where found there.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from observatory.pipeline.processors import KeyValues
from observatory.receivers.log_enrichment import (
    Severity,
    detect_level,
    level_value,
    severity_of,
    severity_or_text,
)
from observatory.receivers.otlp.common import (
    DecodeContext,
    accepted_resources,
    any_value,
    batch_of,
    scope_context,
)
from observatory.signals.attributes import AttributeValue, KvList, any_value_json
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.logs import LogColumns, LogRow
from observatory.signals.spans import SPAN_ID_BYTES, TRACE_ID_BYTES, ids_or_zero

_REFUSED_RECORD = "log record over attribute limits"
_NO_TRACE = bytes(TRACE_ID_BYTES)
SERVICE_NAME_LABEL = "service_name"
# Loki's default `otlp_config` index labels: resource attributes that name where logs come
# from. The others stay resource attributes (Loki's structured metadata).
INDEX_LABEL_ATTRIBUTES = frozenset(
    {
        "service.name",
        "service.namespace",
        "service.instance.id",
        "deployment.environment",
        "deployment.environment.name",
        "cloud.region",
        "cloud.availability_zone",
        "k8s.cluster.name",
        "k8s.namespace.name",
        "k8s.pod.name",
        "k8s.container.name",
        "container.name",
        "k8s.replicaset.name",
        "k8s.deployment.name",
        "k8s.statefulset.name",
        "k8s.daemonset.name",
        "k8s.cronjob.name",
        "k8s.job.name",
    }
)


def decode_logs(request: Any, ctx: DecodeContext) -> SignalBatch:
    """Every record of an `ExportLogsServiceRequest`, or a refusal counted in `ctx`."""
    columns = LogColumns(ctx.tenant)
    groups = request.resource_logs
    for resource, scoped_groups in accepted_resources(ctx, groups, "scope_logs", "log_records"):
        labels = stream_labels(*resource)
        for scoped in scoped_groups:
            scope = columns.add_scope(scope_context(resource, scoped.scope), labels)
            for record in scoped.log_records:
                _append_record(columns, scope, record, ctx)
    return batch_of(Signal.LOGS, "logs", columns, ctx)


def stream_labels(attributes: KeyValues, service: str) -> dict[str, str]:
    """The Loki stream labels of a resource: `service_name` and its index-label attributes."""
    labels = {SERVICE_NAME_LABEL: service}
    for key, value in attributes:
        if key in INDEX_LABEL_ATTRIBUTES and key != "service.name":
            text = label_text(value)
            if text:
                labels[key.replace(".", "_")] = text
    return labels


def label_text(value: AttributeValue) -> str:
    """An attribute value as a label value: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(_plain(value)).decode()


def body_text(body: Any) -> tuple[str, str]:
    """The body as text for search, and its OTLP/JSON form when it is not a string."""
    if body.WhichOneof("value") == "string_value":
        return body.string_value, ""
    if body.WhichOneof("value") is None:
        return "", ""
    value = any_value(body)
    encoded = orjson.dumps(any_value_json(value)).decode()
    return orjson.dumps(_plain(value)).decode(), encoded


def _plain(value: object) -> object:
    """A value as ordinary JSON: key-value lists as objects, bytes as base64."""
    if isinstance(value, KvList):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _append_record(columns: LogColumns, scope: int, record: Any, ctx: DecodeContext) -> None:
    limited = ctx.item_attributes(record.attributes)
    if limited is None:
        ctx.reject(1, _REFUSED_RECORD)
        return
    attributes, dropped = limited
    text, encoded = body_text(record.body)
    observed = record.observed_time_unix_nano
    severity_number, severity_text = record_severity(record, attributes, text)
    trace_id = ids_or_zero(record.trace_id, TRACE_ID_BYTES)
    span_id = ids_or_zero(record.span_id, SPAN_ID_BYTES)
    if trace_id == _NO_TRACE:
        trace_id, span_id = ctx.ids.ids(text, attributes)
    row = LogRow(
        # A record without its own time is placed at the time it was observed.
        timestamp=record.time_unix_nano or observed,
        observed_timestamp=observed or record.time_unix_nano,
        severity_number=severity_number,
        severity_text=severity_text,
        body=text,
        body_any=encoded,
        trace_id=trace_id,
        span_id=span_id,
        flags=record.flags,
        event_name=record.event_name,
        dropped_attributes_count=record.dropped_attributes_count + dropped,
    )
    columns.append(scope, attributes, row)


def record_severity(record: Any, attributes: KeyValues, body: str) -> Severity:
    """The record's severity; when it has no number, one from its text, a level attribute or
    its body, as Loki's `detected_level` finds it."""
    number, text = record.severity_number, record.severity_text
    if number:
        return number, text
    if text:
        known = severity_of(text)
        return (known[0] if known is not None else 0), text
    value = level_value(attributes)
    if value is not None:
        return severity_or_text(value)
    return detect_level(body)
