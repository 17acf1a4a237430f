"""Range aggregation functions over the sample windows of one series, for all steps at once.

A window is `(end - range, end]`: a sample exactly `range` before the end is out, one at the end
is in. Windows are index ranges [lo, hi) into the series' ascending samples, found with one
`searchsorted` per bound; sums use prefix sums where they are exact and `reduceat` otherwise;
variance and quantiles use the structures of window_stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from observatory.errors import QueryError
from observatory.query.logql import window_stats
from observatory.query.logql.ast import RangeOp

# Sums of integers below this are exact in float64, so prefix-sum differences are too.
_EXACT_INTEGER_SUM = float(2**53)

UNWRAPPED_ONLY = frozenset(
    {
        RangeOp.RATE_COUNTER,
        RangeOp.SUM_OVER_TIME,
        RangeOp.AVG_OVER_TIME,
        RangeOp.MIN_OVER_TIME,
        RangeOp.MAX_OVER_TIME,
        RangeOp.STDDEV_OVER_TIME,
        RangeOp.STDVAR_OVER_TIME,
        RangeOp.QUANTILE_OVER_TIME,
        RangeOp.FIRST_OVER_TIME,
        RangeOp.LAST_OVER_TIME,
    }
)


@dataclass
class Windows:
    lo: np.ndarray  # int64 (steps,): first sample index in the window
    hi: np.ndarray  # int64 (steps,): one past the last

    @property
    def n(self) -> np.ndarray:
        return np.asarray(self.hi - self.lo, dtype=np.int64)

    @staticmethod
    def of(times: np.ndarray, ends: np.ndarray, range_ns: int) -> Windows:
        lo = np.searchsorted(times, ends - range_ns, side="right")
        hi = np.searchsorted(times, ends, side="right")
        return Windows(lo.astype(np.int64), hi.astype(np.int64))


def _reduceat(ufunc: np.ufunc, values: np.ndarray, w: Windows, fill: float) -> np.ndarray:
    """ufunc folded over every window in sample order; `fill` where a window is empty."""
    if len(values) == 0 or len(w.lo) == 0:
        return np.full(len(w.lo), fill)
    # The sentinel lets hi == len(values) be an index; pairs [lo, hi) interleave, and the odd
    # results (the stretches between windows) are thrown away.
    extended = np.append(values, fill)
    bounds = np.empty(2 * len(w.lo), dtype=np.int64)
    bounds[0::2] = w.lo
    bounds[1::2] = w.hi
    with np.errstate(all="ignore"):
        folded = ufunc.reduceat(extended, bounds)[0::2]
    return np.where(w.n > 0, folded, fill)


def _is_exact_for_prefix_sums(values: np.ndarray) -> bool:
    if not np.all(np.isfinite(values)):
        return False
    return bool(np.all(values == np.trunc(values))) and (
        float(np.abs(values).sum()) < _EXACT_INTEGER_SUM
    )


def window_sum(values: np.ndarray, w: Windows) -> np.ndarray:
    """Sum per window (0 where empty)."""
    # Line and byte counts are integers: prefix sums are exact and O(samples + steps). Unwrapped
    # values are not, and a difference of prefix sums would carry the rounding of earlier samples.
    if _is_exact_for_prefix_sums(values):
        prefix = np.concatenate(([0.0], np.cumsum(values)))
        return np.asarray(prefix[w.hi] - prefix[w.lo], dtype=np.float64)
    return _reduceat(np.add, values, w, 0.0)


def window_max(values: np.ndarray, w: Windows) -> np.ndarray:
    """Largest value; NaN only when all are NaN (Loki replaces a NaN maximum by any value)."""
    return _reduceat(np.fmax, values, w, np.nan)


def window_min(values: np.ndarray, w: Windows) -> np.ndarray:
    return _reduceat(np.fmin, values, w, np.nan)


def window_first(values: np.ndarray, w: Windows) -> np.ndarray:
    if len(values) == 0:
        return np.full(len(w.lo), np.nan)
    return np.where(w.n > 0, values[np.minimum(w.lo, len(values) - 1)], np.nan)


def window_last(values: np.ndarray, w: Windows) -> np.ndarray:
    if len(values) == 0:
        return np.full(len(w.lo), np.nan)
    return np.where(w.n > 0, values[np.maximum(w.hi - 1, 0)], np.nan)


def window_variance(values: np.ndarray, w: Windows) -> np.ndarray:
    """Population variance per window (NaN where empty)."""
    return window_stats.window_variance(values, w.lo, w.hi)


def window_quantile(q: float, values: np.ndarray, w: Windows) -> np.ndarray:
    """Prometheus's quantile: linear interpolation between the closest ranks."""
    return window_stats.window_quantile(q, values, w.lo, w.hi)


def counter_increase(values: np.ndarray, w: Windows) -> np.ndarray:
    """Last minus first value, plus the value before every drop (a counter reset)."""
    if len(values) == 0:
        return np.zeros(len(w.lo))
    before_drop = np.zeros(len(values))
    before_drop[1:] = np.where(values[1:] < values[:-1], values[:-1], 0.0)
    # Drops inside the window are those at samples lo+1 .. hi-1.
    inner = Windows(np.minimum(w.lo + 1, w.hi), w.hi)
    resets = window_sum(before_drop, inner)
    first, last = window_first(values, w), window_last(values, w)
    return np.where(w.n >= 2, last - first + resets, 0.0)


def apply_range(
    op: RangeOp,
    values: np.ndarray,
    w: Windows,
    range_ns: int,
    unwrapped: bool,
    param: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(value, has a value) per step for one series' samples."""
    seconds = range_ns / 1e9
    n = w.n
    present = n > 0
    with np.errstate(all="ignore"):
        if op in (RangeOp.COUNT_OVER_TIME, RangeOp.RATE) and not unwrapped:
            # Line counts (possibly pre-aggregated into buckets): no lines, no point.
            total = window_sum(values, w)
            return (total if op == RangeOp.COUNT_OVER_TIME else total / seconds), total > 0
        if op == RangeOp.COUNT_OVER_TIME:
            return n.astype(np.float64), present
        if op in (RangeOp.BYTES_OVER_TIME, RangeOp.SUM_OVER_TIME):
            return window_sum(values, w), present
        if op in (RangeOp.BYTES_RATE, RangeOp.RATE):
            return window_sum(values, w) / seconds, present
        return _unwrapped(op, values, w, seconds, param), present


def _unwrapped(
    op: RangeOp, values: np.ndarray, w: Windows, seconds: float, param: float | None
) -> np.ndarray:
    if op == RangeOp.AVG_OVER_TIME:
        return np.asarray(window_sum(values, w) / w.n, dtype=np.float64)
    if op == RangeOp.MIN_OVER_TIME:
        return window_min(values, w)
    if op == RangeOp.MAX_OVER_TIME:
        return window_max(values, w)
    if op == RangeOp.FIRST_OVER_TIME:
        return window_first(values, w)
    if op == RangeOp.LAST_OVER_TIME:
        return window_last(values, w)
    if op == RangeOp.STDVAR_OVER_TIME:
        return window_variance(values, w)
    if op == RangeOp.STDDEV_OVER_TIME:
        return np.asarray(np.sqrt(window_variance(values, w)), dtype=np.float64)
    if op == RangeOp.RATE_COUNTER:
        return counter_increase(values, w) / seconds
    if op == RangeOp.QUANTILE_OVER_TIME:
        if param is None:
            raise QueryError("quantile_over_time needs a quantile parameter")
        return window_quantile(param, values, w)
    raise QueryError(f'unknown range aggregation "{op}"')
