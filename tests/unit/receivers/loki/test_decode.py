"""Loki push bodies: the protobuf messages' wire format, JSON v1 and legacy JSON, errors."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import cramjam
import pytest

from observatory.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from observatory.receivers.loki import pushpb
from observatory.receivers.loki.decode import (
    JSON,
    PROTOBUF,
    PushEntry,
    PushStream,
    body_format,
    decode_body,
    parse_ns,
    parse_rfc3339,
)

T0 = 1_714_564_800_123_456_789  # 2024-05-01T12:00:00.123456789Z
CAP = 1 << 20


def push_request(*streams: tuple[str, list[tuple[int, str, dict[str, str]]]]) -> bytes:
    message = pushpb.PushRequest(
        streams=[
            pushpb.StreamAdapter(
                labels=labels,
                entries=[
                    pushpb.EntryAdapter(
                        timestamp={"seconds": ts // 10**9, "nanos": ts % 10**9},
                        line=line,
                        structuredMetadata=[
                            pushpb.LabelPairAdapter(name=k, value=v) for k, v in meta.items()
                        ],
                    )
                    for ts, line, meta in entries
                ],
            )
            for labels, entries in streams
        ]
    )
    return message.SerializeToString()


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def test_field_numbers_match_loki_push_proto() -> None:
    # Hand-encoded: PushRequest.streams(1) > StreamAdapter labels(1), entries(2) >
    # EntryAdapter timestamp(1: seconds 1, nanos 2), line(2), structuredMetadata(3) >
    # LabelPairAdapter name(1), value(2); StreamAdapter.hash(3) as a varint.
    pair = b"\x0a\x01k\x12\x01v"
    timestamp = b"\x08\x07\x10\x09"
    entry = b"\x0a\x04" + timestamp + b"\x12\x02hi" + b"\x1a\x06" + pair
    labels = b'{a="b"}'
    stream = b"\x0a\x07" + labels + b"\x12" + bytes([len(entry)]) + entry + b"\x18\x2a"
    data = b"\x0a" + bytes([len(stream)]) + stream
    parsed = pushpb.parse_push_request(data)
    got = parsed.streams[0]
    assert (got.labels, got.hash) == ('{a="b"}', 42)
    assert (got.entries[0].timestamp.seconds, got.entries[0].timestamp.nanos) == (7, 9)
    assert got.entries[0].line == "hi"
    meta = got.entries[0].structuredMetadata[0]
    assert (meta.name, meta.value) == ("k", "v")
    assert parsed.SerializeToString() == data


def test_protobuf_push_decodes_to_streams() -> None:
    body = snappy(
        push_request(
            ('{app="api", env=""}', [(T0, "first", {}), (T0 + 1, "second", {"user": "u1"})]),
            ("{}", [(T0, "bare", {"empty": ""})]),
        )
    )
    assert decode_body(body, PROTOBUF, None, CAP) == [
        PushStream(
            {"app": "api"},
            [PushEntry(T0, "first", []), PushEntry(T0 + 1, "second", [("user", "u1")])],
        ),
        PushStream({}, [PushEntry(T0, "bare", [])]),
    ]


def test_protobuf_may_be_gzipped_around_snappy() -> None:
    body = gzip.compress(snappy(push_request(('{a="b"}', [(T0, "x", {})]))))
    streams = decode_body(body, PROTOBUF, "gzip", CAP)
    assert streams[0].entries[0].line == "x"


def test_protobuf_errors() -> None:
    with pytest.raises(BadRequestError, match="snappy"):
        decode_body(b"\xff\xff\xff\xff\x0f garbage", PROTOBUF, "snappy", 1 << 40)
    with pytest.raises(BadRequestError, match=r"logproto\.PushRequest"):
        decode_body(snappy(b"\x0a\x05\x0a"), PROTOBUF, None, CAP)
    with pytest.raises(BadRequestError, match="parse error at col 4: unterminated"):
        decode_body(snappy(push_request(('{a="b}', [(T0, "x", {})]))), PROTOBUF, None, CAP)
    with pytest.raises(PayloadTooLargeError):
        decode_body(snappy(push_request(("{}", [(T0, "x" * 2000, {})]))), PROTOBUF, None, 1024)


def json_body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_json_v1_with_structured_metadata() -> None:
    body = json_body(
        {
            "streams": [
                {
                    "stream": {"app": "x", "blank": ""},
                    "values": [[str(T0), "line one"], [str(T0 + 5), "line two", {"tid": "abc"}]],
                }
            ]
        }
    )
    assert decode_body(body, JSON, None, CAP) == [
        PushStream(
            {"app": "x"},
            [PushEntry(T0, "line one", []), PushEntry(T0 + 5, "line two", [("tid", "abc")])],
        )
    ]


def test_json_compressed_with_gzip_or_deflate() -> None:
    document = {"streams": [{"stream": {"a": "b"}, "values": [[str(T0), "z"]]}]}
    for encoding, data in (
        ("gzip", gzip.compress(json_body(document))),
        ("deflate", zlib.compress(json_body(document))),
    ):
        assert decode_body(data, JSON, encoding, CAP)[0].entries[0].line == "z"
    with pytest.raises(UnsupportedMediaTypeError):
        decode_body(json_body(document), JSON, "br", CAP)


def test_legacy_json_with_rfc3339_times() -> None:
    body = json_body(
        {
            "streams": [
                {
                    "labels": '{app="legacy"}',
                    "entries": [
                        {"ts": "2024-05-01T12:00:00.123456789Z", "line": "old"},
                        {"ts": "2024-05-01T14:00:00.5+02:00", "line": "offset"},
                    ],
                }
            ]
        }
    )
    assert decode_body(body, JSON, None, CAP) == [
        PushStream(
            {"app": "legacy"},
            [PushEntry(T0, "old", []), PushEntry(1_714_564_800_500_000_000, "offset", [])],
        )
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], 'must be a JSON object with a "streams" list'),
        ({"streams": {}}, 'must be a JSON object with a "streams" list'),
        ({"streams": [1]}, r"streams\[0\] must be a JSON object"),
        ({"streams": [{"stream": {"a": 1}, "values": []}]}, r"stream.a must be a string"),
        ({"streams": [{"stream": {}}]}, r'streams\[0\] has no "values" list'),
        ({"streams": [{"stream": {}, "values": [["1"]]}]}, r"values\[0\] must be \["),
        (
            {"streams": [{"stream": {}, "values": [["1", "x"], ["abc", "y"]]}]},
            r"values\[1\]: timestamp 'abc' is not a string of nanoseconds",
        ),
        ({"streams": [{"stream": {}, "values": [["1", 5]]}]}, "log line must be a string"),
        (
            {"streams": [{"stream": {}, "values": [["1", "x", {"k": 1}]]}]},
            r"values\[0\]\[2\].k must be a string",
        ),
        ({"streams": [{"labels": "{a=b}", "entries": []}]}, "parse error at col 4"),
        (
            {"streams": [{"labels": "{}", "entries": [{"ts": "yesterday", "line": "x"}]}]},
            r"entries\[0\].ts: timestamp 'yesterday' is not an RFC 3339 time",
        ),
    ],
)
def test_malformed_json_names_the_problem(document: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        decode_body(json_body(document), JSON, None, CAP)


def test_invalid_json() -> None:
    with pytest.raises(BadRequestError, match="not valid JSON"):
        decode_body(b"{", JSON, None, CAP)


def test_body_format_from_content_type() -> None:
    assert body_format("application/json; charset=utf-8") == JSON
    assert body_format("application/x-protobuf") == PROTOBUF
    assert body_format(None) == PROTOBUF
    with pytest.raises(UnsupportedMediaTypeError, match="text/plain"):
        body_format("text/plain")


def test_timestamps() -> None:
    assert parse_ns("x", "1714564800123456789") == T0
    assert parse_ns("x", 5) == 5
    for bad in ("-1", "1.5", "", True, None):
        with pytest.raises(BadRequestError):
            parse_ns("x", bad)
    assert parse_rfc3339("x", "1970-01-01T00:00:01Z") == 10**9
    assert parse_rfc3339("x", "1970-01-01T00:00:00-00:30") == 1800 * 10**9
    with pytest.raises(BadRequestError, match="not a valid time"):
        parse_rfc3339("x", "2024-02-30T00:00:00Z")
