"""Cumulative counters and histograms per tenant, written out as samples at each flush.

Spans only ever add to a series, so every series keeps its running total in memory, the way a
Prometheus client library does, and a flush writes the totals of the series that changed
since the previous one. Totals live in memory only: after a restart a series starts again
from zero, which queries read as an ordinary counter reset.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from observatory.pipeline.span_metrics.names import Family
from observatory.signals.metrics import MetricColumns

Labels = tuple[tuple[str, str], ...]
_Key = tuple[str, Labels]


class Increment(NamedTuple):
    """An addition to one series: `value` to a counter, or to one bucket of a histogram.

    For a histogram, `bucket` is the index of the first bound at or above the observed
    values (`len(bounds)` past the last bound) and `total` the sum of those values.
    """

    tenant: str
    family: Family
    labels: Labels
    value: float
    bucket: int = 0
    total: float = 0.0


@dataclass(slots=True)
class _Series:
    family: Family
    labels: Labels
    # A counter's value, or a histogram's count per bucket (not cumulative), +Inf last.
    counts: list[float]
    total: float = 0.0
    new: bool = True


class _Tenant:
    def __init__(self) -> None:
        self.series: OrderedDict[_Key, _Series] = OrderedDict()
        # Insertion-ordered set of the series changed since the last flush.
        self.changed: dict[_Key, None] = {}


class SeriesRegistry:
    """Series per tenant, least recently updated evicted first past `max_series`."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.evicted = 0
        self._tenants: dict[str, _Tenant] = {}

    def series(self, tenant: str) -> int:
        found = self._tenants.get(tenant)
        return 0 if found is None else len(found.series)

    def apply(self, increments: Iterable[Increment]) -> None:
        for increment in increments:
            self.add(*increment)

    def add(
        self,
        tenant: str,
        family: Family,
        labels: Labels,
        value: float,
        bucket: int = 0,
        total: float = 0.0,
    ) -> None:
        series = self._touch(tenant, family, labels)
        series.counts[bucket] += value
        series.total += total

    def observe(self, tenant: str, family: Family, labels: Labels, value: float) -> None:
        """Add one value to a histogram."""
        self.add(tenant, family, labels, 1.0, bisect.bisect_left(family.bounds, value), value)

    def _touch(self, tenant: str, family: Family, labels: Labels) -> _Series:
        state = self._tenants.get(tenant)
        if state is None:
            state = self._tenants[tenant] = _Tenant()
        key = (family.name, labels)
        series = state.series.get(key)
        if series is None:
            series = self._insert(state, key, family, labels)
        else:
            state.series.move_to_end(key)
        state.changed[key] = None
        return series

    def _insert(self, state: _Tenant, key: _Key, family: Family, labels: Labels) -> _Series:
        series = _Series(family, labels, [0.0] * (len(family.bounds) + 1))
        state.series[key] = series
        if len(state.series) > self.max_series:
            old_key, _ = state.series.popitem(last=False)
            state.changed.pop(old_key, None)
            self.evicted += 1
        return series

    def flush(self, now_ms: int, zero_ms: int) -> dict[str, MetricColumns]:
        """The changed series of each tenant as samples at `now_ms`.

        A series seen for the first time also gets a zero at `zero_ms`, so rate() and
        increase() count its first increments instead of needing a second sample.
        """
        out: dict[str, MetricColumns] = {}
        for tenant, state in self._tenants.items():
            if state.changed:
                out[tenant] = _tenant_columns(tenant, state, now_ms, zero_ms)
                state.changed = {}
        return out


def _tenant_columns(tenant: str, state: _Tenant, now_ms: int, zero_ms: int) -> MetricColumns:
    columns = MetricColumns(tenant)
    families: dict[str, Family] = {}
    for key in state.changed:
        series = state.series[key]
        families[series.family.name] = series.family
        labels = dict(series.labels)
        if series.new:
            _write(columns, series, labels, zero_ms, zero=True)
            series.new = False
        _write(columns, series, labels, now_ms, zero=False)
    for family in families.values():
        columns.add_metadata(family.name, family.type, family.unit, family.help)
    return columns


def _write(
    columns: MetricColumns, series: _Series, labels: dict[str, str], at_ms: int, zero: bool
) -> None:
    family = series.family
    if not family.is_histogram:
        columns.add_sample(family.name, labels, at_ms, 0.0 if zero else series.counts[0])
        return
    add = columns.add_sample
    bucket = family.name + "_bucket"
    cumulative = 0.0
    for le, count in zip(family.le, series.counts, strict=False):
        cumulative += count
        add(bucket, {**labels, "le": le}, at_ms, 0.0 if zero else cumulative)
    count = 0.0 if zero else cumulative + series.counts[-1]
    add(bucket, {**labels, "le": "+Inf"}, at_ms, count)
    add(family.name + "_sum", labels, at_ms, 0.0 if zero else series.total)
    add(family.name + "_count", labels, at_ms, count)
