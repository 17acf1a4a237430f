"""Compensated (Kahan-Neumaier) folds over sample windows, the way Prometheus accumulates.

Each fold exists twice. The parallel form walks all windows at once, one sample position per numpy
operation; it is fast when there are many windows (range queries). The serial form walks one
window in plain Python; it is fast for a few long windows (instant queries over long ranges).
Both follow Prometheus's operation order, so results match it bit for bit in practice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

# Below this many windows, plain Python per window beats one numpy call per sample position.
PARALLEL_MIN_WINDOWS = 32


def kahan_inc(
    inc: np.ndarray, total: np.ndarray, comp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Adds inc to (total, comp) elementwise; comp is reset once the total overflows."""
    t = total + inc
    big = np.abs(total) >= np.abs(inc)
    comp = np.where(big, comp + ((total - t) + inc), comp + ((inc - t) + total))
    return t, np.where(np.isinf(t), 0.0, comp)


def kahan_inc_py(inc: float, total: float, comp: float) -> tuple[float, float]:
    t = total + inc
    if math.isinf(t):
        return t, 0.0
    if abs(total) >= abs(inc):
        return t, comp + ((total - t) + inc)
    return t, comp + ((inc - t) + total)


def ieee_div(a: float, b: float) -> float:
    """a / b with IEEE semantics, as Go divides: x/0 is ±Inf and 0/0 is NaN."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def positions(
    values: np.ndarray, lo: np.ndarray, n: np.ndarray, start: int = 0
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For k = start, start+1, ...: (k, windows that have a k-th sample, that sample's value)."""
    last = max(len(values) - 1, 0)
    for k in range(start, int(n.max(initial=0))):
        yield k, n > k, values[np.minimum(lo + k, last)]


# --- sum ---------------------------------------------------------------------------------------


def sum_serial(values: list[float]) -> float:
    total, comp = 0.0, 0.0
    for v in values:
        total, comp = kahan_inc_py(v, total, comp)
    return total if math.isinf(total) else total + comp


def sum_parallel(values: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    total = np.zeros(len(lo))
    comp = np.zeros(len(lo))
    for _, active, v in positions(values, lo, n):
        t, c = kahan_inc(v, total, comp)
        total, comp = np.where(active, t, total), np.where(active, c, comp)
    return np.where(np.isinf(total), total, total + comp)


# --- mean --------------------------------------------------------------------------------------


def mean_serial(values: list[float]) -> float:
    """Direct mean with compensated summation, switching to an incremental mean on overflow."""
    total, comp, mean, incremental = values[0], 0.0, 0.0, False
    for i, v in enumerate(values[1:]):
        count = float(i + 2)
        if not incremental:
            new_total, new_comp = kahan_inc_py(v, total, comp)
            if not math.isinf(new_total):
                total, comp = new_total, new_comp
                continue
            incremental = True
            mean, comp = total / (count - 1), comp / (count - 1)
        q = (count - 1) / count
        mean, comp = kahan_inc_py(v / count, q * mean, q * comp)
    if incremental:
        return mean + comp
    return total / len(values) + comp / len(values)


def mean_parallel(values: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    total = values[np.minimum(lo, max(len(values) - 1, 0))].copy() if len(values) else lo * 0.0
    comp, mean = np.zeros(len(lo)), np.zeros(len(lo))
    incremental = np.zeros(len(lo), dtype=bool)
    for k, active, v in positions(values, lo, n, start=1):
        count = float(k + 1)
        new_total, new_comp = kahan_inc(v, total, comp)
        switch = active & ~incremental & np.isinf(new_total)
        direct = active & ~incremental & ~switch
        total, comp = np.where(direct, new_total, total), np.where(direct, new_comp, comp)
        mean = np.where(switch, total / (count - 1), mean)
        comp = np.where(switch, comp / (count - 1), comp)
        incremental |= switch
        q = (count - 1) / count
        m, c = kahan_inc(v / count, q * mean, q * comp)
        step = active & incremental
        mean, comp = np.where(step, m, mean), np.where(step, c, comp)
    safe_n = np.maximum(n, 1)
    return np.where(incremental, mean + comp, total / safe_n + comp / safe_n)


# --- variance ----------------------------------------------------------------------------------


def variance_serial(values: list[float]) -> float:
    count, mean, c_mean, aux, c_aux = 0.0, 0.0, 0.0, 0.0, 0.0
    for v in values:
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = kahan_inc_py(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc_py(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def variance_parallel(values: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    state = [np.zeros(len(lo)) for _ in range(4)]  # mean, c_mean, aux, c_aux
    for k, active, v in positions(values, lo, n):
        mean, c_mean, aux, c_aux = state
        delta = v - (mean + c_mean)
        mean2, c_mean2 = kahan_inc(delta / (k + 1), mean, c_mean)
        aux2, c_aux2 = kahan_inc(delta * (v - (mean2 + c_mean2)), aux, c_aux)
        new = (mean2, c_mean2, aux2, c_aux2)
        state = [np.where(active, a, b) for a, b in zip(new, state, strict=True)]
    variance: np.ndarray = (state[2] + state[3]) / np.maximum(n, 1)
    return variance


# --- linear regression -------------------------------------------------------------------------


def _regression_result(
    sums: list[float], n: float, init_y: float, const_y: bool
) -> tuple[float, float]:
    if const_y:
        return (math.nan, math.nan) if math.isinf(init_y) else (0.0, init_y)
    sum_x, sum_y, sum_xy, sum_x2 = sums
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = ieee_div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def regression_serial(times: list[int], values: list[float], icpt: int) -> tuple[float, float]:
    """Least-squares slope (per second) and the intercept at time icpt."""
    acc = [0.0] * 8  # sum_x, c_x, sum_y, c_y, sum_xy, c_xy, sum_x2, c_x2
    init_y, const_y = values[0], True
    for i, (t, y) in enumerate(zip(times, values, strict=True)):
        if i > 0 and y != init_y:
            const_y = False
        x = (t - icpt) / 1e3
        for j, term in enumerate((x, y, x * y, x * x)):
            acc[2 * j], acc[2 * j + 1] = kahan_inc_py(term, acc[2 * j], acc[2 * j + 1])
    sums = [acc[2 * j] + acc[2 * j + 1] for j in range(4)]
    return _regression_result(sums, float(len(values)), init_y, const_y)


def regression_parallel(
    times: np.ndarray, values: np.ndarray, lo: np.ndarray, n: np.ndarray, icpt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    acc = [np.zeros(len(lo)) for _ in range(8)]
    init_y = values[np.minimum(lo, max(len(values) - 1, 0))] if len(values) else lo * 0.0
    const_y = np.ones(len(lo), dtype=bool)
    last = max(len(values) - 1, 0)
    for k, active, y in positions(values, lo, n):
        if k > 0:
            const_y &= ~(active & (y != init_y))
        x = (times[np.minimum(lo + k, last)] - icpt) / 1e3
        for j, term in enumerate((x, y, x * y, x * x)):
            s, c = kahan_inc(term, acc[2 * j], acc[2 * j + 1])
            acc[2 * j], acc[2 * j + 1] = (
                np.where(active, s, acc[2 * j]),
                np.where(active, c, acc[2 * j + 1]),
            )
    sum_x, sum_y, sum_xy, sum_x2 = (acc[2 * j] + acc[2 * j + 1] for j in range(4))
    count = np.maximum(n, 1).astype(np.float64)
    slope = (sum_xy - sum_x * sum_y / count) / (sum_x2 - sum_x * sum_x / count)
    intercept = sum_y / count - slope * sum_x / count
    const_slope = np.where(np.isinf(init_y), np.nan, 0.0)
    const_icpt = np.where(np.isinf(init_y), np.nan, init_y)
    return np.where(const_y, const_slope, slope), np.where(const_y, const_icpt, intercept)


# --- double exponential smoothing --------------------------------------------------------------


def smoothing_serial(values: list[float], sf: float, tf: float) -> float:
    if len(values) < 2:
        return math.nan
    s0, s1, b = 0.0, values[0], values[1] - values[0]
    for i in range(1, len(values)):
        if i > 1:
            b = tf * (s1 - s0) + (1 - tf) * b
        s0, s1 = s1, sf * values[i] + (1 - sf) * (s1 + b)
    return s1


def smoothing_parallel(
    values: np.ndarray, lo: np.ndarray, n: np.ndarray, sf: np.ndarray, tf: np.ndarray
) -> np.ndarray:
    last = max(len(values) - 1, 0)
    s1 = values[np.minimum(lo, last)]
    b = values[np.minimum(lo + 1, last)] - s1
    s0 = np.zeros(len(lo))
    for k, active, v in positions(values, lo, n, start=1):
        nb = tf * (s1 - s0) + (1 - tf) * b if k > 1 else b
        ns1 = sf * v + (1 - sf) * (s1 + nb)
        s0, s1, b = np.where(active, s1, s0), np.where(active, ns1, s1), np.where(active, nb, b)
    smoothed: np.ndarray = np.where(n >= 2, s1, np.nan)
    return smoothed


def per_window(
    lo: np.ndarray,
    hi: np.ndarray,
    parallel: Callable[[], np.ndarray],
    serial: Callable[[int, int, int], float],
) -> np.ndarray:
    """Runs the parallel fold, or the serial one window by window when there are few windows."""
    if len(lo) >= PARALLEL_MIN_WINDOWS:
        return parallel()
    out = np.full(len(lo), np.nan)
    for w, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b > a:
            out[w] = serial(w, a, b)
    return out
