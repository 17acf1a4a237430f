"""OTLP logs as Loki streams: index-label resource attributes, levels and ids filled in."""

from __future__ import annotations

import pickle
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from observatory.pipeline.processors import AttributeLimits, ResourceProcessor
from observatory.receivers.log_enrichment import IdExtractor
from observatory.receivers.otlp.common import DecodeContext
from observatory.receivers.otlp.decoding import DecodeRules
from observatory.receivers.otlp.http import OtlpHttpReceiver
from observatory.receivers.otlp.logs import decode_logs, stream_labels
from observatory.settings import load_settings
from observatory.signals.logs import stream_id

T0 = 1_714_564_800_000_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(resource: dict[str, Any], *records: LogRecord) -> ExportLogsServiceRequest:
    message = ExportLogsServiceRequest()
    group = message.resource_logs.add()
    group.resource.attributes.extend(kv(k, v) for k, v in resource.items())
    for name in ("scope-a", "scope-b"):
        scoped = group.scope_logs.add()
        scoped.scope.name = name
        scoped.log_records.extend(records)
    return message


def record(body: str, **fields: Any) -> LogRecord:
    attributes = fields.pop("attributes", {})
    return LogRecord(
        time_unix_nano=T0,
        body=AnyValue(string_value=body),
        attributes=[kv(k, v) for k, v in attributes.items()],
        **fields,
    )


def context(ids: IdExtractor | None = None) -> DecodeContext:
    ctx = DecodeContext("acme", AttributeLimits(128, 4096, "truncate"), ResourceProcessor([]))
    if ids is not None:
        ctx.ids = ids
    return ctx


def rows(
    message: ExportLogsServiceRequest, ctx: DecodeContext | None = None
) -> list[dict[str, Any]]:
    batch = decode_logs(message, ctx or context())
    return list(batch.tables["logs"].to_pylist())


def test_index_label_resource_attributes_become_stream_labels() -> None:
    resource = {
        "service.name": "checkout",
        "service.namespace": "shop",
        "deployment.environment.name": "prod",
        "k8s.namespace.name": "web",
        "k8s.pod.name": "checkout-7d9f",
        "host.name": "node-1",
        "process.pid": 42,
    }
    got = rows(request(resource, record("hello", severity_number=9, severity_text="INFO")))
    expected = {
        "service_name": "checkout",
        "service_namespace": "shop",
        "deployment_environment_name": "prod",
        "k8s_namespace_name": "web",
        "k8s_pod_name": "checkout-7d9f",
    }
    assert len(got) == 2
    assert all(dict(row["labels"]) == expected for row in got)
    assert got[0]["stream_id"] == stream_id(expected)
    # Every resource attribute stays a resource attribute.
    assert ("host.name", "node-1") in got[0]["resource_attributes"]
    assert ("service.name", "checkout") in got[0]["resource_attributes"]
    assert [row["scope_name"] for row in got] == ["scope-a", "scope-b"]


def test_stream_labels_without_a_service_and_of_other_types() -> None:
    assert stream_labels([("k8s.cluster.name", 7), ("cloud.region", "")], "unknown_service") == {
        "service_name": "unknown_service",
        "k8s_cluster_name": "7",
    }
    got = rows(request({}, record("x")))
    assert dict(got[0]["labels"]) == {"service_name": "unknown_service"}


def test_severity_given_is_kept_missing_is_detected() -> None:
    got = rows(
        request(
            {"service.name": "s"},
            record("all good", severity_number=17, severity_text="ERROR"),
            record("whatever", severity_text="Warning"),
            record("whatever", severity_text="custom"),
            record("x", attributes={"level": "debug"}),
            record('{"level":"error","msg":"boom"}'),
            record("plain"),
        )
    )[:6]
    assert [(r["severity_number"], r["severity_text"]) for r in got] == [
        (17, "ERROR"),
        (13, "Warning"),
        (0, "custom"),
        (5, "debug"),
        (17, "error"),
        (0, ""),
    ]


def test_trace_ids_kept_or_extracted() -> None:
    given = bytes.fromhex("11" * 16)
    got = rows(
        request(
            {"service.name": "s"},
            record(f"trace_id={TRACE} span_id={SPAN}", trace_id=given, span_id=b"\x22" * 8),
            record(f"trace_id={TRACE} span_id={SPAN}"),
            record("no ids", attributes={"trace_id": TRACE, "span_id": SPAN}),
            record("nothing here"),
        )
    )[:4]
    assert [(r["trace_id"].hex(), r["span_id"].hex()) for r in got] == [
        ("11" * 16, "22" * 8),
        (TRACE, SPAN),
        (TRACE, SPAN),
        ("0" * 32, "0" * 16),
    ]


def test_kvlist_bodies_are_searched_as_json() -> None:
    body = AnyValue(kvlist_value=KeyValueList(values=[kv("trace_id", TRACE), kv("level", "warn")]))
    got = rows(request({}, LogRecord(time_unix_nano=T0, body=body)))
    assert got[0]["trace_id"].hex() == TRACE
    assert (got[0]["severity_number"], got[0]["severity_text"]) == (13, "warn")


def test_decode_rules_carry_the_patterns_to_worker_processes() -> None:
    rules = DecodeRules(128, 4096, "truncate", (), (r"tid=(\w+)",), (r"sid=(\w+)",))
    ctx = pickle.loads(pickle.dumps(rules)).context("acme")
    got = rows(request({}, record(f"tid={TRACE} sid={SPAN} trace_id={'1' * 32}")), ctx)
    assert (got[0]["trace_id"].hex(), got[0]["span_id"].hex()) == (TRACE, SPAN)
    defaults = DecodeRules.from_settings(load_settings(environ={}))
    assert defaults.ids.ids(f"trace_id={TRACE}", [])[0].hex() == TRACE


def test_loki_otlp_path_is_routed() -> None:
    paths = [route.path for route in OtlpHttpReceiver(None, load_settings(environ={})).routes()]  # type: ignore[arg-type]
    assert "/otlp/v1/logs" in paths and "/v1/logs" in paths
