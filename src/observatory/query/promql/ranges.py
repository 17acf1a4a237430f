"""Applying a range function to every series of a range vector at every step.

Steps whose windows and parameters coincide (a selector pinned with `@`, or a step smaller than
the scrape interval) are computed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from observatory.query.promql.labels import Labels
from observatory.query.promql.values import InstantVector, RangeSeries, RangeVector, stack


@dataclass
class Windows:
    """The distinct windows of one series: sample index ranges [lo, hi) and their parameters."""

    series: RangeSeries
    lo: np.ndarray
    hi: np.ndarray
    ends: np.ndarray
    range_ms: int
    params: list[np.ndarray]

    @property
    def n(self) -> np.ndarray:
        counts: np.ndarray = self.hi - self.lo
        return counts

    @property
    def starts(self) -> np.ndarray:
        return self.ends - self.range_ms


# Returns (values, present) per window.
RangeFunc = Callable[[Windows], tuple[np.ndarray, np.ndarray]]


def _distinct(ends: np.ndarray, params: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Distinct (end, params...) rows and, per step, the index of its row."""
    if not params:
        uniq, inverse = np.unique(ends, return_inverse=True)
        return uniq, np.empty((len(uniq), 0)), inverse
    key = np.column_stack([ends.astype(np.float64), *params])
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    return uniq[:, 0].astype(np.int64), uniq[:, 1:], inverse.reshape(-1)


def map_range(
    rv: RangeVector,
    func: RangeFunc,
    params: list[np.ndarray] | None = None,
    drop: bool = True,
    check: Callable[[], None] | None = None,
) -> InstantVector:
    """Calls func on every series' distinct windows and spreads the results over the steps.

    check, when given, runs before each series (the query's deadline check).
    """
    steps = len(rv.ends)
    ends, uniq_params, inverse = _distinct(rv.ends, params or [])
    labels: list[Labels] = []
    rows, masks, drops = [], [], []
    probe = RangeVector([], ends, rv.range_ms)
    for series in rv.series:
        if check is not None:
            check()
        lo, hi = probe.bounds(series)
        cols = [uniq_params[:, i] for i in range(uniq_params.shape[1])]
        values, present = func(Windows(series, lo, hi, ends, rv.range_ms, cols))
        present = present[inverse]
        if present.any():
            labels.append(series.labels)
            rows.append(values[inverse])
            masks.append(present)
            drops.append(drop or series.drop)
    values_all, present_all = stack(labels, rows, masks, steps)
    return InstantVector(labels, values_all, present_all, np.array(drops, dtype=bool))


def first_last(w: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first and last sample of every window (clipped for empty windows)."""
    last = max(len(w.series.values) - 1, 0)
    return np.minimum(w.lo, last), np.clip(w.hi - 1, 0, last)


def reduce_windows(
    ufunc: np.ufunc, values: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """ufunc reduced over every window values[lo:hi] in one call; empty windows give junk."""
    padded = np.append(values, np.nan)
    size = len(values)
    bounds = np.empty(2 * len(lo), dtype=np.int64)
    bounds[0::2] = np.minimum(lo, size)
    bounds[1::2] = np.minimum(np.maximum(hi, lo), size)
    return ufunc.reduceat(padded, bounds)[0::2]


def pair_sums(amounts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of amounts[i] (each about samples i-1 and i) over the pairs inside each window."""
    cumulative = np.concatenate([[0.0], np.cumsum(amounts[1:], dtype=np.float64)])
    last = np.maximum(hi - 1, lo)
    size = len(cumulative) - 1
    sums: np.ndarray = cumulative[np.minimum(last, size)] - cumulative[np.minimum(lo, size)]
    return sums
