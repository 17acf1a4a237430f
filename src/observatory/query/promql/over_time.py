"""The *_over_time functions and the other functions that summarise each window's samples."""

from __future__ import annotations

import numpy as np

from observatory.query.promql import numeric
from observatory.query.promql.ranges import Windows, first_last, reduce_windows
from observatory.query.promql.selection import column_quantile

Result = tuple[np.ndarray, np.ndarray]


def count_over_time(w: Windows) -> Result:
    return w.n.astype(np.float64), w.n > 0


def present_over_time(w: Windows) -> Result:
    return np.ones(len(w.lo)), w.n > 0


def sum_over_time(w: Windows) -> Result:
    v = w.series.values
    out = numeric.per_window(
        w.lo,
        w.hi,
        lambda: numeric.sum_parallel(v, w.lo, w.n),
        lambda _, a, b: numeric.sum_serial(v[a:b].tolist()),
    )
    return out, w.n > 0


def avg_over_time(w: Windows) -> Result:
    v = w.series.values
    out = numeric.per_window(
        w.lo,
        w.hi,
        lambda: numeric.mean_parallel(v, w.lo, w.n),
        lambda _, a, b: numeric.mean_serial(v[a:b].tolist()),
    )
    return out, w.n > 0


def _variance(w: Windows) -> np.ndarray:
    v = w.series.values
    return numeric.per_window(
        w.lo,
        w.hi,
        lambda: numeric.variance_parallel(v, w.lo, w.n),
        lambda _, a, b: numeric.variance_serial(v[a:b].tolist()),
    )


def stdvar_over_time(w: Windows) -> Result:
    return _variance(w), w.n > 0


def stddev_over_time(w: Windows) -> Result:
    return np.sqrt(_variance(w)), w.n > 0


def min_over_time(w: Windows) -> Result:
    # fmin skips NaN unless a window holds nothing else, as Prometheus does.
    return reduce_windows(np.fmin, w.series.values, w.lo, w.hi), w.n > 0


def max_over_time(w: Windows) -> Result:
    return reduce_windows(np.fmax, w.series.values, w.lo, w.hi), w.n > 0


def last_over_time(w: Windows) -> Result:
    _, last = first_last(w)
    return w.series.values[last], w.n > 0


def first_over_time(w: Windows) -> Result:
    first, _ = first_last(w)
    return w.series.values[first], w.n > 0


def ts_of_last_over_time(w: Windows) -> Result:
    _, last = first_last(w)
    return w.series.times[last] / 1000.0, w.n > 0


def ts_of_first_over_time(w: Windows) -> Result:
    first, _ = first_last(w)
    return w.series.times[first] / 1000.0, w.n > 0


# Windows are laid out as a (samples, windows) matrix in chunks of at most this many cells.
_CHUNK_CELLS = 4_000_000


def _window_matrix(w: Windows, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows a..b-1 as columns: (values, present), one row per sample position."""
    n = w.n[a:b]
    rows = np.arange(int(n.max(initial=0)))[:, None]
    index = np.minimum(w.lo[a:b][None, :] + rows, max(len(w.series.values) - 1, 0))
    values = w.series.values[index] if len(w.series.values) else np.zeros(index.shape)
    return values, rows < n[None, :]


def _chunks(w: Windows) -> list[tuple[int, int]]:
    per_chunk = max(1, _CHUNK_CELLS // max(int(w.n.max(initial=1)), 1))
    return [(a, min(a + per_chunk, len(w.lo))) for a in range(0, len(w.lo), per_chunk)]


def quantile_over_time(w: Windows) -> Result:
    out = np.full(len(w.lo), np.nan)
    for a, b in _chunks(w):
        values, present = _window_matrix(w, a, b)
        out[a:b] = column_quantile(values, present, w.params[0][a:b])
    return out, w.n > 0


def mad_over_time(w: Windows) -> Result:
    """Median absolute deviation from the median; NaN when a window holds NaN."""
    out = np.full(len(w.lo), np.nan)
    for a, b in _chunks(w):
        values, present = _window_matrix(w, a, b)
        half = np.full(b - a, 0.5)
        median = column_quantile(values, present, half)
        spread = column_quantile(np.abs(values - median[None, :]), present, half)
        has_nan = np.any(np.isnan(values) & present, axis=0)
        out[a:b] = np.where(has_nan, np.nan, spread)
    return out, w.n > 0


def _ts_of_extreme(w: Windows, pick: np.ufunc) -> Result:
    """Time of the last sample holding the window's minimum (or maximum); NaN only if all are."""
    out = np.full(len(w.lo), np.nan)
    for a, b in _chunks(w):
        values, present = _window_matrix(w, a, b)
        best = pick.reduce(np.where(present, values, np.nan), axis=0)
        hit = np.where(np.isnan(best)[None, :], present, present & (values == best[None, :]))
        last = hit.shape[0] - 1 - np.argmax(hit[::-1], axis=0)
        out[a:b] = w.series.times[np.minimum(w.lo[a:b] + last, len(w.series.times) - 1)] / 1000.0
    return out, w.n > 0


def ts_of_min_over_time(w: Windows) -> Result:
    return _ts_of_extreme(w, np.fmin)


def ts_of_max_over_time(w: Windows) -> Result:
    return _ts_of_extreme(w, np.fmax)
