from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from observatory.pipeline.delta import DeltaToCumulative
from observatory.pipeline.processors import AttributeLimits, ResourceProcessor
from observatory.receivers.otlp.common import DecodeContext
from observatory.receivers.otlp.metrics import decode_metrics
from observatory.receivers.otlp.prometheus_names import (
    NameKind,
    label_name,
    metric_name,
    unit_word,
)
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.metrics import is_stale_marker

T0 = 1_700_000_000_000_000_000
T0_MS = 1_700_000_000_000
SECOND = 1_000_000_000
DELTA = pb.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
NO_RECORDED_VALUE = pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK

SERVICE = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "pod-1"}
IDENTITY = {"job": "shop/api", "instance": "pod-1"}

Sample = tuple[str, dict[str, str], int, float]
Temporality: TypeAlias = "pb.AggregationTemporality.ValueType"


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(value)))
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def attributes(values: Mapping[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def request(
    *metrics: pb.Metric, resource: Mapping[str, object] = SERVICE
) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest(
        resource_metrics=[
            pb.ResourceMetrics(
                resource=Resource(attributes=attributes(resource)),
                scope_metrics=[pb.ScopeMetrics(metrics=list(metrics))],
            )
        ]
    )


def number(value: float, time: int = T0, flags: int = 0, **attrs: object) -> pb.NumberDataPoint:
    point = pb.NumberDataPoint(time_unix_nano=time, flags=flags, attributes=attributes(attrs))
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def gauge(name: str, *points: pb.NumberDataPoint, unit: str = "") -> pb.Metric:
    return pb.Metric(name=name, unit=unit, gauge=pb.Gauge(data_points=points))


def counter(
    name: str,
    *points: pb.NumberDataPoint,
    unit: str = "",
    monotonic: bool = True,
    temporality: Temporality = CUMULATIVE,
) -> pb.Metric:
    data = pb.Sum(data_points=points, is_monotonic=monotonic, aggregation_temporality=temporality)
    return pb.Metric(name=name, unit=unit, description="what it counts", sum=data)


def histogram(
    name: str, *points: pb.HistogramDataPoint, unit: str = "", temporality: Temporality = CUMULATIVE
) -> pb.Metric:
    data = pb.Histogram(data_points=points, aggregation_temporality=temporality)
    return pb.Metric(name=name, unit=unit, description="a distribution", histogram=data)


def context(max_count: int = 128, action: str = "truncate", tenant: str = "acme") -> DecodeContext:
    return DecodeContext(tenant, AttributeLimits(max_count, 4096, action), ResourceProcessor([]))


def decode(
    req: ExportMetricsServiceRequest,
    deltas: DeltaToCumulative | None = None,
    ctx: DecodeContext | None = None,
) -> SignalBatch:
    deltas = DeltaToCumulative() if deltas is None else deltas
    return decode_metrics(req, ctx or context(), deltas)


def samples(batch: SignalBatch) -> list[Sample]:
    series = {row["fingerprint"]: dict(row["labels"]) for row in batch.tables["series"].to_pylist()}
    table = batch.tables["samples"]
    columns = zip(
        table.column("metric_name").to_pylist(),
        table.column("fingerprint").to_pylist(),
        table.column("timestamp").cast(pa.int64()).to_pylist(),
        table.column("value").to_pylist(),
        strict=True,
    )
    return [(name, series[fp], ts, value) for name, fp, ts, value in columns]


def named(batch: SignalBatch, name: str) -> list[tuple[dict[str, str], int, float]]:
    return [(labels, ts, value) for n, labels, ts, value in samples(batch) if n == name]


def metadata(batch: SignalBatch) -> dict[str, tuple[str, str, str]]:
    rows = batch.tables["metric_metadata"].to_pylist()
    return {row["metric_name"]: (row["type"], row["unit"], row["help"]) for row in rows}


def test_gauge_becomes_one_sample_with_point_and_resource_labels() -> None:
    batch = decode(request(gauge("queue.depth", number(7, queue="inbound"), unit="{request}")))
    assert batch.signal is Signal.METRICS
    assert batch.tenant == "acme"
    assert (batch.items, batch.rejected) == (1, 0)
    assert samples(batch) == [("queue_depth", {"queue": "inbound", **IDENTITY}, T0_MS, 7.0)]
    assert metadata(batch)["queue_depth"] == ("gauge", "", "")


def test_int_values_become_floats() -> None:
    batch = decode(request(gauge("queue.depth", number(3))))
    [(_, _, value)] = named(batch, "queue_depth")
    assert isinstance(value, float)
    assert value == 3.0


def test_gauge_with_unit_one_is_a_ratio() -> None:
    batch = decode(request(gauge("gpu.utilization", number(0.75), unit="1")))
    assert named(batch, "gpu_utilization_ratio") == [(IDENTITY, T0_MS, 0.75)]


def test_monotonic_cumulative_sum_is_a_counter_with_total() -> None:
    batch = decode(
        request(
            counter("http.requests", number(12, route="/a")),
            counter("errors_total", number(2)),
        )
    )
    assert named(batch, "http_requests_total") == [({"route": "/a", **IDENTITY}, T0_MS, 12.0)]
    assert named(batch, "errors_total") == [(IDENTITY, T0_MS, 2.0)]
    assert metadata(batch)["http_requests_total"] == ("counter", "", "what it counts")


def test_non_monotonic_sum_is_a_gauge_without_total() -> None:
    metric = counter("db.connections", number(4), unit="{connection}", monotonic=False)
    batch = decode(request(metric))
    assert named(batch, "db_connections") == [(IDENTITY, T0_MS, 4.0)]
    assert metadata(batch)["db_connections"] == ("gauge", "", "what it counts")


def test_unit_becomes_a_name_suffix_and_the_metadata_unit() -> None:
    point = pb.HistogramDataPoint(
        time_unix_nano=T0, count=1, sum=12.0, explicit_bounds=[10.0], bucket_counts=[0, 1]
    )
    batch = decode(request(histogram("http.server.duration", point, unit="ms")))
    names = {name for name, _, _, _ in samples(batch)}
    assert names == {
        "http_server_duration_milliseconds_bucket",
        "http_server_duration_milliseconds_sum",
        "http_server_duration_milliseconds_count",
    }
    assert metadata(batch)["http_server_duration_milliseconds"] == (
        "histogram",
        "milliseconds",
        "a distribution",
    )


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("process.cpu.time", "s", "counter", "process_cpu_time_seconds_total"),
        ("process.memory.usage", "By", "gauge", "process_memory_usage_bytes"),
        ("jvm.heap", "KiBy", "gauge", "jvm_heap_kibibytes"),
        ("jvm.heap", "MiBy", "gauge", "jvm_heap_mebibytes"),
        ("disk.size", "KBy", "gauge", "disk_size_kilobytes"),
        ("latency", "us", "other", "latency_microseconds"),
        ("latency", "ns", "other", "latency_nanoseconds"),
        ("uptime", "min", "gauge", "uptime_minutes"),
        ("uptime", "h", "gauge", "uptime_hours"),
        ("retention", "d", "gauge", "retention_days"),
        ("distance", "m", "gauge", "distance_meters"),
        ("disk.used", "%", "gauge", "disk_used_percent"),
        ("cpu.frequency", "Hz", "gauge", "cpu_frequency_hertz"),
        ("gpu.temperature", "Cel", "gauge", "gpu_temperature_celsius"),
        ("gpu.power", "W", "gauge", "gpu_power_watts"),
        ("network.io", "By/s", "gauge", "network_io_bytes_per_second"),
        ("requests", "{request}/s", "gauge", "requests_per_second"),
        ("tokens", "{token}/min", "gauge", "tokens_per_min"),
        ("speed", "m/h", "gauge", "speed_meters_per_hour"),
        ("request.duration.seconds", "s", "other", "request_duration_seconds"),
        ("requests.total", "", "counter", "requests_total"),
        ("requests_total_count", "", "counter", "requests_count_total"),
        ("cache.hit.ratio", "1", "gauge", "cache_hit_ratio"),
        ("items", "1", "counter", "items_total"),
        ("a..b__c", "", "gauge", "a_b_c"),
        ("2xx.responses", "", "gauge", "_2xx_responses"),
        ("vllm:num_requests_running", "", "gauge", "vllm:num_requests_running"),
        ("...", "", "gauge", ""),
    ],
)
def test_metric_names(name: str, unit: str, kind: NameKind, expected: str) -> None:
    assert metric_name(name, unit, kind) == expected


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("ms", "milliseconds"), ("By/s", "bytes_per_second"), ("1", ""), ("{token}", "")],
)
def test_metadata_units(unit: str, expected: str) -> None:
    assert unit_word(unit) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.method", "http_method"),
        ("gen_ai.request.model", "gen_ai_request_model"),
        ("k8s.pod-name", "k8s_pod_name"),
        ("1st", "key_1st"),
        ("_private", "key_private"),
        ("__meta", "__meta"),
        ("a__b", "a__b"),
        ("..", ""),
    ],
)
def test_label_names(key: str, expected: str) -> None:
    assert label_name(key) == expected


def test_colon_in_a_name_is_kept() -> None:
    batch = decode(request(gauge("vllm:num_requests_running", number(3, model_name="llama"))))
    assert named(batch, "vllm:num_requests_running") == [
        ({"model_name": "llama", **IDENTITY}, T0_MS, 3.0)
    ]


def test_histogram_has_cumulative_buckets_sum_and_count() -> None:
    point = pb.HistogramDataPoint(
        time_unix_nano=T0,
        count=10,
        sum=123.5,
        explicit_bounds=[1.0, 4.5, 16.0],
        bucket_counts=[2, 3, 1, 4],
        attributes=attributes({"gen_ai.operation.name": "chat", "gen_ai.token.type": "input"}),
    )
    batch = decode(request(histogram("gen_ai.client.token.usage", point, unit="{token}")))
    base = {"gen_ai_operation_name": "chat", "gen_ai_token_type": "input", **IDENTITY}
    assert named(batch, "gen_ai_client_token_usage_bucket") == [
        ({**base, "le": "1"}, T0_MS, 2.0),
        ({**base, "le": "4.5"}, T0_MS, 5.0),
        ({**base, "le": "16"}, T0_MS, 6.0),
        ({**base, "le": "+Inf"}, T0_MS, 10.0),
    ]
    assert named(batch, "gen_ai_client_token_usage_sum") == [(base, T0_MS, 123.5)]
    assert named(batch, "gen_ai_client_token_usage_count") == [(base, T0_MS, 10.0)]
    assert metadata(batch)["gen_ai_client_token_usage"] == ("histogram", "", "a distribution")
    assert batch.items == 1


def test_histogram_without_sum_has_no_sum_series() -> None:
    point = pb.HistogramDataPoint(
        time_unix_nano=T0, count=1, explicit_bounds=[0.5], bucket_counts=[1, 0]
    )
    batch = decode(request(histogram("latency", point, unit="s")))
    names = [name for name, _, _, _ in samples(batch)]
    assert "latency_seconds_sum" not in names
    assert named(batch, "latency_seconds_count") == [(IDENTITY, T0_MS, 1.0)]


def test_summary_has_quantiles_sum_and_count() -> None:
    point = pb.SummaryDataPoint(
        time_unix_nano=T0,
        count=4,
        sum=2.5,
        quantile_values=[
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=0.4),
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=1.2),
        ],
    )
    metric = pb.Metric(name="rpc.duration", unit="s", summary=pb.Summary(data_points=[point]))
    batch = decode(request(metric))
    assert named(batch, "rpc_duration_seconds") == [
        ({**IDENTITY, "quantile": "0.5"}, T0_MS, 0.4),
        ({**IDENTITY, "quantile": "0.99"}, T0_MS, 1.2),
    ]
    assert named(batch, "rpc_duration_seconds_sum") == [(IDENTITY, T0_MS, 2.5)]
    assert named(batch, "rpc_duration_seconds_count") == [(IDENTITY, T0_MS, 4.0)]
    assert metadata(batch)["rpc_duration_seconds"] == ("summary", "seconds", "")


def exponential(
    point: pb.ExponentialHistogramDataPoint, temporality: Temporality = CUMULATIVE
) -> pb.Metric:
    data = pb.ExponentialHistogram(data_points=[point], aggregation_temporality=temporality)
    return pb.Metric(name="request.size", unit="By", exponential_histogram=data)


def test_exponential_histogram_becomes_classic_buckets() -> None:
    # Scale 0: base 2. Negative buckets 1 and 2 hold values in [-4, -2) and [-8, -4).
    point = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T0,
        count=8,
        sum=3.0,
        scale=0,
        zero_count=1,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[1, 2]),
        negative=pb.ExponentialHistogramDataPoint.Buckets(offset=1, bucket_counts=[1, 3]),
    )
    batch = decode(request(exponential(point)))
    assert named(batch, "request_size_bytes_bucket") == [
        ({**IDENTITY, "le": "-4"}, T0_MS, 3.0),
        ({**IDENTITY, "le": "-2"}, T0_MS, 4.0),
        ({**IDENTITY, "le": "0"}, T0_MS, 5.0),
        ({**IDENTITY, "le": "2"}, T0_MS, 6.0),
        ({**IDENTITY, "le": "4"}, T0_MS, 8.0),
        ({**IDENTITY, "le": "+Inf"}, T0_MS, 8.0),
    ]
    assert named(batch, "request_size_bytes_sum") == [(IDENTITY, T0_MS, 3.0)]
    assert named(batch, "request_size_bytes_count") == [(IDENTITY, T0_MS, 8.0)]
    assert metadata(batch)["request_size_bytes"] == ("histogram", "bytes", "")


def test_exponential_histogram_bounds_follow_the_scale() -> None:
    # Scale 1: base sqrt(2); the zero threshold is the zero bucket's bound.
    point = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T0,
        count=3,
        scale=1,
        zero_count=1,
        zero_threshold=0.001,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=-1, bucket_counts=[1, 1]),
    )
    batch = decode(request(exponential(point)))
    bounds = [
        (labels["le"], value) for labels, _, value in named(batch, "request_size_bytes_bucket")
    ]
    assert bounds == [("0.001", 1.0), ("1", 2.0), ("1.4142135623730951", 3.0), ("+Inf", 3.0)]


def test_no_recorded_value_is_a_stale_marker_on_every_series() -> None:
    hist_point = pb.HistogramDataPoint(
        time_unix_nano=T0,
        count=3,
        sum=1.0,
        explicit_bounds=[1.0],
        bucket_counts=[1, 2],
        flags=NO_RECORDED_VALUE,
    )
    batch = decode(
        request(
            gauge("queue.depth", number(5, flags=NO_RECORDED_VALUE)),
            histogram("latency", hist_point, unit="s"),
        )
    )
    rows = samples(batch)
    assert {name for name, _, _, _ in rows} == {
        "queue_depth",
        "latency_seconds_bucket",
        "latency_seconds_sum",
        "latency_seconds_count",
    }
    assert len(rows) == 5
    assert all(is_stale_marker(value) for _, _, _, value in rows)
    assert batch.items == 2


def test_target_info_carries_the_other_resource_attributes() -> None:
    resource = {**SERVICE, "host.name": "node-7", "deployment.environment": "prod"}
    req = request(
        gauge("queue.depth", number(1, time=T0), number(2, time=T0 + 5 * SECOND)),
        counter("http.requests", number(1, time=T0 + 2 * SECOND)),
        resource=resource,
    )
    batch = decode(req)
    target = {"host_name": "node-7", "deployment_environment": "prod", **IDENTITY}
    assert named(batch, "target_info") == [(target, T0_MS + 5000, 1.0)]
    assert metadata(batch)["target_info"] == ("gauge", "", "Target metadata")
    assert all(labels == IDENTITY for labels, _, _ in named(batch, "queue_depth"))
    assert batch.items == 3


def test_no_target_info_without_other_resource_attributes() -> None:
    batch = decode(request(gauge("queue.depth", number(1))))
    assert named(batch, "target_info") == []


def test_job_is_the_service_name_without_a_namespace() -> None:
    batch = decode(request(gauge("queue.depth", number(1)), resource={"service.name": "api"}))
    assert named(batch, "queue_depth") == [({"job": "api"}, T0_MS, 1.0)]


def test_non_string_attributes_become_label_text() -> None:
    point = number(
        1, count=3, ratio=0.25, tiny=1e-7, on=True, tags=["a", 2], meta={"b": 1, "a": "x"}
    )
    batch = decode(request(gauge("queue.depth", point)))
    [(labels, _, _)] = named(batch, "queue_depth")
    assert labels == {
        "count": "3",
        "ratio": "0.25",
        "tiny": "1e-7",
        "on": "true",
        "tags": '["a",2]',
        "meta": '{"a":"x","b":1}',
        **IDENTITY,
    }


def test_attributes_escaping_to_one_label_join_their_values_in_key_order() -> None:
    attrs = attributes({"http_method": "b", "http.method": "a"})
    point = pb.NumberDataPoint(time_unix_nano=T0, as_int=1, attributes=attrs)
    batch = decode(request(gauge("queue.depth", point)))
    [(labels, _, _)] = named(batch, "queue_depth")
    assert labels == {"http_method": "a;b", **IDENTITY}


def test_delta_sum_is_accumulated_across_requests() -> None:
    deltas = DeltaToCumulative()
    first = request(counter("tokens", number(5, time=T0), temporality=DELTA))
    second = request(counter("tokens", number(3, time=T0 + 10 * SECOND), temporality=DELTA))
    assert named(decode(first, deltas), "tokens_total") == [(IDENTITY, T0_MS, 5.0)]
    assert named(decode(second, deltas), "tokens_total") == [(IDENTITY, T0_MS + 10_000, 8.0)]


def test_delta_point_older_than_the_last_is_rejected() -> None:
    deltas = DeltaToCumulative()
    decode(request(counter("tokens", number(5, time=T0 + 10 * SECOND), temporality=DELTA)), deltas)
    late = decode(request(counter("tokens", number(3, time=T0), temporality=DELTA)), deltas)
    assert (late.items, late.rejected) == (0, 1)
    assert "older" in late.rejection_message
    assert late.tables == {}


def test_delta_series_are_kept_per_tenant() -> None:
    deltas = DeltaToCumulative()
    req = request(counter("tokens", number(5), temporality=DELTA))
    decode(req, deltas, context(tenant="acme"))
    batch = decode(req, deltas, context(tenant="other"))
    assert named(batch, "tokens_total") == [(IDENTITY, T0_MS, 5.0)]


def test_non_monotonic_delta_sum_is_stored_as_it_is() -> None:
    deltas = DeltaToCumulative()
    for time, value in ((T0, 4), (T0 + SECOND, -1)):
        metric = counter(
            "queue.change", number(value, time=time), monotonic=False, temporality=DELTA
        )
        batch = decode(request(metric), deltas)
    assert named(batch, "queue_change") == [(IDENTITY, T0_MS + 1000, -1.0)]


def test_delta_histogram_is_accumulated_across_requests() -> None:
    deltas = DeltaToCumulative()

    def point(time: int, counts: Sequence[int], total: float) -> pb.HistogramDataPoint:
        return pb.HistogramDataPoint(
            time_unix_nano=time,
            count=sum(counts),
            sum=total,
            explicit_bounds=[1.0],
            bucket_counts=counts,
        )

    decode(request(histogram("wait", point(T0, [1, 2], 4.0), unit="s", temporality=DELTA)), deltas)
    later = point(T0 + SECOND, [2, 0], 1.0)
    batch = decode(request(histogram("wait", later, unit="s", temporality=DELTA)), deltas)
    assert named(batch, "wait_seconds_bucket") == [
        ({**IDENTITY, "le": "1"}, T0_MS + 1000, 3.0),
        ({**IDENTITY, "le": "+Inf"}, T0_MS + 1000, 5.0),
    ]
    assert named(batch, "wait_seconds_sum") == [(IDENTITY, T0_MS + 1000, 5.0)]
    assert named(batch, "wait_seconds_count") == [(IDENTITY, T0_MS + 1000, 5.0)]


def test_refused_resource_rejects_all_its_points() -> None:
    hist_point = pb.HistogramDataPoint(time_unix_nano=T0, count=0)
    req = request(
        gauge("queue.depth", number(1), number(2)),
        histogram("latency", hist_point),
        resource={**SERVICE, "host.name": "node-7"},
    )
    batch = decode(req, ctx=context(max_count=3, action="reject"))
    assert (batch.items, batch.rejected) == (0, 3)
    assert batch.rejection_message == "resource over attribute limits"
    assert batch.tables == {}


def test_refused_point_is_rejected_alone() -> None:
    metric = gauge("queue.depth", number(1, a="1", b="2"), number(2, a="1"))
    req = request(metric, resource={"service.name": "api"})
    batch = decode(req, ctx=context(max_count=1, action="reject"))
    assert (batch.items, batch.rejected) == (1, 1)
    assert named(batch, "queue_depth") == [({"a": "1", "job": "api"}, T0_MS, 2.0)]


def test_sum_without_temporality_is_rejected() -> None:
    metric = counter("tokens", number(1), temporality=pb.AGGREGATION_TEMPORALITY_UNSPECIFIED)
    batch = decode(request(metric))
    assert (batch.items, batch.rejected) == (0, 1)


def test_empty_request_gives_no_tables() -> None:
    batch = decode(ExportMetricsServiceRequest())
    assert (batch.tables, batch.items, batch.rejected) == ({}, 0, 0)


def test_nan_gauge_value_is_kept_as_an_ordinary_nan() -> None:
    batch = decode(request(gauge("queue.depth", number(math.nan))))
    [(_, _, value)] = named(batch, "queue_depth")
    assert math.isnan(value)
    assert not is_stale_marker(value)
