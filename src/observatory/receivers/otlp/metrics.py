"""OTLP metrics in the Prometheus model: named series of float samples, plus metadata.

Every data point becomes the samples a Prometheus server would hold for it: histograms as
`_bucket`/`_sum`/`_count` series, summaries as `quantile` series, the resource as `job`,
`instance` and one `target_info` series. Exponential histograms become classic ones too,
since the store keeps no native histograms, and delta points are made cumulative first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    SummaryDataPoint,
)

from observatory.pipeline.delta import DeltaToCumulative
from observatory.pipeline.processors import KeyValues
from observatory.receivers.otlp.common import REFUSED_RESOURCE, DecodeContext
from observatory.receivers.otlp.prometheus_names import (
    NameKind,
    attribute_labels,
    exponential_bound,
    format_bound,
    label_value,
    metric_name,
    unit_word,
)
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.metrics import STALE_NAN, MetricColumns, series_fingerprint

NS_PER_MS = 1_000_000
TARGET_INFO = "target_info"
SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
_IDENTIFYING = frozenset((SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID))
_KNOWN_TEMPORALITIES = (AGGREGATION_TEMPORALITY_DELTA, AGGREGATION_TEMPORALITY_CUMULATIVE)
# Keys of a histogram's running totals besides its `le` values: the count is the `+Inf`
# bucket anyway, and no bound is ever formatted as `sum`.
_COUNT_KEY = "+Inf"
_SUM_KEY = "sum"


REFUSED_POINT = "data point over attribute limits"
BAD_METRIC_NAME = "metric name without any character valid in a Prometheus metric name"
BAD_LABEL_NAME = "attribute key without any character valid in a Prometheus label name"
NO_TEMPORALITY = "sum or histogram with unspecified aggregation temporality"
OUT_OF_ORDER = "delta data point older than the last one of its series"

Buckets = list[tuple[str, float]]
_ExponentialBuckets = ExponentialHistogramDataPoint.Buckets
_HistogramPoint = TypeVar("_HistogramPoint", HistogramDataPoint, ExponentialHistogramDataPoint)


class _Point(Protocol):
    @property
    def attributes(self) -> Iterable[Any]: ...


def decode_metrics(
    request: ExportMetricsServiceRequest, ctx: DecodeContext, deltas: DeltaToCumulative
) -> SignalBatch:
    """An OTLP metrics export as series, samples and metric metadata."""
    decoder = _Decoder(ctx, deltas)
    for resource_metrics in request.resource_metrics:
        decoder.resource_metrics(resource_metrics)
    return decoder.batch()


@dataclass(slots=True)
class _Resource:
    """What every series of a resource shares, and when its latest point was taken."""

    identity: dict[str, str]
    target_labels: dict[str, str] | None
    latest_ns: int = 0


@dataclass(frozen=True, slots=True)
class _Classic:
    """A histogram point as classic buckets: cumulative counts by formatted upper bound."""

    time_ns: int
    stale: bool
    buckets: Buckets
    count: float
    sum: float | None

    def stale_marker(self) -> _Classic:
        buckets = [(le, STALE_NAN) for le, _ in self.buckets]
        total = None if self.sum is None else STALE_NAN
        return replace(self, buckets=buckets, count=STALE_NAN, sum=total)

    def deltas(self) -> dict[str, float]:
        values = dict(self.buckets)
        values[_COUNT_KEY] = self.count
        if self.sum is not None:
            values[_SUM_KEY] = self.sum
        return values

    def with_totals(self, totals: dict[str, float]) -> _Classic:
        buckets = [(le, totals[le]) for le, _ in self.buckets]
        total = None if self.sum is None else totals[_SUM_KEY]
        return replace(self, buckets=buckets, count=totals[_COUNT_KEY], sum=total)


class _Decoder:
    """Decoding state of one request: its columns, accepted points and target_info seen."""

    def __init__(self, ctx: DecodeContext, deltas: DeltaToCumulative) -> None:
        self.ctx = ctx
        self.deltas = deltas
        self.columns = MetricColumns(ctx.tenant)
        self.items = 0
        self._targets: set[tuple[tuple[tuple[str, str], ...], int]] = set()
        self._handlers: dict[str, Callable[[Metric, _Resource], None]] = {
            "gauge": self._gauge,
            "sum": self._sum,
            "histogram": self._histogram,
            "exponential_histogram": self._exponential_histogram,
            "summary": self._summary,
        }

    def batch(self) -> SignalBatch:
        ctx = self.ctx
        return SignalBatch(
            signal=Signal.METRICS,
            tenant=ctx.tenant,
            tables=self.columns.tables() if self.columns.samples else {},
            items=self.items,
            rejected=ctx.rejected,
            rejection_message=ctx.rejection_message,
        )

    def resource_metrics(self, resource_metrics: ResourceMetrics) -> None:
        processed = self.ctx.resource(resource_metrics.resource)
        if processed is None:
            self.ctx.reject(_resource_points(resource_metrics), REFUSED_RESOURCE)
            return
        resource = _resource(processed[0])
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    self._handlers[kind](metric, resource)
        self._target_info(resource)

    def _gauge(self, metric: Metric, resource: _Resource) -> None:
        points = metric.gauge.data_points
        name = self._family(metric, "gauge", "gauge", len(points))
        for point in points if name else ():
            self._number(name, point, resource, accumulate=False)

    def _sum(self, metric: Metric, resource: _Resource) -> None:
        data = metric.sum
        points = data.data_points
        if not self._known_temporality(data.aggregation_temporality, len(points)):
            return
        monotonic = data.is_monotonic
        kind: NameKind = "counter" if monotonic else "other"
        name = self._family(metric, kind, "counter" if monotonic else "gauge", len(points))
        # A non-monotonic delta is stored as it is: as a gauge, it needs no running total.
        accumulate = monotonic and data.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
        for point in points if name else ():
            self._number(name, point, resource, accumulate)

    def _number(
        self, name: str, point: NumberDataPoint, resource: _Resource, accumulate: bool
    ) -> None:
        labels = self._labels(point, resource)
        if labels is None:
            return
        if point.flags & DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK:
            value = STALE_NAN
        else:
            value = _number_value(point)
            if accumulate:
                totals = self._accumulate(name, labels, point.time_unix_nano, {"": value})
                if totals is None:
                    return
                value = totals[""]
        self.columns.add_sample(name, labels, point.time_unix_nano // NS_PER_MS, value)
        self._accepted(resource, point.time_unix_nano)

    def _histogram(self, metric: Metric, resource: _Resource) -> None:
        data = metric.histogram
        temporality = data.aggregation_temporality
        self._histograms(metric, resource, temporality, data.data_points, _explicit_buckets)

    def _exponential_histogram(self, metric: Metric, resource: _Resource) -> None:
        data = metric.exponential_histogram
        temporality = data.aggregation_temporality
        self._histograms(metric, resource, temporality, data.data_points, _exponential_buckets)

    def _histograms(
        self,
        metric: Metric,
        resource: _Resource,
        temporality: int,
        points: Sequence[_HistogramPoint],
        buckets_of: Callable[[_HistogramPoint], Buckets],
    ) -> None:
        if not self._known_temporality(temporality, len(points)):
            return
        name = self._family(metric, "other", "histogram", len(points))
        delta = temporality == AGGREGATION_TEMPORALITY_DELTA
        for point in points if name else ():
            labels = self._labels(point, resource)
            if labels is not None:
                self._histogram_point(name, labels, _classic(point, buckets_of(point)), delta)
                self._accepted(resource, point.time_unix_nano)

    def _histogram_point(
        self, name: str, labels: dict[str, str], point: _Classic, delta: bool
    ) -> None:
        if point.stale:
            point = point.stale_marker()
        elif delta:
            totals = self._accumulate(name, labels, point.time_ns, point.deltas())
            if totals is None:
                return
            point = point.with_totals(totals)
        self._add_classic(name, labels, point)

    def _add_classic(self, name: str, labels: dict[str, str], point: _Classic) -> None:
        add = self.columns.add_sample
        timestamp = point.time_ns // NS_PER_MS
        if point.sum is not None:
            add(name + "_sum", labels, timestamp, point.sum)
        add(name + "_count", labels, timestamp, point.count)
        bucket = name + "_bucket"
        for le, count in point.buckets:
            add(bucket, {**labels, "le": le}, timestamp, count)
        add(bucket, {**labels, "le": "+Inf"}, timestamp, point.count)

    def _summary(self, metric: Metric, resource: _Resource) -> None:
        points = metric.summary.data_points
        name = self._family(metric, "other", "summary", len(points))
        for point in points if name else ():
            labels = self._labels(point, resource)
            if labels is not None:
                self._summary_point(name, labels, point)
                self._accepted(resource, point.time_unix_nano)

    def _summary_point(self, name: str, labels: dict[str, str], point: SummaryDataPoint) -> None:
        add = self.columns.add_sample
        timestamp = point.time_unix_nano // NS_PER_MS
        stale = bool(point.flags & DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)
        add(name + "_sum", labels, timestamp, STALE_NAN if stale else point.sum)
        add(name + "_count", labels, timestamp, STALE_NAN if stale else float(point.count))
        for quantile in point.quantile_values:
            quantile_labels = {**labels, "quantile": format_bound(quantile.quantile)}
            add(name, quantile_labels, timestamp, STALE_NAN if stale else quantile.value)

    def _family(self, metric: Metric, kind: NameKind, metric_type: str, points: int) -> str:
        """The metric's family name with its metadata recorded; "" when it has no valid name."""
        name = metric_name(metric.name, metric.unit, kind)
        if name:
            self.columns.add_metadata(name, metric_type, unit_word(metric.unit), metric.description)
        elif points:
            self.ctx.reject(points, BAD_METRIC_NAME)
        return name

    def _known_temporality(self, temporality: int, points: int) -> bool:
        if temporality in _KNOWN_TEMPORALITIES:
            return True
        if points:
            self.ctx.reject(points, NO_TEMPORALITY)
        return False

    def _labels(self, point: _Point, resource: _Resource) -> dict[str, str] | None:
        """The point's attributes as labels, with the resource's; None when it is refused."""
        outcome = self.ctx.item_attributes(point.attributes)
        if outcome is None:
            self.ctx.reject(1, REFUSED_POINT)
            return None
        labels = attribute_labels(outcome[0])
        if labels is None:
            self.ctx.reject(1, BAD_LABEL_NAME)
            return None
        labels.update(resource.identity)
        return labels

    def _accumulate(
        self, name: str, labels: dict[str, str], time_ns: int, deltas: dict[str, float]
    ) -> dict[str, float] | None:
        fingerprint = series_fingerprint(name, labels)
        totals = self.deltas.accumulate(self.ctx.tenant, fingerprint, time_ns, deltas)
        if totals is None:
            self.ctx.reject(1, OUT_OF_ORDER)
        return totals

    def _accepted(self, resource: _Resource, time_ns: int) -> None:
        self.items += 1
        if time_ns > resource.latest_ns:
            resource.latest_ns = time_ns

    def _target_info(self, resource: _Resource) -> None:
        """One `target_info` sample per resource, at its latest point, unless already sent."""
        labels = resource.target_labels
        if labels is None or not resource.latest_ns:
            return
        timestamp = resource.latest_ns // NS_PER_MS
        key = (tuple(sorted(labels.items())), timestamp)
        if key in self._targets:
            return
        self._targets.add(key)
        self.columns.add_sample(TARGET_INFO, labels, timestamp, 1.0)
        self.columns.add_metadata(TARGET_INFO, "gauge", "", "Target metadata")


def _resource(attributes: KeyValues) -> _Resource:
    identity = _identity_labels(attributes)
    return _Resource(identity, _target_labels(attributes, identity))


def _identity_labels(attributes: KeyValues) -> dict[str, str]:
    """`job` from the service namespace and name, `instance` from the service instance id."""
    found = {key: label_value(value) for key, value in attributes if key in _IDENTIFYING}
    labels: dict[str, str] = {}
    job = found.get(SERVICE_NAME)
    if job is not None:
        namespace = found.get(SERVICE_NAMESPACE)
        labels["job"] = job if namespace is None else f"{namespace}/{job}"
    instance = found.get(SERVICE_INSTANCE_ID)
    if instance is not None:
        labels["instance"] = instance
    return labels


def _target_labels(attributes: KeyValues, identity: dict[str, str]) -> dict[str, str] | None:
    """The labels of `target_info`; None when it would say nothing `job` and `instance` don't."""
    others = [(key, value) for key, value in attributes if key not in _IDENTIFYING]
    if not others or not identity:
        return None
    labels = attribute_labels(others)
    if labels is not None:
        labels.update(identity)
    return labels


def _number_value(point: NumberDataPoint) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _classic(point: _HistogramPoint, buckets: Buckets) -> _Classic:
    stale = bool(point.flags & DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)
    total = point.sum if point.HasField("sum") else None
    return _Classic(point.time_unix_nano, stale, buckets, float(point.count), total)


def _explicit_buckets(point: HistogramDataPoint) -> Buckets:
    """Cumulative counts by bound; the count past the last bound is left to `+Inf`."""
    buckets: Buckets = []
    cumulative = 0
    for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
        cumulative += count
        buckets.append((format_bound(bound), float(cumulative)))
    return buckets


def _exponential_buckets(point: ExponentialHistogramDataPoint) -> Buckets:
    """Cumulative counts by upper bound: negative buckets, the zero bucket, positive buckets."""
    buckets: Buckets = []
    cumulative = _negative_buckets(buckets, point.scale, point.negative)
    cumulative += point.zero_count
    _append_bucket(buckets, format_bound(point.zero_threshold), cumulative)
    _positive_buckets(buckets, point.scale, point.positive, cumulative)
    return buckets


def _negative_buckets(buckets: Buckets, scale: int, negative: _ExponentialBuckets) -> int:
    # Negative bucket i reaches down to -base**(i+1), so its upper bound is -base**i, and
    # the highest index is the most negative bucket, which comes first.
    counts = negative.bucket_counts
    cumulative = 0
    for position in range(len(counts) - 1, -1, -1):
        cumulative += counts[position]
        bound = exponential_bound(scale, negative.offset + position, True)
        _append_bucket(buckets, bound, cumulative)
    return cumulative


def _positive_buckets(
    buckets: Buckets, scale: int, positive: _ExponentialBuckets, cumulative: int
) -> None:
    # Positive bucket i holds values up to base**(i+1).
    for position, count in enumerate(positive.bucket_counts):
        cumulative += count
        bound = exponential_bound(scale, positive.offset + position + 1, False)
        _append_bucket(buckets, bound, cumulative)


def _append_bucket(buckets: Buckets, le: str, cumulative: int) -> None:
    # A zero threshold can equal the first positive bound; one series holds both counts.
    if buckets and buckets[-1][0] == le:
        buckets[-1] = (le, float(cumulative))
    else:
        buckets.append((le, float(cumulative)))


def _resource_points(resource_metrics: ResourceMetrics) -> int:
    return sum(
        _metric_points(metric)
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def _metric_points(metric: Metric) -> int:
    kind = metric.WhichOneof("data")
    return 0 if kind is None else len(getattr(metric, kind).data_points)
