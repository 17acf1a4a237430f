"""Series and samples for the PromQL engine, selected in SQL from the metric store.

Label matchers become SQL conditions on the `series` table (a missing label reads as '', which
is what PromQL's matchers expect of it), and samples are fetched for the matching
fingerprints and the time range only, ordered, then split per series with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from observatory.errors import QueryExecutionError
from observatory.query.promql.source import LabelMatcher, RawSeries
from observatory.store.protocol import Store

# A series row is rewritten hourly while the series is alive, so a series with samples in a
# range has a row no older than this before the range's start.
SERIES_REFRESH_MS = 3_600_000 + 60_000


class _Conditions:
    """SQL conditions with their parameters, named p0, p1, ..."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return name

    def add_matcher(self, matcher: LabelMatcher) -> None:
        if matcher.name == "__name__":
            column = "metric_name"
        else:
            column = f"labels[{{{self.param(matcher.name)}:String}}]"
        value = f"{{{self.param(_anchored(matcher))}:String}}"
        self.sql.append(_MATCHER_SQL[matcher.op].format(column=column, value=value))


def _anchored(matcher: LabelMatcher) -> str:
    # PromQL regexes match the whole value; ClickHouse's match() finds a substring.
    return f"^(?:{matcher.value})$" if matcher.op in ("=~", "!~") else matcher.value


_MATCHER_SQL = {
    "=": "{column} = {value}",
    "!=": "{column} != {value}",
    "=~": "match({column}, {value})",
    "!~": "NOT match({column}, {value})",
}


class StoreSeriesSource:
    """A `SeriesSource` over one tenant's metrics in the store."""

    def __init__(self, store: Store, tenant: str, max_samples: int = 50_000_000) -> None:
        self.store = store
        self.tenant = tenant
        self.max_samples = max_samples

    def _series_filter(self, matchers: Sequence[LabelMatcher], start_ms: int) -> _Conditions:
        conditions = _Conditions()
        conditions.sql.append(f"tenant = {{{conditions.param(self.tenant)}:String}}")
        since = conditions.param(start_ms - SERIES_REFRESH_MS)
        conditions.sql.append(f"last_seen >= fromUnixTimestamp64Milli({{{since}:Int64}})")
        for matcher in matchers:
            conditions.add_matcher(matcher)
        return conditions

    def series(self, matchers: Sequence[LabelMatcher], start_ms: int) -> pa.Table:
        """Fingerprint, metric name and labels of every matching series."""
        where = self._series_filter(matchers, start_ms)
        # Aliases differ from the column names: an alias shadowing a column would turn the
        # WHERE conditions on `labels` into conditions on the aggregate.
        sql = (
            "SELECT fingerprint, metric_name, argMax(labels, last_seen) AS label_set "
            f"FROM series WHERE {' AND '.join(where.sql)} GROUP BY fingerprint, metric_name"
        )
        return self.store.query(sql, where.params)

    def select(
        self, matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int
    ) -> list[RawSeries]:
        series = self.series(matchers, start_ms)
        if series.num_rows == 0:
            return []
        samples = self._samples(matchers, start_ms, end_ms)
        return _split(series, samples)

    def _samples(self, matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int) -> pa.Table:
        where = self._series_filter(matchers, start_ms)
        tenant = where.param(self.tenant)
        start, end = where.param(start_ms), where.param(end_ms)
        conditions = " AND ".join(where.sql)
        sql = (
            "SELECT fingerprint, toUnixTimestamp64Milli(timestamp) AS t, value FROM samples "
            f"WHERE tenant = {{{tenant}:String}} "
            f"AND timestamp BETWEEN fromUnixTimestamp64Milli({{{start}:Int64}}) "
            f"AND fromUnixTimestamp64Milli({{{end}:Int64}}) "
            # The metric names narrow the sort key's first column: without them the scan
            # cannot skip to the fingerprints' ranges.
            f"AND metric_name IN (SELECT metric_name FROM series WHERE {conditions}) "
            f"AND fingerprint IN (SELECT fingerprint FROM series WHERE {conditions}) "
            f"ORDER BY fingerprint, t LIMIT {self.max_samples + 1}"
        )
        table = self.store.query(sql, where.params)
        if table.num_rows > self.max_samples:
            raise QueryExecutionError(
                "query processing would load too many samples into memory in query execution "
                f"(limit {self.max_samples}, setting query_max_samples)"
            )
        return table


def _split(series: pa.Table, samples: pa.Table) -> list[RawSeries]:
    fingerprints = samples.column("fingerprint").to_numpy()
    times = samples.column("t").to_numpy().astype(np.int64)
    values = samples.column("value").to_numpy().astype(np.float64)
    out: list[RawSeries] = []
    for row in series.to_pylist():
        # A numpy scalar: with a Python int numpy converts the whole array on every call.
        fingerprint = np.uint64(row["fingerprint"])
        lo = int(np.searchsorted(fingerprints, fingerprint, "left"))
        hi = int(np.searchsorted(fingerprints, fingerprint, "right"))
        if lo == hi:
            continue
        labels = dict(row["label_set"])
        labels["__name__"] = row["metric_name"]
        ts, vs = _last_per_timestamp(times[lo:hi], values[lo:hi])
        out.append(RawSeries(labels, ts, vs))
    return out


def _last_per_timestamp(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample per timestamp: a sample written twice (a retried write) counts once."""
    if len(times) < 2:
        return times, values
    keep = np.append(times[1:] != times[:-1], True)
    return times[keep], values[keep]
