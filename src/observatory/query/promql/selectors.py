"""Vector selectors, matrix selectors and subqueries.

Each selector reads the source once for everything all evaluation steps need, then picks every
step's samples with searchsorted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from observatory.query.promql.ast import At, MatrixSel, Node, Subquery, VectorSel
from observatory.query.promql.context import DEFAULT_SUBQUERY_STEP_MS, Grid, QueryContext
from observatory.query.promql.labels import Labels, format_labels, from_mapping
from observatory.query.promql.source import NativeHistogramError, RawSeries, stale_mask
from observatory.query.promql.values import (
    InstantVector,
    RangeSeries,
    RangeVector,
    Value,
    empty_vector,
    finalize_names,
    stack,
)

Evaluate = Callable[[Node, Grid, QueryContext], Value]


def resolve_at(at: At, ctx: QueryContext) -> int:
    if at.kind == "start":
        return ctx.start_ms
    if at.kind == "end":
        return ctx.end_ms
    return at.ms


def reference_times(grid: Grid, at: At | None, offset_ms: int, ctx: QueryContext) -> np.ndarray:
    """Per step, the time the selector looks back from: `@` pins it, offset shifts it."""
    base = grid.times if at is None else np.full(grid.steps, resolve_at(at, ctx), dtype=np.int64)
    return base - offset_ms


def fetch(ctx: QueryContext, sel: VectorSel, start_ms: int, end_ms: int) -> list[RawSeries]:
    """The selector's series with samples in [start_ms, end_ms]; `or` groups are unioned."""
    groups = [sel.matchers + g for g in sel.or_groups] if sel.or_groups else [sel.matchers]
    found: dict[Labels, RawSeries] = {}
    for matchers in groups:
        for raw in ctx.source.select(matchers, start_ms, end_ms):
            found.setdefault(from_mapping(raw.labels), raw)
    for key, raw in found.items():
        if raw.has_native_histograms:
            raise NativeHistogramError(
                "native histograms are not supported: series "
                f"{format_labels(key)} has native histogram samples in the queried range"
            )
        ctx.charge(len(raw.timestamps))
    return [found[key] for key in sorted(found)]


def _latest(raw: RawSeries, ref: np.ndarray, lookback_ms: int) -> tuple[np.ndarray, ...]:
    """Per step: value and time of the newest sample within the lookback, and whether it counts."""
    times = np.asarray(raw.timestamps, dtype=np.int64)
    values = np.asarray(raw.values, dtype=np.float64)
    idx = np.searchsorted(times, ref, side="right") - 1
    found = idx >= 0
    idx = np.maximum(idx, 0)
    t, v = times[idx], values[idx]
    present = found & (t > ref - lookback_ms) & ~stale_mask(v)
    return v, t, present


def eval_vector_selector(sel: VectorSel, grid: Grid, ctx: QueryContext) -> InstantVector:
    if grid.steps == 0:
        return empty_vector(0)
    ref = reference_times(grid, sel.at, sel.offset_ms, ctx)
    raws = fetch(ctx, sel, int(ref.min()) - ctx.lookback_ms + 1, int(ref.max()))
    labels: list[Labels] = []
    rows, masks, times = [], [], []
    for raw in raws:
        if len(raw.timestamps) == 0:
            continue
        v, t, present = _latest(raw, ref, ctx.lookback_ms)
        if present.any():
            labels.append(from_mapping(raw.labels))
            rows.append(v)
            masks.append(present)
            times.append(t)
    values, present_all = stack(labels, rows, masks, grid.steps)
    ctx.charge(int(present_all.sum()))
    sample_times = np.vstack(times) if times else np.zeros((0, grid.steps), dtype=np.int64)
    return InstantVector(labels, values, present_all, sample_times=sample_times)


def eval_matrix_selector(node: MatrixSel, grid: Grid, ctx: QueryContext) -> RangeVector:
    sel = node.selector
    ends = reference_times(grid, sel.at, sel.offset_ms, ctx)
    if grid.steps == 0:
        return RangeVector([], ends, node.range_ms)
    raws = fetch(ctx, sel, int(ends.min()) - node.range_ms + 1, int(ends.max()))
    series = []
    for raw in raws:
        values = np.asarray(raw.values, dtype=np.float64)
        keep = ~stale_mask(values)
        times = np.asarray(raw.timestamps, dtype=np.int64)[keep]
        if len(times):
            series.append(RangeSeries(from_mapping(raw.labels), times, values[keep]))
    return RangeVector(series, ends, node.range_ms)


def subquery_grid(node: Subquery, ends: np.ndarray) -> Grid:
    """Inner steps: multiples of the step after the earliest window start, up to the last end."""
    step = node.step_ms or DEFAULT_SUBQUERY_STEP_MS
    first = int(ends.min()) - node.range_ms
    start = step * (first // step)
    if start <= first:
        start += step
    return Grid.span(start, int(ends.max()), step)


def eval_subquery(node: Subquery, grid: Grid, ctx: QueryContext, evaluate: Evaluate) -> RangeVector:
    ends = reference_times(grid, node.at, node.offset_ms, ctx)
    if grid.steps == 0:
        return RangeVector([], ends, node.range_ms)
    inner_grid = subquery_grid(node, ends)
    result = evaluate(node.expr, inner_grid, ctx)
    if isinstance(result, np.ndarray):
        result = InstantVector([()], result[None, :], np.ones((1, inner_grid.steps), dtype=bool))
    if not isinstance(result, InstantVector):
        raise TypeError("subquery expression must be an instant vector or a scalar")
    inner = finalize_names(result)
    series = [
        RangeSeries(lbl, inner_grid.times[mask], vals[mask])
        for lbl, vals, mask in zip(inner.labels, inner.values, inner.present, strict=True)
        if mask.any()
    ]
    return RangeVector(series, ends, node.range_ms)
