"""Delta temporality made cumulative: a running total per series, held in memory.

The store keeps counters and histograms the Prometheus way, as totals since a start, which is
what rate() and histogram_quantile() expect; a delta point only says how much was added since
the previous one. Adding each delta to a running total per series turns one into the other.
Totals live in memory only, so after a restart a series starts again from zero, which
queries read as an ordinary counter reset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_MAX_SERIES = 500_000


@dataclass(slots=True)
class _Totals:
    timestamp_ns: int
    values: dict[str, float] = field(default_factory=dict)


class DeltaToCumulative:
    """Running totals per (tenant, series fingerprint), the least recently updated dropped first.

    A series holds one total per key, so a histogram keeps its count, sum and every bucket
    under one entry. Receivers decode on several threads, hence the lock.
    """

    def __init__(self, max_series: int = DEFAULT_MAX_SERIES) -> None:
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, not {max_series}")
        self.max_series = max_series
        self.out_of_order = 0
        self.evicted = 0
        self._series: OrderedDict[tuple[str, int], _Totals] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def series(self) -> int:
        """How many series have a running total."""
        with self._lock:
            return len(self._series)

    def accumulate(
        self, tenant: str, fingerprint: int, timestamp_ns: int, deltas: Mapping[str, float]
    ) -> dict[str, float] | None:
        """Add `deltas` to the series' totals and return the new totals of those keys.

        A point older than the last one added is refused (None) and leaves the totals as they
        were: folding it in late would rewrite a total that has already been stored.
        """
        key = (tenant, fingerprint)
        with self._lock:
            totals = self._series.get(key)
            if totals is None:
                totals = self._insert(key, timestamp_ns)
            elif timestamp_ns < totals.timestamp_ns:
                self.out_of_order += 1
                return None
            else:
                self._series.move_to_end(key)
                totals.timestamp_ns = timestamp_ns
            return _add(totals.values, deltas)

    def _insert(self, key: tuple[str, int], timestamp_ns: int) -> _Totals:
        totals = _Totals(timestamp_ns)
        self._series[key] = totals
        if len(self._series) > self.max_series:
            self._series.popitem(last=False)
            self.evicted += 1
        return totals


def _add(totals: dict[str, float], deltas: Mapping[str, float]) -> dict[str, float]:
    added: dict[str, float] = {}
    for key, delta in deltas.items():
        added[key] = totals[key] = totals.get(key, 0.0) + delta
    return added
