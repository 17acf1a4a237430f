"""A range query must agree, step by step, with instant queries at those steps.

Range queries take the vectorised paths (all windows at once), instant queries the per-window
ones, so this pins the two implementations of every fold to each other on irregular data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from observatory.query.promql import InMemorySource, PromqlEngine

QUERIES = [
    "rate(m_total[2m])",
    "irate(m_total[2m])",
    "delta(m_total[3m])",
    "deriv(m_total[5m])",
    "predict_linear(m_total[5m], 60)",
    "sum_over_time(m_total[4m])",
    "avg_over_time(m_total[4m])",
    "stddev_over_time(m_total[4m])",
    "quantile_over_time(0.3, m_total[4m])",
    "mad_over_time(m_total[4m])",
    "changes(m_total[4m])",
    "ts_of_max_over_time(m_total[4m])",
    "double_exponential_smoothing(m_total[4m], 0.3, 0.6)",
    "avg by (g) (m_total)",
    "quantile by (g) (0.7, m_total)",
    "bottomk by (g) (1, m_total)",
    "histogram_quantile(0.5, m_total)",
    "max_over_time(rate(m_total[1m])[5m:20s])",
    "m_total offset 1m and m_total @ 3000",
]


@pytest.fixture(scope="module")
def engine() -> PromqlEngine:
    rng = np.random.default_rng(1)
    source = InMemorySource()
    for i in range(6):
        times = np.sort(rng.choice(np.arange(4000), 200, replace=False)) * 1000
        values = np.cumsum(rng.integers(-2, 10, 200)).astype(float)
        values[rng.random(200) < 0.05] = np.nan
        labels = {
            "__name__": "m_total",
            "i": str(i),
            "g": str(i % 2),
            "le": ["1", "2", "+Inf"][i % 3],
        }
        source.add(labels, times + rng.integers(0, 999, 200), values)
    return PromqlEngine(source)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(b))


@pytest.mark.parametrize("query", QUERIES)
def test_range_matches_instants(engine: PromqlEngine, query: str) -> None:
    steps = range(100_000, 3_900_001, 97_000)
    result = engine.range(query, steps[0], steps[-1], steps.step)
    by_step: dict[int, dict[tuple[tuple[str, str], ...], float]] = {t: {} for t in steps}
    for labels, times, values in result.data:
        for t, v in zip(times.tolist(), values.tolist(), strict=True):
            by_step[t][tuple(sorted(labels.items()))] = v
    for t in steps:
        instant = {tuple(sorted(lbl.items())): v for lbl, _, v in engine.instant(query, t).data}
        assert instant.keys() == by_step[t].keys(), t
        assert all(_same(v, by_step[t][k]) for k, v in instant.items()), t
