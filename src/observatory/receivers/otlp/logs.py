"""OTLP logs into a log batch."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from observatory.receivers.otlp.common import DecodeContext, any_value, batch_of, scoped_items
from observatory.signals.attributes import KvList, any_value_json
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.logs import LogColumns, LogRow
from observatory.signals.spans import SPAN_ID_BYTES, TRACE_ID_BYTES, ids_or_zero

_REFUSED_RECORD = "log record over attribute limits"


def decode_logs(request: Any, ctx: DecodeContext) -> SignalBatch:
    """Every record of an `ExportLogsServiceRequest`, or a refusal counted in `ctx`."""
    columns = LogColumns(ctx.tenant)
    groups = request.resource_logs
    for scope, record in scoped_items(ctx, columns, groups, "scope_logs", "log_records"):
        _append_record(columns, scope, record, ctx)
    return batch_of(Signal.LOGS, "logs", columns, ctx)


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
    row = LogRow(
        # A record without its own time is placed at the time it was observed.
        timestamp=record.time_unix_nano or observed,
        observed_timestamp=observed or record.time_unix_nano,
        severity_number=record.severity_number,
        severity_text=record.severity_text,
        body=text,
        body_any=encoded,
        trace_id=ids_or_zero(record.trace_id, TRACE_ID_BYTES),
        span_id=ids_or_zero(record.span_id, SPAN_ID_BYTES),
        flags=record.flags,
        event_name=record.event_name,
        dropped_attributes_count=record.dropped_attributes_count + dropped,
    )
    columns.append(scope, attributes, row)
