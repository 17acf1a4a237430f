"""The Loki push endpoint: rows it builds, partial writes, whole refusals and their counts."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import cramjam
import pytest

from observatory.errors import QueueFullError
from observatory.pipeline.processors import AttributeLimits
from observatory.receivers.log_enrichment import default_extractor
from observatory.receivers.loki import pushpb
from observatory.receivers.loki.decode import PushEntry, PushStream
from observatory.receivers.loki.limits import DAY_NS, NS, EntryLimits
from observatory.receivers.loki.push import LokiPushReceiver, PushRules, build_batch
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.settings import Settings, load_settings
from observatory.signals.batch import SignalBatch
from observatory.signals.logs import stream_id
from observatory.tenancy import TenantResolver
from tests.unit.receivers.recording import RecordingPipeline, client_for, counter_value

NOW = time.time_ns()
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
RULES = PushRules(
    EntryLimits(max_line_bytes=100, max_labels=3, error_days=90, info_days=30, debug_days=7),
    AttributeLimits(128, 4096, "truncate"),
    default_extractor(),
    1 << 20,
)
JSON_HEADERS = {"Content-Type": "application/json"}
PROTO_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def rows(batch: SignalBatch) -> list[dict[str, Any]]:
    table = batch.tables.get("logs")
    return table.to_pylist() if table is not None else []


def entry(line: str, ts: int = NOW, **metadata: str) -> PushEntry:
    return PushEntry(ts, line, list(metadata.items()))


def test_rows_carry_stream_labels_service_level_and_ids() -> None:
    streams = [
        PushStream(
            {"app": "api", "level": "warn"},
            [entry("slow request"), entry(f"trace_id={TRACE} span_id={SPAN} x", NOW + 1)],
        ),
        PushStream(
            {"job": "varlogs", "service_name": "billing"},
            [entry("ERROR payment failed", user="u1"), entry("ok", traceID=TRACE)],
        ),
    ]
    decoded = build_batch(streams, "acme", RULES, NOW)
    got = rows(decoded.batch)
    assert decoded.batch.tenant == "acme" and decoded.batch.items == 4
    assert [(r["service_name"], dict(r["labels"])) for r in got] == [
        ("api", {"app": "api", "level": "warn", "service_name": "api"}),
        ("api", {"app": "api", "level": "warn", "service_name": "api"}),
        ("billing", {"job": "varlogs", "service_name": "billing"}),
        ("billing", {"job": "varlogs", "service_name": "billing"}),
    ]
    assert [(r["severity_number"], r["severity_text"]) for r in got] == [
        (13, "warn"),
        (13, "warn"),
        (17, "error"),
        (0, ""),
    ]
    assert [(r["trace_id"].hex(), r["span_id"].hex()) for r in got] == [
        ("0" * 32, "0" * 16),
        (TRACE, SPAN),
        ("0" * 32, "0" * 16),
        (TRACE, "0" * 16),
    ]
    assert got[2]["attributes"] == [("user", "u1")]
    assert got[0]["stream_id"] == stream_id({"app": "api", "level": "warn", "service_name": "api"})
    assert got[0]["body"] == "slow request" and got[1]["timestamp"] is not None
    assert decoded.stream_ids == {got[0]["stream_id"], got[2]["stream_id"]}
    assert decoded.size == sum(len(r["body"]) for r in got) + len("user") + 2 + 7 + 32
    assert decoded.received == 4 and not decoded.rejections.counts


def test_bad_entries_are_dropped_and_the_rest_kept() -> None:
    streams = [
        PushStream(
            {"app": "a"},
            [
                entry("fine"),
                entry("x" * 101),
                entry("old", NOW - 31 * DAY_NS),
                entry("old but an error, kept 90 days", NOW - 31 * DAY_NS, level="error"),
                entry("future", NOW + 11 * 60 * NS),
            ],
        ),
        PushStream({"a": "1", "b": "2", "c": "3", "d": "4"}, [entry("too many labels")] * 2),
        PushStream({"bad.name": "x"}, [entry("invalid")]),
        PushStream({}, [entry("no labels")]),
    ]
    decoded = build_batch(streams, "t", RULES, NOW)
    assert [r["body"] for r in rows(decoded.batch)] == ["fine", "old but an error, kept 90 days"]
    assert decoded.rejections.counts == {
        "line_too_long": 1,
        "greater_than_max_sample_age": 1,
        "too_far_in_future": 1,
        "max_label_names_per_series": 2,
        "invalid_labels": 1,
        "missing_labels": 1,
    }
    error = decoded.rejections.error(decoded.received)
    assert error.http_status == 400 and error.reason == "line_too_long"
    assert error.message.endswith("total ignored: 7 out of 9")
    assert "has 4 label names; limit 3" in error.message


def test_structured_metadata_limits() -> None:
    strict = PushRules(RULES.limits, AttributeLimits(1, 4096, "reject"), RULES.ids, 1 << 20)
    decoded = build_batch([PushStream({"a": "b"}, [entry("x", k1="1", k2="2")])], "t", strict, NOW)
    assert decoded.batch.items == 0
    assert decoded.rejections.counts == {"structured_metadata_too_large": 1}
    lenient = PushRules(RULES.limits, AttributeLimits(1, 4096, "truncate"), RULES.ids, 1 << 20)
    decoded = build_batch([PushStream({"a": "b"}, [entry("x", k1="1", k2="2")])], "t", lenient, NOW)
    assert rows(decoded.batch)[0]["attributes"] == [("k1", "1")]
    assert rows(decoded.batch)[0]["dropped_attributes_count"] == 1
    assert decoded.dropped_attributes == 1


def settings(**changes: Any) -> Settings:
    return load_settings(environ={}).replace(**changes)


def receiver(pipeline: RecordingPipeline, **changes: Any) -> LokiPushReceiver:
    return LokiPushReceiver(
        pipeline,  # type: ignore[arg-type]
        TenantResolver("default", False),
        DecodeRules(128, 4096, "truncate", ()),
        pipeline.metrics,
        settings(**changes),
    )


def json_push(*streams: tuple[dict[str, str], list[list[Any]]]) -> bytes:
    document = {"streams": [{"stream": labels, "values": values} for labels, values in streams]}
    return json.dumps(document).encode()


def proto_push(labels: str, lines: list[str]) -> bytes:
    message = pushpb.PushRequest(
        streams=[
            pushpb.StreamAdapter(
                labels=labels,
                entries=[
                    pushpb.EntryAdapter(
                        timestamp={"seconds": NOW // NS, "nanos": NOW % NS}, line=line
                    )
                    for line in lines
                ],
            )
        ]
    )
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


def count(pipeline: RecordingPipeline, name: str, **labels: str) -> float:
    return counter_value(pipeline.metrics, name, {"signal": "logs", **labels})


async def test_json_and_protobuf_pushes_answer_204_with_the_tenant() -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline).routes()) as client:
        body = json_push(({"app": "x"}, [[str(NOW), "hello", {"trace_id": TRACE}]]))
        headers = {**JSON_HEADERS, "X-Scope-OrgID": "acme", "Content-Encoding": "gzip"}
        response = await client.post(
            "/loki/api/v1/push", content=gzip.compress(body), headers=headers
        )
        assert response.status_code == 204, response.text
        response = await client.post(
            "/api/prom/push", content=proto_push('{app="y"}', ["a", "b"]), headers=PROTO_HEADERS
        )
        assert response.status_code == 204, response.text
    assert [(b.tenant, b.items) for b in pipeline.batches] == [("acme", 1), ("default", 2)]
    assert rows(pipeline.batches[0])[0]["trace_id"].hex() == TRACE
    assert count(pipeline, "observatory_received_items_total", protocol="loki") == 3


async def test_partial_write_then_400_counted_by_reason() -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline, logs_max_line_bytes=10).routes()) as client:
        body = json_push(({"app": "x"}, [[str(NOW), "short"], [str(NOW), "much too long a line"]]))
        response = await client.post("/loki/api/v1/push", content=body, headers=JSON_HEADERS)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "max entry size '10' bytes exceeded for stream '{app=\"x\", service_name=\"x\"}'" in (
        response.text
    )
    assert "total ignored: 1 out of 2" in response.text
    assert [r["body"] for b in pipeline.batches for r in rows(b)] == ["short"]
    assert count(pipeline, "observatory_refused_items_total", reason="line_too_long") == 1
    assert count(pipeline, "observatory_refused_requests_total", reason="line_too_long") == 1


async def test_malformed_push_writes_nothing() -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline).routes()) as client:
        body = json_push(({"app": "x"}, [[str(NOW), "ok"], ["yesterday", "bad"]]))
        response = await client.post("/loki/api/v1/push", content=body, headers=JSON_HEADERS)
        assert response.status_code == 400
        assert "values[1]: timestamp 'yesterday'" in response.text
        labels = await client.post(
            "/loki/api/v1/push", content=proto_push("{app=x}", ["a"]), headers=PROTO_HEADERS
        )
        assert labels.status_code == 400
        assert "parse error at col 6" in labels.text
        media = await client.post(
            "/loki/api/v1/push", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert media.status_code == 415
    assert pipeline.batches == []
    assert count(pipeline, "observatory_refused_requests_total", reason="malformed") == 2


async def test_stream_limit_refuses_the_whole_push_with_retry_after() -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline, logs_max_streams_per_tenant=2).routes()) as client:
        first = json_push(({"app": "a"}, [[str(NOW), "1"]]), ({"app": "b"}, [[str(NOW), "2"]]))
        assert (
            await client.post("/loki/api/v1/push", content=first, headers=JSON_HEADERS)
        ).status_code == 204
        again = json_push(({"app": "a"}, [[str(NOW), "3"]]))
        assert (
            await client.post("/loki/api/v1/push", content=again, headers=JSON_HEADERS)
        ).status_code == 204
        more = json_push(({"app": "a"}, [[str(NOW), "4"]]), ({"app": "c"}, [[str(NOW), "5"]]))
        response = await client.post("/loki/api/v1/push", content=more, headers=JSON_HEADERS)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Maximum active stream limit exceeded" in response.text
    assert [r["body"] for b in pipeline.batches for r in rows(b)] == ["1", "2", "3"]
    assert count(pipeline, "observatory_refused_items_total", reason="stream_limit") == 2


async def test_rate_limit_refuses_the_whole_push() -> None:
    pipeline = RecordingPipeline()
    limits = {"logs_ingestion_rate_mb": 0.001, "logs_ingestion_burst_mb": 0.001}  # ~1 KiB
    async with client_for(receiver(pipeline, **limits).routes()) as client:
        body = json_push(({"app": "a"}, [[str(NOW), "x" * 600], [str(NOW), "y" * 600]]))
        response = await client.post("/loki/api/v1/push", content=body, headers=JSON_HEADERS)
        assert response.status_code == 429
        assert "Retry-After" in response.headers
        assert "Ingestion rate limit exceeded for tenant 'default'" in response.text
        small = json_push(({"app": "a"}, [[str(NOW), "x" * 600]]))
        assert (
            await client.post("/loki/api/v1/push", content=small, headers=JSON_HEADERS)
        ).status_code == 204
    assert count(pipeline, "observatory_refused_items_total", reason="rate_limited") == 2
    assert sum(b.items for b in pipeline.batches) == 1


async def test_overload_is_refused_before_reading() -> None:
    pipeline = RecordingPipeline()
    pipeline.refuse_admit = QueueFullError("queue full", retry_after=3)
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post("/loki/api/v1/push", content=b"{}", headers=JSON_HEADERS)
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert count(pipeline, "observatory_refused_requests_total", reason="queue_full") == 1


@pytest.mark.parametrize("path", ["/loki/api/v1/push", "/api/prom/push"])
async def test_an_empty_push_is_fine(path: str) -> None:
    pipeline = RecordingPipeline()
    async with client_for(receiver(pipeline).routes()) as client:
        response = await client.post(path, content=b'{"streams":[]}', headers=JSON_HEADERS)
    assert response.status_code == 204
    assert pipeline.batches == []
