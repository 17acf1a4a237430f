from __future__ import annotations

import math
import struct
from typing import Any

import cramjam
import pytest

from observatory.errors import (
    BadRequestError,
    PayloadTooLargeError,
    QueueFullError,
    UnsupportedMediaTypeError,
)
from observatory.receivers import prompb
from observatory.receivers.remote_write import (
    RemoteWriteReceiver,
    check_content_type,
    decode_write_request,
    snappy_declared_length,
    snappy_decompress,
)
from observatory.signals.metrics import STALE_NAN, STALE_NAN_BITS
from observatory.tenancy import TenantResolver
from tests.unit.receivers.recording import (
    RecordingPipeline,
    batch_rows,
    client_for,
    counter_value,
    float_bits,
)

T0 = 1_700_000_000_000
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def series(labels: dict[str, str], samples: list[tuple[float, int]]) -> Any:
    return prompb.TimeSeries(
        labels=[prompb.Label(name=k, value=v) for k, v in labels.items()],
        samples=[prompb.Sample(value=v, timestamp=t) for v, t in samples],
    )


def request(*timeseries: Any, metadata: list[Any] | None = None) -> bytes:
    message = prompb.WriteRequest(timeseries=list(timeseries), metadata=metadata or [])
    return message.SerializeToString()


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def test_write_request_round_trips_through_the_runtime_classes() -> None:
    data = request(series({"__name__": "up", "job": "a"}, [(1.0, T0)]))
    parsed = prompb.parse_write_request(data)
    assert [(label.name, label.value) for label in parsed.timeseries[0].labels] == [
        ("__name__", "up"),
        ("job", "a"),
    ]
    assert (parsed.timeseries[0].samples[0].value, parsed.timeseries[0].samples[0].timestamp) == (
        1.0,
        T0,
    )


def test_field_numbers_match_prometheus_wire_format() -> None:
    # Hand-encoded: WriteRequest.timeseries(1) > TimeSeries.labels(1) > Label name(1)/value(2),
    # TimeSeries.samples(2) > Sample value(1, double)/timestamp(2, varint).
    label = b"\x0a\x01a" + b"\x12\x01b"
    sample = b"\x09" + struct.pack("<d", 2.5) + b"\x10\x07"
    ts = b"\x0a" + bytes([len(label)]) + label + b"\x12" + bytes([len(sample)]) + sample
    data = b"\x0a" + bytes([len(ts)]) + ts
    parsed = prompb.parse_write_request(data)
    assert parsed.timeseries[0].labels[0].name == "a"
    assert parsed.timeseries[0].labels[0].value == "b"
    assert parsed.timeseries[0].samples[0].value == 2.5
    assert parsed.timeseries[0].samples[0].timestamp == 7


def test_decode_names_labels_and_values() -> None:
    body = snappy(
        request(
            series({"__name__": "http_requests_total", "code": "200"}, [(3.0, T0), (4.0, T0 + 1)]),
            series({"job": "x", "__name__": "vllm:num_requests_running"}, [(2.0, T0)]),
        )
    )
    batch, histograms = decode_write_request(body, "acme", 1 << 20)
    assert histograms == 0
    assert batch.tenant == "acme"
    assert batch.items == 3
    assert batch_rows(batch) == [
        ("http_requests_total", {"code": "200"}, T0, 3.0),
        ("http_requests_total", {"code": "200"}, T0 + 1, 4.0),
        ("vllm:num_requests_running", {"job": "x"}, T0, 2.0),
    ]


def test_stale_markers_keep_their_exact_bits_and_other_nans_stay_nans() -> None:
    body = snappy(request(series({"__name__": "m"}, [(STALE_NAN, T0), (math.nan, T0 + 1)])))
    batch, _ = decode_write_request(body, "t", 1 << 20)
    values = [row[3] for row in batch_rows(batch)]
    assert float_bits(values[0]) == STALE_NAN_BITS
    assert math.isnan(values[1]) and float_bits(values[1]) != STALE_NAN_BITS


def test_empty_label_values_are_no_labels() -> None:
    body = snappy(request(series({"__name__": "m", "a": "", "b": "1"}, [(1.0, T0)])))
    batch, _ = decode_write_request(body, "t", 1 << 20)
    assert batch_rows(batch)[0][1] == {"b": "1"}


def test_metadata_is_recorded_and_counts_as_items() -> None:
    metadata = [
        prompb.MetricMetadata(type=1, metric_family_name="reqs_total", help="Requests.", unit=""),
        prompb.MetricMetadata(type=3, metric_family_name="latency_seconds", unit="seconds"),
    ]
    batch, _ = decode_write_request(snappy(request(metadata=metadata)), "t", 1 << 20)
    # Prometheus sends metadata in requests of its own: they must not be dropped as empty.
    assert batch.items == 2
    rows = batch.tables["metric_metadata"].to_pylist()
    assert {(r["metric_name"], r["type"], r["unit"], r["help"]) for r in rows} == {
        ("reqs_total", "counter", "", "Requests."),
        ("latency_seconds", "histogram", "seconds", ""),
    }


def test_series_without_a_metric_name_is_refused_and_named() -> None:
    body = snappy(request(series({"job": "api"}, [(1.0, T0)])))
    with pytest.raises(BadRequestError, match=r"series 0 has no __name__ label.*job='api'"):
        decode_write_request(body, "t", 1 << 20)


def test_duplicate_label_names_are_refused() -> None:
    message = prompb.WriteRequest(
        timeseries=[
            prompb.TimeSeries(
                labels=[
                    prompb.Label(name="__name__", value="m"),
                    prompb.Label(name="a", value="1"),
                    prompb.Label(name="a", value="2"),
                ]
            )
        ]
    )
    with pytest.raises(BadRequestError, match="label name 'a' more than once"):
        decode_write_request(snappy(message.SerializeToString()), "t", 1 << 20)


def test_bad_snappy_and_bad_protobuf_are_400() -> None:
    with pytest.raises(BadRequestError, match="snappy"):
        snappy_decompress(b"\x10" + b"garbage!", 1 << 20)
    with pytest.raises(BadRequestError, match="no uncompressed length"):
        snappy_declared_length(b"\xff\xff\xff\xff\xff\xff")
    with pytest.raises(BadRequestError, match=r"not a valid prometheus\.WriteRequest"):
        decode_write_request(snappy(b"\x0a\xff\xff\xff"), "t", 1 << 20)


def test_declared_length_is_checked_before_decompressing() -> None:
    body = snappy(b"\0" * 100_000)
    assert snappy_declared_length(body) == 100_000
    with pytest.raises(PayloadTooLargeError, match="max_decompressed_bytes"):
        snappy_decompress(body, 99_999)
    # A lying prefix is refused on its claim alone, without inflating anything.
    with pytest.raises(PayloadTooLargeError):
        snappy_decompress(b"\x80\x80\x80\x80\x08", 1 << 20)
    assert len(snappy_decompress(body, 100_000)) == 100_000


def test_native_histograms_are_counted_not_stored() -> None:
    ts = series({"__name__": "h"}, [])
    ts.histograms.append(b"\x08\x01")
    batch, histograms = decode_write_request(snappy(request(ts)), "t", 1 << 20)
    assert histograms == 1
    assert batch.items == 0


def test_content_types() -> None:
    check_content_type(None)
    check_content_type("application/x-protobuf")
    check_content_type("application/x-protobuf;proto=prometheus.WriteRequest")
    with pytest.raises(UnsupportedMediaTypeError, match=r"only remote write 1\.0"):
        check_content_type("application/x-protobuf;proto=io.prometheus.write.v2.Request")
    with pytest.raises(UnsupportedMediaTypeError):
        check_content_type("application/json")


def receiver(pipeline: RecordingPipeline, required: bool = False) -> RemoteWriteReceiver:
    tenants = TenantResolver("default", required)
    return RemoteWriteReceiver(pipeline, tenants, pipeline.metrics, 1 << 20, 1 << 20)  # type: ignore[arg-type]


async def test_http_success_is_204_with_tenant_from_header() -> None:
    pipeline = RecordingPipeline()
    body = snappy(request(series({"__name__": "m", "a": "b"}, [(1.0, T0)])))
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post(
            "/api/v1/write", content=body, headers={**HEADERS, "X-Scope-OrgID": "team-a"}
        )
    assert response.status_code == 204, response.text
    assert [batch.tenant for batch in pipeline.batches] == ["team-a"]
    assert pipeline.rows() == [("m", {"a": "b"}, T0, 1.0)]
    received = {"signal": "metrics", "protocol": "remote_write"}
    assert counter_value(pipeline.metrics, "observatory_received_items_total", received) == 1


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"Content-Type": "application/x-protobuf"}, 400, "malformed"),
        ({**HEADERS, "Content-Encoding": "gzip"}, 400, "malformed"),
        ({**HEADERS, "Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
async def test_http_refusals_are_counted(headers: dict[str, str], status: int, reason: str) -> None:
    pipeline = RecordingPipeline()
    body = snappy(request(series({"__name__": "m"}, [(1.0, T0)])))
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v1/write", content=body, headers=headers)
    assert response.status_code == status
    assert response.text.strip()
    labels = {"signal": "metrics", "reason": reason}
    assert counter_value(pipeline.metrics, "observatory_refused_requests_total", labels) == 1
    assert not pipeline.batches


async def test_http_missing_name_is_400_with_message() -> None:
    pipeline = RecordingPipeline()
    body = snappy(request(series({"job": "a"}, [(1.0, T0)])))
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert "__name__" in response.text


async def test_http_overload_passes_through_with_retry_after() -> None:
    pipeline = RecordingPipeline()
    pipeline.refuse_admit = QueueFullError("metrics queue full", retry_after=7)
    body = snappy(request(series({"__name__": "m"}, [(1.0, T0)])))
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


async def test_http_body_over_the_cap_is_413() -> None:
    pipeline = RecordingPipeline()
    rw = RemoteWriteReceiver(pipeline, TenantResolver("d", False), pipeline.metrics, 100, 1 << 20)  # type: ignore[arg-type]
    async with client_for(rw.routes()) as client:
        response = await client.post("/api/v1/write", content=b"x" * 101, headers=HEADERS)
    assert response.status_code == 413


async def test_http_required_tenant() -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline, required=True).routes()) as client:
        response = await client.post("/api/v1/write", content=b"", headers=HEADERS)
    assert response.status_code == 401


def test_empty_label_names_are_refused() -> None:
    body = snappy(request(series({"__name__": "m", "": "x"}, [(1.0, T0)])))
    with pytest.raises(BadRequestError, match="series 0 has an empty label name"):
        decode_write_request(body, "t", 1 << 20)
