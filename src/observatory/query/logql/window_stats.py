"""Variance and quantiles over many overlapping windows of one series, without re-reading them.

Windows are index ranges [lo, hi) into a series' samples. With a long range and a short step
every sample sits in hundreds of windows, so visiting each window's samples costs hundreds of
times the series. Both structures here are built level by level in O(n log n) and answer all
windows together at each level, in O((n + windows) log n) with O(n + windows) memory:

- variance: a segment tree of (count, mean, M2) merged with Chan's pairwise formula, which is
  as stable as the Welford loop Loki runs per window;
- k-th smallest: a wavelet matrix over the samples' ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations, elementwise."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    def take(self, index: np.ndarray) -> _Moments:
        return _Moments(self.n[index], self.mean[index], self.m2[index])


def _merge(a: _Moments, b: _Moments) -> _Moments:
    """Chan et al.'s combination of two disjoint sets; an empty side leaves the other as is."""
    n = a.n + b.n
    with np.errstate(all="ignore"):
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.n / n)
        m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / n)
    a_empty, b_empty = a.n == 0, b.n == 0
    return _Moments(
        n,
        np.where(a_empty, b.mean, np.where(b_empty, a.mean, mean)),
        np.where(a_empty, b.m2, np.where(b_empty, a.m2, m2)),
    )


def _select(mask: np.ndarray, yes: _Moments, no: _Moments) -> _Moments:
    return _Moments(
        np.where(mask, yes.n, no.n),
        np.where(mask, yes.mean, no.mean),
        np.where(mask, yes.m2, no.m2),
    )


def _leaves(values: np.ndarray) -> _Moments:
    size = 1 << max(len(values) - 1, 0).bit_length()
    n = np.zeros(size)
    n[: len(values)] = 1.0
    mean = np.zeros(size)
    mean[: len(values)] = values
    # A lone infinity or NaN has no variance in Loki's loop either: inf * (inf - inf) is NaN.
    m2 = np.zeros(size)
    m2[: len(values)] = np.where(np.isfinite(values), 0.0, np.nan)
    return _Moments(n, mean, m2)


def _pairs(level: _Moments) -> _Moments:
    """The next level up: each block merged with its right neighbour."""
    size = len(level.n)
    return _merge(level.take(np.arange(0, size, 2)), level.take(np.arange(1, size, 2)))


def window_variance(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Population variance of values[lo:hi] per window; NaN for empty windows."""
    if len(lo) == 0 or len(values) == 0:
        return np.full(len(lo), np.nan)
    level = _leaves(values)
    zeros = np.zeros(len(lo))
    left = _Moments(zeros, zeros, zeros)
    right = _Moments(zeros, zeros, zeros)
    first, stop = lo.astype(np.int64), hi.astype(np.int64)
    # Bottom-up segment tree query: at each level a window takes at most one block at its left
    # edge and one at its right edge, in block units of that level; then it climbs a level.
    while True:
        active = first < stop
        if not active.any():
            break
        take = active & ((first & 1) == 1)
        left = _select(take, _merge(left, level.take(np.where(take, first, 0))), left)
        first = np.where(take, first + 1, first)
        take = active & ((stop & 1) == 1)
        stop = np.where(take, stop - 1, stop)
        right = _select(take, _merge(level.take(np.where(take, stop, 0)), right), right)
        first, stop = first >> 1, stop >> 1
        if len(level.n) == 1:
            break
        level = _pairs(level)
    total = _merge(left, right)
    with np.errstate(all="ignore"):
        return np.where(total.n > 0, total.m2 / total.n, np.nan)


def sort_order(values: np.ndarray) -> np.ndarray:
    """Indices sorting values ascending with NaN first, as Loki's quantile sorts them."""
    nan = np.isnan(values)
    return np.lexsort((np.where(nan, 0.0, values), ~nan))


def kth_smallest(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, ks: list[np.ndarray]
) -> list[np.ndarray]:
    """For each k array: per window, the k-th smallest (0-based) of values[lo:hi].

    Every k must lie in [0, hi - lo) for its window.
    """
    order = sort_order(values)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    bits = max(len(values) - 1, 1).bit_length()
    state = [
        (lo.astype(np.int64), hi.astype(np.int64), k.astype(np.int64), np.zeros(len(k), np.int64))
        for k in ks
    ]
    current = ranks
    zero_count = np.zeros(len(values) + 1, dtype=np.int64)
    # Wavelet matrix, built from the highest bit down and queried at each level as it is built.
    for bit in range(bits - 1, -1, -1):
        ones = ((current >> bit) & 1).astype(bool)
        np.cumsum(~ones, out=zero_count[1:])
        zeros_total = int(zero_count[-1])
        for i, (a, b, k, found) in enumerate(state):
            za, zb = zero_count[a], zero_count[b]
            go_zero = k < zb - za
            state[i] = (
                np.where(go_zero, za, zeros_total + a - za),
                np.where(go_zero, zb, zeros_total + b - zb),
                np.where(go_zero, k, k - (zb - za)),
                found | np.where(go_zero, 0, 1 << bit),
            )
        current = np.concatenate((current[~ones], current[ones]))
    return [values[order[found]] for _, _, _, found in state]


def window_quantile(q: float, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Prometheus's quantile per window: linear interpolation between the closest ranks."""
    n = hi - lo
    out = np.full(len(lo), np.nan)
    live = np.flatnonzero(n > 0)
    if len(live) == 0:
        return out
    if q < 0 or q > 1:
        out[live] = -np.inf if q < 0 else np.inf
        return out
    size = n[live]
    rank = q * (size - 1)
    lower = np.floor(rank)
    upper = np.minimum(size - 1, lower + 1)
    weight = rank - lower
    low_v, high_v = kth_smallest(
        values, lo[live], hi[live], [lower.astype(np.int64), upper.astype(np.int64)]
    )
    # Loki's arithmetic, also when weight is 0 (so an infinite neighbour makes NaN).
    with np.errstate(all="ignore"):
        out[live] = low_v * (1 - weight) + high_v * weight
    return out
