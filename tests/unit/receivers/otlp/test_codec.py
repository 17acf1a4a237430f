from __future__ import annotations

import json

import pytest

from observatory.errors import BadRequestError, UnsupportedMediaTypeError
from observatory.receivers.otlp.codec import media_type, parse_request, response_for
from observatory.signals.batch import Signal, SignalBatch


def test_media_types() -> None:
    assert media_type("application/x-protobuf") == "protobuf"
    assert media_type("application/json; charset=utf-8") == "json"
    with pytest.raises(UnsupportedMediaTypeError, match="text/plain"):
        media_type("text/plain")


def test_json_hex_ids_enum_names_and_int64_strings() -> None:
    document = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "traceId": "0102030405060708090a0b0c0d0e0f10",
                                "spanId": "0102030405060708",
                                "severityNumber": "SEVERITY_NUMBER_ERROR",
                                "timeUnixNano": "1700000000000000001",
                                "body": {"stringValue": "boom"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = parse_request(Signal.LOGS, json.dumps(document).encode(), "json")
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id == bytes(range(1, 17))
    assert record.span_id == bytes(range(1, 9))
    assert record.severity_number == 17
    assert record.time_unix_nano == 1700000000000000001


def test_bad_json_names_the_problem() -> None:
    with pytest.raises(BadRequestError, match="spanId"):
        parse_request(
            Signal.TRACES,
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"xyz"}]}]}]}',
            "json",
        )
    with pytest.raises(BadRequestError, match="must be a JSON object"):
        parse_request(Signal.TRACES, b"[]", "json")


def test_partial_success_names_the_rejected_count() -> None:
    batch = SignalBatch(Signal.METRICS, "t", {}, items=3, rejected=2, rejection_message="why")
    response = response_for(batch, Signal.METRICS)
    assert response.partial_success.rejected_data_points == 2
    assert response.partial_success.error_message == "why"
    assert not response_for(SignalBatch(Signal.TRACES, "t"), Signal.TRACES).HasField(
        "partial_success"
    )
