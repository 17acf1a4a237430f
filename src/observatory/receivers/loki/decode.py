"""Loki push bodies into streams of entries, before any limit is checked.

Three shapes reach the push endpoints: snappy-compressed `logproto.PushRequest` protobuf, the
v1 JSON (`{"streams":[{"stream":{...},"values":[["<ns>","line",{metadata}]]}]}`) and the
JSON of the legacy `/api/prom/push` (`{"streams":[{"labels":"{...}","entries":[{"ts":
"<RFC 3339>","line":"..."}]}]}`). Either JSON shape is accepted on either path. Anything
malformed refuses the whole push with a 400 naming the stream and entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import orjson

from observatory.errors import BadRequestError, UnsupportedMediaTypeError
from observatory.pipeline.processors import KeyValues
from observatory.receivers.body import decompress
from observatory.receivers.loki.pushpb import StreamMessage, parse_push_request
from observatory.receivers.loki.streams import parse_labels
from observatory.receivers.remote_write import snappy_decompress

JSON = "json"
PROTOBUF = "protobuf"
NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


class PushEntry(NamedTuple):
    timestamp: int
    line: str
    # Structured metadata: (name, value) pairs of strings.
    metadata: KeyValues


@dataclass(slots=True)
class PushStream:
    labels: dict[str, str]
    entries: list[PushEntry]


def body_format(content_type: str | None) -> str:
    """JSON or protobuf from the Content-Type; protobuf when there is none, as in Loki."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/json":
        return JSON
    if media in ("", "application/x-protobuf"):
        return PROTOBUF
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Type {content_type!r}: push application/json or "
        "application/x-protobuf (snappy-compressed logproto.PushRequest)"
    )


def decode_body(body: bytes, fmt: str, encoding: str | None, cap: int) -> list[PushStream]:
    """The streams of a push body, decompressed within `cap` bytes."""
    name = (encoding or "").strip().lower()
    if fmt == PROTOBUF:
        # The message is always snappy-compressed; gzip or deflate may wrap it once more.
        data = body if name in ("", "identity", "snappy") else decompress(body, name, cap)
        return protobuf_streams(snappy_decompress(data, cap))
    return json_streams(decompress(body, encoding, cap))


def protobuf_streams(data: bytes) -> list[PushStream]:
    request = parse_push_request(data)
    parsed: dict[str, dict[str, str]] = {}
    return [_protobuf_stream(stream, parsed) for stream in request.streams]


def _protobuf_stream(stream: StreamMessage, parsed: dict[str, dict[str, str]]) -> PushStream:
    # Senders batch many pushes of one stream; each label string is parsed once a request.
    labels = parsed.get(stream.labels)
    if labels is None:
        labels = parsed[stream.labels] = parse_labels(stream.labels)
    entries = [
        PushEntry(
            entry.timestamp.seconds * NS + entry.timestamp.nanos,
            entry.line,
            [(pair.name, pair.value) for pair in entry.structuredMetadata if pair.value],
        )
        for entry in stream.entries
    ]
    return PushStream(dict(labels), entries)


def json_streams(data: bytes) -> list[PushStream]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadRequestError('body must be a JSON object with a "streams" list')
    streams = document.get("streams")
    if not isinstance(streams, list):
        raise BadRequestError('body must be a JSON object with a "streams" list')
    return [_json_stream(f"streams[{i}]", stream) for i, stream in enumerate(streams)]


def _json_stream(where: str, stream: Any) -> PushStream:
    if not isinstance(stream, dict):
        raise BadRequestError(f"{where} must be a JSON object")
    if "labels" in stream and "stream" not in stream:
        return _legacy_stream(where, stream)
    labels = _string_map(f"{where}.stream", stream.get("stream", {}))
    values = stream.get("values")
    if not isinstance(values, list):
        raise BadRequestError(f'{where} has no "values" list')
    entries = [_v1_entry(f"{where}.values[{i}]", value) for i, value in enumerate(values)]
    return PushStream(labels, entries)


def _string_map(where: str, value: Any) -> dict[str, str]:
    """A JSON object of strings, empty values dropped."""
    if not isinstance(value, dict):
        raise BadRequestError(f"{where} must be a JSON object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise BadRequestError(f"{where}.{key} must be a string, not {_json_type(item)}")
    return {key: item for key, item in value.items() if item}


def _v1_entry(where: str, value: Any) -> PushEntry:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise BadRequestError(
            f'{where} must be ["<unix epoch in nanoseconds>", "<log line>"] with an optional '
            "object of structured metadata"
        )
    timestamp = parse_ns(where, value[0])
    line = value[1]
    if not isinstance(line, str):
        raise BadRequestError(f"{where}: the log line must be a string, not {_json_type(line)}")
    metadata = _string_map(f"{where}[2]", value[2]) if len(value) == 3 else {}
    return PushEntry(timestamp, line, list(metadata.items()))


def _legacy_stream(where: str, stream: dict[str, Any]) -> PushStream:
    text = stream["labels"]
    if not isinstance(text, str):
        raise BadRequestError(f"{where}.labels must be a label string like '{{app=\"api\"}}'")
    entries = stream.get("entries")
    if not isinstance(entries, list):
        raise BadRequestError(f'{where} has no "entries" list')
    return PushStream(
        parse_labels(text),
        [_legacy_entry(f"{where}.entries[{i}]", entry) for i, entry in enumerate(entries)],
    )


def _legacy_entry(where: str, entry: Any) -> PushEntry:
    if not isinstance(entry, dict):
        raise BadRequestError(f'{where} must be an object with "ts" and "line"')
    line = entry.get("line")
    if not isinstance(line, str):
        raise BadRequestError(f'{where} must have a string "line"')
    return PushEntry(parse_rfc3339(f"{where}.ts", entry.get("ts")), line, [])


def parse_ns(where: str, raw: Any) -> int:
    """A timestamp in nanoseconds since the Unix epoch, sent as a decimal string."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    raise BadRequestError(
        f"{where}: timestamp {raw!r} is not a string of nanoseconds since the Unix epoch"
    )


def parse_rfc3339(where: str, raw: Any) -> int:
    """An RFC 3339 time (`2024-05-01T12:00:00.123456789Z`) in nanoseconds, digits kept."""
    match = _RFC3339.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise BadRequestError(f"{where}: timestamp {raw!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = match.groups()
    offset = timedelta(0) if utc else timedelta(hours=int(off_h), minutes=int(off_m))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except ValueError as exc:
        raise BadRequestError(f"{where}: timestamp {raw!r} is not a valid time: {exc}") from exc
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return seconds * NS + int((fraction or "").ljust(9, "0"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
    }.get(type(value), "an object")
