"""traces_spanmetrics_*: exact samples, labels, dimensions, cumulative totals, bounds."""

from __future__ import annotations

from observatory.pipeline.span_metrics import SpanMetricsGenerator, SpanMetricsSettings
from observatory.pipeline.span_metrics.names import LATENCY_BUCKETS
from tests.unit.pipeline.span_metrics.helpers import (
    Span,
    by_tenant,
    key,
    latest,
    samples,
    table,
)

NOW_MS = 1_800_000_000_000
SERVER = {
    "service": "api",
    "span_name": "GET /users",
    "span_kind": "SPAN_KIND_SERVER",
    "status_code": "STATUS_CODE_UNSET",
}


def _generator(**settings: object) -> SpanMetricsGenerator:
    return SpanMetricsGenerator(SpanMetricsSettings(**settings), clock=lambda: NOW_MS / 1000)  # type: ignore[arg-type]


def _server(duration_ms: float, **changes: object) -> Span:
    return Span("api", "GET /users", kind=2, duration_ms=duration_ms, **changes)  # type: ignore[arg-type]


def test_calls_and_latency_histogram_exact_samples() -> None:
    generator = _generator()
    generator.observe(table([_server(3), _server(300), _server(20_000)]))
    [batch] = generator.flush(NOW_MS)
    values = latest(batch)
    assert values[key("traces_spanmetrics_calls_total", **SERVER)] == 3
    assert values[key("traces_spanmetrics_latency_count", **SERVER)] == 3
    assert values[key("traces_spanmetrics_latency_sum", **SERVER)] == 20.303
    buckets = {
        le: values[key("traces_spanmetrics_latency_bucket", **SERVER, le=le)]
        for le in ("0.002", "0.004", "0.256", "0.512", "16.384", "+Inf")
    }
    assert buckets == {
        "0.002": 0,
        "0.004": 1,
        "0.256": 1,
        "0.512": 2,
        "16.384": 2,
        "+Inf": 3,
    }
    bucket_series = [k for k in values if k[0] == "traces_spanmetrics_latency_bucket"]
    assert len(bucket_series) == len(LATENCY_BUCKETS) + 1


def test_a_new_series_starts_with_a_zero_one_interval_earlier() -> None:
    generator = _generator(interval_seconds=15)
    generator.observe(table([_server(1)]))
    [batch] = generator.flush(NOW_MS)
    points = samples(batch)[key("traces_spanmetrics_calls_total", **SERVER)]
    assert points == [(NOW_MS - 15_000, 0.0), (NOW_MS, 1.0)]


def test_totals_accumulate_and_only_changed_series_are_written() -> None:
    generator = _generator()
    generator.observe(table([_server(1), Span("worker", "job", kind=1)]))
    generator.flush(NOW_MS)
    assert generator.flush(NOW_MS + 15_000) == []
    generator.observe(table([_server(1), _server(1)]))
    [batch] = generator.flush(NOW_MS + 30_000)
    points = samples(batch)
    assert points[key("traces_spanmetrics_calls_total", **SERVER)] == [(NOW_MS + 30_000, 3.0)]
    assert not any(labels_of(k).get("service") == "worker" for k in points)


def labels_of(series: tuple[str, tuple[tuple[str, str], ...]]) -> dict[str, str]:
    return dict(series[1])


def test_kinds_and_status_codes_are_named_as_tempo_names_them() -> None:
    generator = _generator()
    spans = [
        Span("svc", "a", kind=kind, status=status)
        for kind, status in ((1, 1), (3, 2), (4, 0), (5, 0), (0, 0))
    ]
    generator.observe(table(spans))
    [batch] = generator.flush(NOW_MS)
    pairs = {
        (labels_of(k)["span_kind"], labels_of(k)["status_code"])
        for k in latest(batch)
        if k[0] == "traces_spanmetrics_calls_total"
    }
    assert pairs == {
        ("SPAN_KIND_INTERNAL", "STATUS_CODE_OK"),
        ("SPAN_KIND_CLIENT", "STATUS_CODE_ERROR"),
        ("SPAN_KIND_PRODUCER", "STATUS_CODE_UNSET"),
        ("SPAN_KIND_CONSUMER", "STATUS_CODE_UNSET"),
        ("SPAN_KIND_UNSPECIFIED", "STATUS_CODE_UNSET"),
    }


def test_dimensions_from_span_then_resource_attributes_sanitized() -> None:
    generator = _generator(
        dimensions=("http.route", "deployment.environment", "status_code", "retry.count", "x")
    )
    span = _server(
        1,
        attributes=[("http.route", "/users"), ("status_code", 200), ("retry.count", 1.5)],
        resource=[("deployment.environment", "prod"), ("http.route", "ignored")],
    )
    generator.observe(table([span]))
    [batch] = generator.flush(NOW_MS)
    expected = key(
        "traces_spanmetrics_calls_total",
        **SERVER,
        http_route="/users",
        deployment_environment="prod",
        __status_code="200",
        retry_count="1.5",
    )
    assert latest(batch)[expected] == 1


def test_one_batch_per_tenant() -> None:
    generator = _generator()
    generator.observe(table([_server(1)], tenant="a"))
    generator.observe(table([_server(1), _server(2)], tenant="b"))
    batches = by_tenant(generator.flush(NOW_MS))
    assert set(batches) == {"a", "b"}
    calls = key("traces_spanmetrics_calls_total", **SERVER)
    assert latest(batches["a"])[calls] == 1
    assert latest(batches["b"])[calls] == 2
    metadata = batches["a"].tables["metric_metadata"].to_pylist()
    types = {row["metric_name"]: row["type"] for row in metadata}
    assert types["traces_spanmetrics_calls_total"] == "counter"
    assert types["traces_spanmetrics_latency"] == "histogram"
    assert batches["b"].items == len(batches["b"].tables["samples"])


def test_least_recently_updated_series_are_evicted_past_max_series() -> None:
    generator = _generator(max_series=2)
    generator.observe(table([Span("a", "x")]))
    generator.observe(table([Span("b", "x")]))
    [batch] = generator.flush(NOW_MS)
    services = {labels_of(k)["service"] for k in latest(batch)}
    # Each span makes two entries (calls, latency): only the newest span's survive.
    assert services == {"b"}
    assert generator.stats.series_evicted == 2
