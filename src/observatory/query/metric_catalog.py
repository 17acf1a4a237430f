"""Series, label names, label values and metadata: the Prometheus API's catalog queries."""

from __future__ import annotations

from collections.abc import Sequence

from observatory.query.metric_source import SERIES_REFRESH_MS, StoreSeriesSource
from observatory.query.promql.source import LabelMatcher
from observatory.store.protocol import Store

Labels = dict[str, str]


class MetricCatalog:
    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self._source = StoreSeriesSource(store, tenant)

    def series(self, selectors: Sequence[Sequence[LabelMatcher]], start_ms: int) -> list[Labels]:
        """Label sets of the series matching any selector, `__name__` included."""
        found: dict[int, Labels] = {}
        for matchers in selectors:
            for row in self._source.series(matchers, start_ms).to_pylist():
                labels = {"__name__": row["metric_name"], **dict(row["label_set"])}
                found[row["fingerprint"]] = labels
        return sorted(found.values(), key=lambda labels: sorted(labels.items()))

    def label_names(self, selectors: Sequence[Sequence[LabelMatcher]], start_ms: int) -> list[str]:
        if not selectors:
            return self._distinct("arrayJoin(mapKeys(labels))", start_ms, {"__name__"})
        names = {name for labels in self.series(selectors, start_ms) for name in labels}
        return sorted(names)

    def label_values(
        self, name: str, selectors: Sequence[Sequence[LabelMatcher]], start_ms: int
    ) -> list[str]:
        if not selectors:
            if name == "__name__":
                return self._distinct("toString(metric_name)", start_ms, set())
            return self._distinct("labels[{name:String}]", start_ms, set(), name)
        values = {labels[name] for labels in self.series(selectors, start_ms) if name in labels}
        return sorted(values)

    def _distinct(
        self, expression: str, start_ms: int, extra: set[str], name: str = ""
    ) -> list[str]:
        """Distinct values of an expression over every series, in SQL: no label set is read."""
        rows = self.store.query(
            f"SELECT DISTINCT {expression} AS v FROM series WHERE tenant = {{tenant:String}} "
            "AND last_seen >= fromUnixTimestamp64Milli({since:Int64}) "
            "AND (empty({name:String}) OR mapContains(labels, {name:String}))",
            {"tenant": self.tenant, "since": start_ms - SERIES_REFRESH_MS, "name": name},
        )
        values = {str(v) for v in rows.column("v").to_pylist()} | extra
        values.discard("")
        return sorted(values)

    def metadata(self, metric: str | None, limit: int | None) -> dict[str, list[dict[str, str]]]:
        """Type, help and unit per metric name, as `/api/v1/metadata` answers."""
        where, params = "tenant = {tenant:String}", {"tenant": self.tenant}
        if metric:
            where += " AND metric_name = {metric:String}"
            params["metric"] = metric
        rows = self.store.query(
            "SELECT metric_name, any(m.type) AS type, any(m.help) AS help, any(m.unit) AS unit "
            f"FROM metric_metadata AS m WHERE {where} GROUP BY metric_name ORDER BY metric_name",
            params,
        ).to_pylist()
        if limit is not None and limit >= 0:
            rows = rows[:limit]
        return {
            row["metric_name"]: [{"type": row["type"], "help": row["help"], "unit": row["unit"]}]
            for row in rows
        }
