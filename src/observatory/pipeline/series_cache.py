"""Leaves out series rows the store already has, so each sample batch does not rewrite them.

A series is written again once an hour so its `last_seen`, which retention counts from, keeps
moving while the series is alive.
"""

from __future__ import annotations

import threading
import time

import pyarrow as pa

REFRESH_SECONDS = 3600.0


class SeriesCache:
    def __init__(self, max_entries: int = 2_000_000) -> None:
        self._written: dict[tuple[str, int], float] = {}
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
        now = time.monotonic()
        keys = zip(
            series.column("tenant").to_pylist(),
            series.column("fingerprint").to_pylist(),
            strict=True,
        )
        with self._lock:
            # Forgetting everything is safe (it only costs rewrites); growing without bound is not.
            if len(self._written) > self._max_entries:
                self._written.clear()
            for key in keys:
                self._written[key] = now

    def _unwritten_mask(self, series: pa.Table) -> list[bool]:
        stale_before = time.monotonic() - REFRESH_SECONDS
        tenants = series.column("tenant").to_pylist()
        fingerprints = series.column("fingerprint").to_pylist()
        with self._lock:
            written = self._written
            return [
                _is_stale(written.get((t, f)), stale_before)
                for t, f in zip(tenants, fingerprints, strict=True)
            ]


def _is_stale(written_at: float | None, stale_before: float) -> bool:
    return written_at is None or written_at < stale_before
