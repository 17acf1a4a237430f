"""Ingest benchmark: vLLM-like engine metrics over OTLP/HTTP protobuf.

Each request is one scrape of `--batch` inference engines, as a collector would forward it:
per engine 3 gauges, 8 cumulative counter points and 9 histograms, labelled with the engine's
`model_name`: 20 data points, 191 Prometheus samples, and 1 `target_info` sample for the
engine's resource. Every request carries its own timestamp (one millisecond apart), so after
the run the store is checked sample by sample: each acknowledged request's timestamp must
hold exactly its samples.

    .venv/bin/python bench/ingest_metrics.py --duration 20
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Row,
    StoreReader,
    Template,
    add_common_args,
    fmt_int,
    percent,
    rate,
    run_benchmark,
    unique_placeholder,
)
from _otlp import AttributeValue, key_values, read_attributes, resource, scope

TEMPLATES = 8  # distinct engine sets: TEMPLATES * batch engines in the fleet
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE

MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct", "mistralai/Mistral-Small-24B-Instruct-2501",
    "google/gemma-3-27b-it", "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
)  # fmt: skip
LATENCY_BOUNDS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
    0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
TOKEN_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
GAUGES = (
    ("vllm:num_requests_running", "Requests in model execution batches.", ""),
    ("vllm:num_requests_waiting", "Requests waiting to be processed.", ""),
    ("vllm:kv_cache_usage_perc", "KV-cache usage; 1 means 100 percent.", ""),
)
COUNTERS = (
    ("vllm:prompt_tokens", "Prefill tokens processed.", "{token}"),
    ("vllm:generation_tokens", "Generation tokens processed.", "{token}"),
    ("vllm:num_preemptions", "Cumulative number of preemptions.", ""),
    ("vllm:prefix_cache_queries", "Prefix cache queries, in tokens.", "{token}"),
    ("vllm:prefix_cache_hits", "Prefix cache hits, in tokens.", "{token}"),
)
FINISHED_REASONS = ("stop", "length", "abort")
HISTOGRAMS = (
    ("vllm:time_to_first_token_seconds", "Time to first token.", "s", LATENCY_BOUNDS),
    ("vllm:inter_token_latency_seconds", "Inter-token latency.", "s", LATENCY_BOUNDS),
    ("vllm:e2e_request_latency_seconds", "End-to-end request latency.", "s", LATENCY_BOUNDS),
    ("vllm:request_queue_time_seconds", "Time spent waiting.", "s", LATENCY_BOUNDS),
    ("vllm:request_prefill_time_seconds", "Time spent in prefill.", "s", LATENCY_BOUNDS),
    ("vllm:request_decode_time_seconds", "Time spent in decode.", "s", LATENCY_BOUNDS),
    ("vllm:request_prompt_tokens", "Prefill tokens per request.", "{token}", TOKEN_BOUNDS),
    ("vllm:request_generation_tokens", "Generated tokens per request.", "{token}",
     TOKEN_BOUNDS),
    ("vllm:iteration_tokens_total", "Tokens per engine step.", "{token}", TOKEN_BOUNDS),
)  # fmt: skip
POINTS_PER_ENGINE = len(GAUGES) + len(COUNTERS) + len(FINISHED_REASONS) + len(HISTOGRAMS)
# The Prometheus model: a histogram is one series per bucket (+Inf too), _sum and _count; and
# each resource is one `target_info` sample more, carrying its attributes.
SAMPLES_PER_ENGINE = (
    len(GAUGES) + len(COUNTERS) + len(FINISHED_REASONS)
    + sum(len(bounds) + 3 for *_, bounds in HISTOGRAMS) + 1
)  # fmt: skip


@dataclass(frozen=True)
class Engine:
    number: int
    model: str

    @property
    def labels(self) -> dict[str, AttributeValue]:
        return {"model_name": self.model, "engine": "0"}


class MetricWorkload:
    path = "/v1/metrics"
    item = "data points"

    def __init__(self, batch: int, seed: int = 20240602) -> None:
        self.batch = batch
        rng = np.random.default_rng(seed)
        # Request i is stamped base_ms + i: unique per request, in the recent past.
        self.base_ms = time.time_ns() // 1_000_000 - 600_000
        self.start_ns = (self.base_ms - 3_600_000) * 1_000_000
        self.templates = [self._template(rng, t) for t in range(TEMPLATES)]

    # --- generation ---------------------------------------------------------------------

    def _template(self, rng: np.random.Generator, number: int) -> Template:
        # Not millisecond-aligned, so it cannot be mistaken for any other field's bytes.
        placeholder = int.from_bytes(unique_placeholder(rng, 3, set()), "big") | 1
        stamp = self.base_ms * 1_000_000 + placeholder % 999_999 + 1
        engines = [
            Engine(number * self.batch + e, MODELS[int(rng.integers(0, len(MODELS)))])
            for e in range(self.batch)
        ]
        request = ExportMetricsServiceRequest(resource_metrics=[
            self._engine_metrics(rng, engine, stamp) for engine in engines
        ])  # fmt: skip
        data = request.SerializeToString()
        template = Template(data, [stamp.to_bytes(8, "little")])
        if len(template.slots[0][0]) != self.batch * POINTS_PER_ENGINE:
            raise RuntimeError("the timestamp placeholder is not unique in the payload")
        return template

    def _engine_metrics(
        self, rng: np.random.Generator, engine: Engine, stamp: int
    ) -> ResourceMetrics:
        attributes: dict[str, AttributeValue] = {
            "service.name": "vllm",
            "service.instance.id": f"vllm-{engine.number}.inference.svc:8000",
            "server.address": f"vllm-{engine.number}.inference.svc",
            "server.port": 8000,
            "k8s.namespace.name": "inference",
            "k8s.pod.name": f"vllm-{engine.number}-{rng.bytes(3).hex()}",
            "host.name": f"gpu-node-{engine.number // 8}",
        }
        metrics = [self._gauge(rng, engine, stamp, *g) for g in GAUGES]
        metrics += [self._counter(rng, engine, stamp, *c) for c in COUNTERS]
        metrics.append(self._request_success(rng, engine, stamp))
        metrics += [self._histogram(rng, engine, stamp, *h) for h in HISTOGRAMS]
        return ResourceMetrics(
            resource=resource(attributes),
            scope_metrics=[ScopeMetrics(scope=scope("vllm.scrape", "0.8.5"), metrics=metrics)],
        )

    def _point(
        self, engine: Engine, stamp: int, value: float | int, **labels: str
    ) -> NumberDataPoint:
        point = NumberDataPoint(
            attributes=key_values({**engine.labels, **labels}),
            start_time_unix_nano=self.start_ns,
            time_unix_nano=stamp,
        )
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
        return point

    def _gauge(
        self, rng: np.random.Generator, engine: Engine, stamp: int, name: str, text: str, unit: str
    ) -> Metric:
        value = float(rng.random()) if name.endswith("_perc") else int(rng.integers(0, 64))
        return Metric(name=name, description=text, unit=unit,
                      gauge=Gauge(data_points=[self._point(engine, stamp, value)]))  # fmt: skip

    def _counter(
        self, rng: np.random.Generator, engine: Engine, stamp: int, name: str, text: str, unit: str
    ) -> Metric:
        point = self._point(engine, stamp, int(rng.integers(1_000, 10**10)))
        return Metric(name=name, description=text, unit=unit, sum=Sum(
            data_points=[point], aggregation_temporality=CUMULATIVE, is_monotonic=True,
        ))  # fmt: skip

    def _request_success(self, rng: np.random.Generator, engine: Engine, stamp: int) -> Metric:
        points = [
            self._point(engine, stamp, int(rng.integers(0, 10**6)), finished_reason=reason)
            for reason in FINISHED_REASONS
        ]
        return Metric(name="vllm:request_success", description="Finished requests.", unit="1",
                      sum=Sum(data_points=points, aggregation_temporality=CUMULATIVE,
                              is_monotonic=True))  # fmt: skip

    def _histogram(
        self,
        rng: np.random.Generator,
        engine: Engine,
        stamp: int,
        name: str,
        text: str,
        unit: str,
        bounds: Sequence[float],
    ) -> Metric:
        counts = [int(c) for c in rng.integers(0, 5_000, size=len(bounds) + 1)]
        point = HistogramDataPoint(
            attributes=key_values(engine.labels),
            start_time_unix_nano=self.start_ns,
            time_unix_nano=stamp,
            count=sum(counts),
            sum=float(rng.random()) * sum(counts) * float(bounds[len(bounds) // 2]),
            bucket_counts=counts,
            explicit_bounds=[float(b) for b in bounds],
        )
        return Metric(name=name, description=text, unit=unit, histogram=Histogram(
            data_points=[point], aggregation_temporality=CUMULATIVE,
        ))  # fmt: skip

    def stamp_ms(self, index: int) -> int:
        return self.base_ms + index

    def payload(self, index: int) -> bytes:
        stamp = self.stamp_ms(index) * 1_000_000
        return self.templates[index % TEMPLATES].render([stamp.to_bytes(8, "little")])

    def items(self, index: int) -> int:
        return self.batch * POINTS_PER_ENGINE

    def samples(self, index: int) -> int:
        return self.batch * SAMPLES_PER_ENGINE

    def self_test(self) -> None:
        request = ExportMetricsServiceRequest.FromString(self.payload(3))
        stamps = {
            p.time_unix_nano
            for r in request.resource_metrics for s in r.scope_metrics for m in s.metrics
            for p in _points(m)
        }  # fmt: skip
        if stamps != {self.stamp_ms(3) * 1_000_000}:
            raise RuntimeError("stamped metric payloads do not carry the expected timestamp")

    # --- measuring ----------------------------------------------------------------------

    def parse_only(self, payload: bytes) -> int:
        request = ExportMetricsServiceRequest.FromString(payload)
        count = 0
        for resource_metrics in request.resource_metrics:
            read_attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    count += _read_metric(metric)
        return count

    def load_rows(self, acked: Sequence[int], elapsed: float) -> list[Row]:
        samples = sum(self.samples(i) for i in acked)
        return [
            ("samples acknowledged (incl. target_info)", fmt_int(samples)),
            ("samples/s (incl. target_info)", fmt_int(rate(samples, elapsed))),
        ]

    def api_check(self, port: int, acked: Sequence[int]) -> list[Row]:
        return []

    def check(self, store: StoreReader, acked: Sequence[int]) -> list[Row]:
        # Per request timestamp: rows, and distinct series (a series twice at one timestamp
        # is a duplicate).
        raw = store.raw(
            "SELECT toInt64(toUnixTimestamp64Milli(timestamp)) AS t, count(), "
            "uniqExact(metric_name, fingerprint) FROM samples GROUP BY t"
        )
        table = np.frombuffer(raw, dtype=[("t", "<i8"), ("rows", "<u8"), ("distinct", "<u8")])
        by_index = {int(t) - self.base_ms: (int(r), int(d)) for t, r, d in table}
        acked_set = set(acked)
        expected = sum(self.samples(i) for i in acked)
        found = sum(min(by_index.get(i, (0, 0))[1], self.samples(i)) for i in acked)
        complete = sum(1 for i in acked if by_index.get(i, (0, 0))[1] == self.samples(i))
        duplicates = sum(r - d for r, d in by_index.values())
        unexpected = sum(r for i, (r, _) in by_index.items() if i not in acked_set)
        series = store.scalar("SELECT uniqExact(metric_name, fingerprint) FROM samples")
        fleet = min(TEMPLATES, len(acked_set)) * self.batch * SAMPLES_PER_ENGINE
        return [
            ("samples found in store / acknowledged",
             f"{fmt_int(found)} / {fmt_int(expected)} ({percent(found, expected)})"),
            ("requests with all their samples stored", f"{fmt_int(complete)} / "
                                                       f"{fmt_int(len(acked))}"),
            ("samples missing from store", fmt_int(expected - found)),
            ("samples stored more than once (extra rows)", fmt_int(duplicates)),
            ("samples stored but not acknowledged", fmt_int(unexpected)),
            ("distinct series in store / sent", f"{fmt_int(int(series))} / {fmt_int(fleet)}"),
        ]  # fmt: skip


def _points(metric: Metric) -> Sequence[NumberDataPoint | HistogramDataPoint]:
    kind = metric.WhichOneof("data")
    if kind == "gauge":
        return metric.gauge.data_points
    if kind == "sum":
        return metric.sum.data_points
    if kind == "histogram":
        return metric.histogram.data_points
    return []


def _read_metric(metric: Metric) -> int:
    """Every data point's labels, time and value(s); returns the data points."""
    header = (metric.name, metric.description, metric.unit)
    points = _points(metric)
    for point in points:
        values: tuple[object, ...]
        if isinstance(point, HistogramDataPoint):
            values = (point.count, point.sum, list(point.bucket_counts),
                      list(point.explicit_bounds))  # fmt: skip
        else:
            kind = point.WhichOneof("value")
            values = (getattr(point, kind) if kind else None,)
        _ = (header, read_attributes(point.attributes), point.start_time_unix_nano,
             point.time_unix_nano, values)  # fmt: skip
    return len(points)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(
        parser, batch=32,
        batch_help=f"engines per request ({POINTS_PER_ENGINE} data points, "
                   f"{SAMPLES_PER_ENGINE} samples with target_info, each)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    run_benchmark("OTLP/HTTP metrics ingest", MetricWorkload(args.batch), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
