from __future__ import annotations

import numpy as np
import pytest

from observatory.query.promql import numeric

# Infinities in the data make numpy warn; the engine evaluates with warnings off as well.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

RNG = np.random.default_rng(7)
VALUES = np.concatenate([RNG.normal(0, 1e6, 50), [1e100, 1, -1e100, np.inf, 3]])
TIMES = np.arange(len(VALUES), dtype=np.int64) * 15_000
LO = np.array([0, 5, 10, 40, 50, 52])
HI = np.array([10, 25, 11, 55, 53, 55])


def _serial(fn: object) -> np.ndarray:
    return np.array([fn(VALUES[a:b].tolist()) for a, b in zip(LO, HI, strict=True)])  # type: ignore[operator]


@pytest.mark.parametrize(
    ("serial", "parallel"),
    [
        (numeric.sum_serial, numeric.sum_parallel),
        (numeric.mean_serial, numeric.mean_parallel),
        (numeric.variance_serial, numeric.variance_parallel),
    ],
)
def test_parallel_folds_equal_serial_ones(serial: object, parallel: object) -> None:
    expected = _serial(serial)
    got = parallel(VALUES, LO, HI - LO)  # type: ignore[operator]
    np.testing.assert_array_equal(got, expected)


def test_regression_forms_agree() -> None:
    icpt = TIMES[LO]
    slope, intercept = numeric.regression_parallel(TIMES, VALUES, LO, HI - LO, icpt)
    for i, (a, b) in enumerate(zip(LO, HI, strict=True)):
        s, c = numeric.regression_serial(TIMES[a:b].tolist(), VALUES[a:b].tolist(), int(icpt[i]))
        np.testing.assert_array_equal([slope[i], intercept[i]], [s, c])


def test_smoothing_forms_agree() -> None:
    sf, tf = np.full(len(LO), 0.3), np.full(len(LO), 0.6)
    got = numeric.smoothing_parallel(VALUES, LO, HI - LO, sf, tf)
    expected = [
        numeric.smoothing_serial(VALUES[a:b].tolist(), 0.3, 0.6)
        for a, b in zip(LO, HI, strict=True)
    ]
    np.testing.assert_array_equal(got, expected)


def test_kahan_keeps_what_plain_addition_loses() -> None:
    assert numeric.sum_serial([1.0, 1e100, 1.0, -1e100]) == 2.0
    assert sum([1.0, 1e100, 1.0, -1e100]) == 0.0


def test_ieee_division() -> None:
    assert numeric.ieee_div(1.0, 0.0) == np.inf
    assert numeric.ieee_div(-1.0, 0.0) == -np.inf
    assert np.isnan(numeric.ieee_div(0.0, 0.0))
