"""What streams exist: label names and values, series, and index statistics (Loki's
`labels`, `label/<name>/values`, `series` and `index/stats`)."""

from __future__ import annotations

from observatory.query.logql import ast, sql
from observatory.store.protocol import Store


class LogCatalog:
    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant

    def label_names(
        self, start_ns: int, end_ns: int, selector: tuple[ast.Matcher, ...] = ()
    ) -> list[str]:
        cond = self._conditions(start_ns, end_ns, selector)
        rows = self.store.query(
            f"SELECT DISTINCT arrayJoin(mapKeys(labels)) AS name FROM logs WHERE {cond.where} "
            "ORDER BY name",
            cond.params,
        )
        return [str(v) for v in rows.column("name").to_pylist()] if rows.num_rows else []

    def label_values(
        self, name: str, start_ns: int, end_ns: int, selector: tuple[ast.Matcher, ...] = ()
    ) -> list[str]:
        cond = self._conditions(start_ns, end_ns, selector)
        key = cond.param(name)
        rows = self.store.query(
            f"SELECT DISTINCT labels[{key}] AS value FROM logs "
            f"WHERE {cond.where} AND mapContains(labels, {key}) ORDER BY value",
            cond.params,
        )
        return [str(v) for v in rows.column("value").to_pylist()] if rows.num_rows else []

    def series(
        self, selectors: list[tuple[ast.Matcher, ...]], start_ns: int, end_ns: int
    ) -> list[dict[str, str]]:
        """The label sets of the streams any selector matches (a union, as in Loki)."""
        found: dict[int, dict[str, str]] = {}
        for selector in selectors or [()]:
            cond = self._conditions(start_ns, end_ns, selector)
            rows = self.store.query(
                f"SELECT stream_id AS id, any(labels) AS stream FROM logs WHERE {cond.where} "
                "GROUP BY stream_id",
                cond.params,
            )
            if rows.num_rows:
                for stream, labels in zip(
                    rows.column("id").to_pylist(), rows.column("stream").to_pylist(), strict=True
                ):
                    found[int(stream)] = dict(labels)
        return sorted(found.values(), key=lambda labels: sorted(labels.items()))

    def index_stats(
        self, selector: tuple[ast.Matcher, ...], start_ns: int, end_ns: int
    ) -> dict[str, int]:
        """Streams, entries and bytes; a "chunk" here is one stream's hour of entries."""
        cond = self._conditions(start_ns, end_ns, selector)
        rows = self.store.query(
            "SELECT uniqExact(stream_id) AS streams, "
            "uniqExact(stream_id, toStartOfHour(timestamp)) AS chunks, "
            "count() AS entries, sum(length(body)) AS nbytes "
            f"FROM logs WHERE {cond.where}",
            cond.params,
        )
        values = rows.to_pylist()[0] if rows.num_rows else {}
        return {
            "streams": int(values.get("streams") or 0),
            "chunks": int(values.get("chunks") or 0),
            "bytes": int(values.get("nbytes") or 0),
            "entries": int(values.get("entries") or 0),
        }

    def _conditions(
        self, start_ns: int, end_ns: int, selector: tuple[ast.Matcher, ...]
    ) -> sql.Conditions:
        cond = sql.base_conditions(self.tenant, start_ns, end_ns)
        sql.add_selector(cond, selector)
        return cond

    def volume(
        self,
        selector: tuple[ast.Matcher, ...],
        start_ns: int,
        end_ns: int,
        target_labels: list[str],
        limit: int,
        step_ns: int | None = None,
    ) -> list[tuple[dict[str, str], list[tuple[int, int]]]]:
        """Bytes of log lines per value of the target labels (by default the selector's
        labels), largest first; per step when `step_ns` is given (Loki's index/volume)."""
        names = target_labels or sorted({m.name for m in selector})
        cond = self._conditions(start_ns, end_ns, selector)
        keys = [f"labels[{cond.param(name)}]" for name in names]
        bucket = (
            f"intDiv(toUnixTimestamp64Nano(timestamp), {step_ns}) * {step_ns}"
            if step_ns
            else str(end_ns)
        )
        group = ", ".join([*(f"{k} AS k{i}" for i, k in enumerate(keys)), f"{bucket} AS at"])
        rows = self.store.query(
            f"SELECT {group}, sum(length(body)) AS nbytes FROM logs WHERE {cond.where} "
            f"GROUP BY {', '.join([*(f'k{i}' for i in range(len(keys))), 'at'])} ORDER BY at",
            cond.params,
        )
        series: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for row in rows.to_pylist():
            key = tuple(str(row[f"k{i}"]) for i in range(len(keys)))
            series.setdefault(key, []).append((int(row["at"]), int(row["nbytes"])))
        ranked = sorted(series.items(), key=lambda item: -sum(v for _, v in item[1]))[:limit]
        return [
            ({name: value for name, value in zip(names, key, strict=True) if value}, points)
            for key, points in ranked
        ]
