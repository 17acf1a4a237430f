"""Leaves out series rows the store already has, so each sample batch does not rewrite them.

A series row carries `last_seen`, the newest sample time it was written with; queries and
retention count from it. The row is written again once its samples have moved an hour past
the `last_seen` the store holds, so `last_seen` keeps up with the data (also when old data is
loaded in order, where sample time and wall-clock time differ).
"""

from __future__ import annotations

import threading

import pyarrow as pa

REFRESH_MS = 3_600_000


class SeriesCache:
    def __init__(self, max_entries: int = 2_000_000) -> None:
        self._written: dict[tuple[str, int], int] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def prepare(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        series = tables.get("series")
        if series is None or not series.num_rows:
            return tables
        keep = self._unwritten_mask(series)
        return {**tables, "series": series.filter(pa.array(keep, type=pa.bool_()))}

    def committed(self, tables: dict[str, pa.Table]) -> None:
        series = tables.get("series")
        if series is None:
            return
        rows = zip(
            series.column("tenant").to_pylist(),
            series.column("fingerprint").to_pylist(),
            _millis(series),
            strict=True,
        )
        with self._lock:
            # Forgetting everything is safe (it only costs rewrites); growing without bound is not.
            if len(self._written) > self._max_entries:
                self._written.clear()
            for tenant, fingerprint, last_seen in rows:
                key = (tenant, fingerprint)
                self._written[key] = max(last_seen, self._written.get(key, last_seen))

    def _unwritten_mask(self, series: pa.Table) -> list[bool]:
        rows = zip(
            series.column("tenant").to_pylist(),
            series.column("fingerprint").to_pylist(),
            _millis(series),
            strict=True,
        )
        with self._lock:
            written = self._written
            return [_needs_write(written.get((t, f)), seen) for t, f, seen in rows]


def _millis(series: pa.Table) -> list[int]:
    return [int(v) for v in series.column("last_seen").cast(pa.int64()).to_pylist()]


def _needs_write(written_last_seen: int | None, last_seen: int) -> bool:
    return written_last_seen is None or last_seen - written_last_seen >= REFRESH_MS
