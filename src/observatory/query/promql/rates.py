"""Rates, deltas, counter resets and regressions over range vectors."""

from __future__ import annotations

import numpy as np

from observatory.query.promql import numeric
from observatory.query.promql.ranges import Windows, first_last, pair_sums

Result = tuple[np.ndarray, np.ndarray]


def _reset_amounts(values: np.ndarray) -> np.ndarray:
    """At each counter reset, the value before it: what the counter lost."""
    amounts = np.zeros(len(values))
    if len(values) > 1:
        amounts[1:] = np.where(values[1:] < values[:-1], values[:-1], 0.0)
    return amounts


def _extrapolated(w: Windows, counter: bool, per_second: bool) -> Result:
    """Prometheus's extrapolatedRate: the change within the window, extrapolated to its edges."""
    v, t = w.series.values, w.series.times
    first_i, last_i = first_last(w)
    first = v[first_i]
    result = v[last_i] - first
    if counter:
        result = result + pair_sums(_reset_amounts(v), w.lo, w.hi)
    to_start = (t[first_i] - w.starts) / 1000.0
    to_end = (w.ends - t[last_i]) / 1000.0
    sampled = (t[last_i] - t[first_i]) / 1000.0
    average_gap = sampled / np.maximum(w.n - 1, 1)
    threshold = average_gap * 1.1
    to_start = np.where(to_start >= threshold, average_gap / 2, to_start)
    if counter:
        # A counter cannot go below zero, so do not extrapolate past the point it would hit zero.
        to_zero = np.where((result > 0) & (first >= 0), sampled * (first / result), to_start)
        to_start = np.where(to_zero < to_start, to_zero, to_start)
    to_end = np.where(to_end >= threshold, average_gap / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled
    if per_second:
        factor = factor / (w.range_ms / 1000.0)
    return result * factor, w.n >= 2


def rate(w: Windows) -> Result:
    return _extrapolated(w, counter=True, per_second=True)


def increase(w: Windows) -> Result:
    return _extrapolated(w, counter=True, per_second=False)


def delta(w: Windows) -> Result:
    return _extrapolated(w, counter=False, per_second=False)


def _instant(w: Windows, is_rate: bool) -> Result:
    v, t = w.series.values, w.series.times
    _, last = first_last(w)
    prev = np.maximum(last - 1, 0)
    change = v[last] - v[prev]
    if not is_rate:
        return change, w.n >= 2
    # After a reset the counter restarted from zero, so its current value is the increase.
    change = np.where(v[last] < v[prev], v[last], change)
    return change / ((t[last] - t[prev]) / 1000.0), w.n >= 2


def irate(w: Windows) -> Result:
    return _instant(w, is_rate=True)


def idelta(w: Windows) -> Result:
    return _instant(w, is_rate=False)


def changes(w: Windows) -> Result:
    v = w.series.values
    flags = np.zeros(len(v))
    if len(v) > 1:
        both_nan = np.isnan(v[1:]) & np.isnan(v[:-1])
        flags[1:] = (v[1:] != v[:-1]) & ~both_nan
    return pair_sums(flags, w.lo, w.hi), w.n > 0


def resets(w: Windows) -> Result:
    v = w.series.values
    flags = np.zeros(len(v))
    if len(v) > 1:
        flags[1:] = v[1:] < v[:-1]
    return pair_sums(flags, w.lo, w.hi), w.n > 0


def _regression(w: Windows, icpt: np.ndarray, duration: np.ndarray | None) -> np.ndarray:
    """deriv's slope, or with a duration predict_linear's value that far past icpt."""
    v, t = w.series.values, w.series.times

    def parallel() -> np.ndarray:
        slope, intercept = numeric.regression_parallel(t, v, w.lo, w.n, icpt)
        return slope if duration is None else slope * duration + intercept

    def serial(i: int, a: int, b: int) -> float:
        slope, intercept = numeric.regression_serial(t[a:b].tolist(), v[a:b].tolist(), icpt[i])
        return slope if duration is None else slope * float(duration[i]) + intercept

    return numeric.per_window(w.lo, w.hi, parallel, serial)


def deriv(w: Windows) -> Result:
    first, _ = first_last(w)
    return _regression(w, w.series.times[first], None), w.n >= 2


def predict_linear(w: Windows) -> Result:
    duration, step_times = w.params
    return _regression(w, step_times.astype(np.int64), duration), w.n >= 2


def double_exponential_smoothing(w: Windows) -> Result:
    v = w.series.values
    sf, tf = w.params

    def serial(i: int, a: int, b: int) -> float:
        return numeric.smoothing_serial(v[a:b].tolist(), float(sf[i]), float(tf[i]))

    out = numeric.per_window(
        w.lo, w.hi, lambda: numeric.smoothing_parallel(v, w.lo, w.n, sf, tf), serial
    )
    return out, w.n >= 2
