"""histogram_quantile, histogram_quantiles and histogram_fraction over classic `le` buckets.

Native histograms are not evaluated: selecting them fails before reaching these functions, and the
native-only functions (histogram_count, ...) ignore float samples, as Prometheus does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from observatory.query.promql.args import Handler, scalar_arg, string_arg, vector_arg
from observatory.query.promql.ast import Call
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.floats import format_g, format_openmetrics, parse_go_float
from observatory.query.promql.labels import (
    BUCKET_LABEL,
    METRIC_NAME,
    Labels,
    get,
    with_label,
    without,
)
from observatory.query.promql.selectors import Evaluate
from observatory.query.promql.values import (
    InstantVector,
    Value,
    any_row,
    merge_same_labels,
    stack,
)

MONOTONICITY = (
    "input to histogram_quantile needed to be fixed for monotonicity (see "
    "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
    'for metric name "{}"'
)


def format_go_float(x: float) -> str:
    return format_g(float(x))


@dataclass
class BucketGroup:
    """The bucket series of one classic histogram, sorted by upper bound."""

    labels: Labels  # output labels: without le and the metric name
    name: str
    uppers: np.ndarray
    counts: np.ndarray  # (buckets, steps)
    present: np.ndarray  # (buckets, steps)


def bucket_groups(vec: InstantVector, ctx: QueryContext) -> list[BucketGroup]:
    found: dict[Labels, list[tuple[float, int]]] = {}
    for row, lbl in enumerate(vec.labels):
        upper = parse_go_float(get(lbl, BUCKET_LABEL))
        if upper is None:
            ctx.warn(
                f'bucket label "le" is missing or has a malformed value of '
                f'"{get(lbl, BUCKET_LABEL)}" for metric name "{get(lbl, METRIC_NAME)}"'
            )
            continue
        found.setdefault(without(lbl, (BUCKET_LABEL,)), []).append((upper, row))
    groups = []
    for key, members in found.items():
        members.sort(key=lambda m: m[0])
        rows = [row for _, row in members]
        uppers = np.array([u for u, _ in members])
        out = without(key, (METRIC_NAME,))
        name = get(key, METRIC_NAME)
        groups.append(BucketGroup(out, name, uppers, vec.values[rows], vec.present[rows]))
    return groups


def _coalesce(uppers: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buckets sharing an upper bound (written differently, like 0.2 and 2e-1) add up."""
    uniq, index = np.unique(uppers, return_inverse=True)
    merged = np.zeros((len(uniq), counts.shape[1]))
    np.add.at(merged, index, counts)
    return uniq, merged


def _fix_precision(counts: np.ndarray, tolerance: float = 1e-12) -> None:
    prev = counts[0].copy()
    for i in range(1, len(counts)):
        curr = counts[i]
        with np.errstate(all="ignore"):
            fix = (curr != prev) & (np.abs(curr - prev) / curr <= tolerance)
        counts[i] = np.where(fix, prev, curr)
        prev = np.where(fix, prev, curr)


def _force_monotonic(counts: np.ndarray) -> np.ndarray:
    """Raises each count to the largest one below it; returns where that changed anything."""
    running = counts[0].copy()
    forced = np.zeros(counts.shape[1], dtype=bool)
    for i in range(1, len(counts)):
        curr = counts[i]
        lower = curr < running
        running = np.where(curr > running, curr, running)
        counts[i] = np.where(lower, running, curr)
        forced |= lower
    return forced


def _quantile_bounds(q: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Out-of-range quantiles win over everything else, as in Prometheus."""
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q), np.nan, result)


def bucket_quantile(
    q: np.ndarray, uppers: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the q-quantile of cumulative bucket counts, and where monotonicity was forced."""
    cols = counts.shape[1]
    nothing = np.zeros(cols, dtype=bool)
    if not np.isposinf(uppers[-1]):
        return _quantile_bounds(q, np.full(cols, np.nan)), nothing
    uppers, counts = _coalesce(uppers, counts)
    _fix_precision(counts)
    forced = _force_monotonic(counts)
    if len(uppers) < 2:
        return _quantile_bounds(q, np.full(cols, np.nan)), nothing
    total = counts[-1]
    rank = q * total
    ge = counts[:-1] >= rank[None, :]
    b = np.where(ge.any(axis=0), ge.argmax(axis=0), len(uppers) - 1)
    cols_idx = np.arange(cols)
    below = np.where(b > 0, counts[np.maximum(b - 1, 0), cols_idx], 0.0)
    start = np.where(b > 0, uppers[np.maximum(b - 1, 0)], 0.0)
    end = uppers[np.minimum(b, len(uppers) - 1)]
    with np.errstate(all="ignore"):
        inside = start + (end - start) * ((rank - below) / (counts[b, cols_idx] - below))
    result = np.where(b == len(uppers) - 1, uppers[-2], inside)
    result = np.where((b == 0) & (uppers[0] <= 0), uppers[0], result)
    result = np.where(total == 0, np.nan, result)
    return _quantile_bounds(q, result), forced


def _interpolate(x: np.ndarray, low: float, high: float, count: np.ndarray) -> np.ndarray:
    """Observations of a bucket below x; infinite buckets put them all at their finite edge."""
    if np.isneginf(low):
        return count
    if np.isposinf(high):
        return np.zeros_like(count)
    return count * (x - low) / (high - low)


def bucket_fraction(
    lower: np.ndarray, upper: np.ndarray, uppers: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Per column: the fraction of observations between lower and upper."""
    cols = counts.shape[1]
    if not np.isposinf(uppers[-1]):
        return np.full(cols, np.nan)
    uppers, counts = _coalesce(uppers, counts)
    total = counts[-1]
    ranks = {"lower": np.zeros(cols), "upper": np.zeros(cols)}
    done = {"lower": np.zeros(cols, dtype=bool), "upper": np.zeros(cols, dtype=bool)}
    rank = np.zeros(cols)
    for i, high in enumerate(uppers):
        low = (-np.inf if high <= 0 else 0.0) if i == 0 else uppers[i - 1]
        count = counts[i] - (counts[i - 1] if i > 0 else 0.0)
        for key, x in (("lower", lower), ("upper", upper)):
            at_edge = ~done[key] & (low >= x)
            inside = ~done[key] & ~at_edge & (low < x) & (high > x)
            with np.errstate(all="ignore"):
                part = _interpolate(x, low, high, count)
            ranks[key] = np.where(at_edge, rank, np.where(inside, rank + part, ranks[key]))
            done[key] |= at_edge | inside
        rank = rank + count
    for key in ranks:
        ranks[key] = np.where(~done[key] | (ranks[key] > total), total, ranks[key])
    with np.errstate(all="ignore"):
        result = (ranks["upper"] - ranks["lower"]) / total
    result = np.where(lower >= upper, 0.0, result)
    return np.where((total == 0) | np.isnan(lower) | np.isnan(upper), np.nan, result)


PatternCompute = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
GroupCompute = Callable[[BucketGroup, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _per_pattern(group: BucketGroup, compute: PatternCompute) -> np.ndarray:
    """Runs compute for each distinct set of buckets present, over the steps having that set."""
    out = np.full(group.counts.shape[1], np.nan)
    patterns, inverse = np.unique(group.present.T, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        cols = np.nonzero(inverse.reshape(-1) == p)[0]
        out[cols] = compute(group.uppers[pattern], group.counts[pattern][:, cols], cols)
    return out


def _classic(
    vec: InstantVector,
    ctx: QueryContext,
    compute: GroupCompute,
    label: tuple[str, str] | None = None,
) -> InstantVector:
    labels, rows, masks = [], [], []
    for group in bucket_groups(vec, ctx):
        lbl = group.labels if label is None else with_label(group.labels, *label)
        labels.append(lbl)
        rows.append(_per_pattern(group, partial(compute, group)))
        masks.append(any_row(group.present))
    values, present = stack(labels, rows, masks, vec.steps)
    return merge_same_labels(InstantVector(labels, values, present, np.ones(len(labels), bool)))


def _check_quantile(q: np.ndarray, ctx: QueryContext) -> None:
    bad = q[np.isnan(q) | (q < 0) | (q > 1)]
    if bad.size:
        ctx.warn(f"quantile value should be between 0 and 1, got {format_go_float(bad[0])}")


def quantile_vector(
    q: np.ndarray, vec: InstantVector, ctx: QueryContext, label: tuple[str, str] | None = None
) -> InstantVector:
    def compute(
        g: BucketGroup, uppers: np.ndarray, counts: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        result, forced = bucket_quantile(q[cols], uppers, counts.copy())
        if forced.any():
            ctx.info(MONOTONICITY.format(g.name))
        return result

    return _classic(vec, ctx, compute, label)


def _histogram_quantile(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    q = scalar_arg(node, 0, grid, ctx, ev)
    _check_quantile(q, ctx)
    return quantile_vector(q, vector_arg(node, 1, grid, ctx, ev), ctx)


def _histogram_quantiles(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    name = string_arg(node, 1)
    parts = []
    for i in range(2, len(node.args)):
        q = scalar_arg(node, i, grid, ctx, ev)
        _check_quantile(q, ctx)
        parts.append(quantile_vector(q, vec, ctx, (name, format_openmetrics(float(q[0])))))
    labels = [lbl for p in parts for lbl in p.labels]
    values, present = stack(
        labels, [p.values for p in parts], [p.present for p in parts], grid.steps
    )
    return merge_same_labels(InstantVector(labels, values, present, np.ones(len(labels), bool)))


def _histogram_fraction(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    lower, upper = scalar_arg(node, 0, grid, ctx, ev), scalar_arg(node, 1, grid, ctx, ev)

    def compute(
        g: BucketGroup, uppers: np.ndarray, counts: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        return bucket_fraction(lower[cols], upper[cols], uppers, counts)

    return _classic(vector_arg(node, 2, grid, ctx, ev), ctx, compute)


def _native_only(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    """Float samples are not histograms: Prometheus returns nothing for them."""
    vec = vector_arg(node, 0, grid, ctx, ev)
    return vec.take([])


HANDLERS: dict[str, Handler] = {
    "histogram_quantile": _histogram_quantile,
    "histogram_quantiles": _histogram_quantiles,
    "histogram_fraction": _histogram_fraction,
    **{
        name: _native_only
        for name in (
            "histogram_count",
            "histogram_sum",
            "histogram_avg",
            "histogram_stddev",
            "histogram_stdvar",
        )
    },
}
