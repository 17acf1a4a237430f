"""Window variance and k-th smallest against a direct computation per window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from observatory.query.logql.window_stats import kth_smallest, window_quantile, window_variance


def _windows(rand: np.random.Generator, n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    lo = rand.integers(0, n + 1, count)
    hi = np.minimum(n, lo + rand.integers(0, n + 1, count))
    return lo.astype(np.int64), hi.astype(np.int64)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 100, 257])
def test_variance_matches_numpy(n: int) -> None:
    rand = np.random.default_rng(n)
    values = np.round(rand.normal(1e6, 3, n), 2)  # a large mean: cancellation would show
    lo, hi = _windows(rand, n, 300)
    got = window_variance(values, lo, hi)
    for i in range(len(lo)):
        if lo[i] == hi[i]:
            assert math.isnan(got[i])
        else:
            assert got[i] == pytest.approx(np.var(values[lo[i] : hi[i]]), rel=1e-9, abs=1e-9)


def test_variance_of_non_finite_values_is_nan_like_lokis_loop() -> None:
    values = np.array([1.0, np.inf, 2.0, np.nan, 3.0, 5.0])
    got = window_variance(values, np.array([0, 1, 2, 3, 4]), np.array([1, 2, 3, 4, 6]))
    assert got[0] == 0.0 and got[2] == 0.0 and got[4] == 1.0
    assert math.isnan(got[1]) and math.isnan(got[3])


@pytest.mark.parametrize("n", [1, 2, 5, 64, 65, 300])
def test_kth_smallest_matches_sorting(n: int) -> None:
    rand = np.random.default_rng(100 + n)
    values = rand.integers(-5, 5, n).astype(float)  # many ties
    lo, hi = _windows(rand, n, 200)
    live = hi > lo
    lo, hi = lo[live], hi[live]
    ks = (rand.random(len(lo)) * (hi - lo)).astype(np.int64)
    (got,) = kth_smallest(values, lo, hi, [ks])
    expected = [np.sort(values[a:b])[k] for a, b, k in zip(lo, hi, ks, strict=True)]
    np.testing.assert_array_equal(got, expected)


def test_nan_ranks_below_every_number() -> None:
    values = np.array([3.0, np.nan, -np.inf, 1.0])
    lo, hi = np.zeros(4, np.int64), np.full(4, 4, np.int64)
    (got,) = kth_smallest(values, lo, hi, [np.arange(4)])
    assert math.isnan(got[0])
    assert list(got[1:]) == [-np.inf, 1.0, 3.0]


def test_quantile_interpolates_and_handles_empty_windows() -> None:
    values = np.array([10.0, 40.0, 20.0, 30.0])
    lo, hi = np.array([0, 2, 0]), np.array([4, 2, 1])
    got = window_quantile(0.25, values, lo, hi)
    assert got[0] == pytest.approx(17.5)
    assert math.isnan(got[1])
    assert got[2] == 10.0
    assert list(window_quantile(-1, values, lo, hi)[[0, 2]]) == [-np.inf, -np.inf]
