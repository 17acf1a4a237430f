"""Functions over instant vectors and scalars that are not range functions or histograms."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from observatory.errors import QueryError
from observatory.query.promql import label_functions as lf
from observatory.query.promql.args import (
    Handler,
    label_name_arg,
    map_values,
    scalar_arg,
    string_arg,
    vector_arg,
)
from observatory.query.promql.ast import Call
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.selectors import Evaluate
from observatory.query.promql.values import InstantVector, Value, any_row


def _single(values: np.ndarray) -> InstantVector:
    """One series without labels holding a value at every step."""
    return InstantVector([()], values[None, :].astype(np.float64), np.ones((1, len(values)), bool))


def _time(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    return grid.times / 1000.0


def _pi(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    return np.full(grid.steps, math.pi)


def _vector(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    return _single(scalar_arg(node, 0, grid, ctx, ev))


def _scalar(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    count = vec.present.sum(axis=0)
    total = np.where(vec.present, vec.values, 0.0).sum(axis=0)
    return np.where(count == 1, total, np.nan)


def _timestamp(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    # A selector's samples carry their own times; anything computed is stamped with the step.
    times = vec.sample_times
    if times is None:
        times = np.broadcast_to(grid.times, vec.values.shape)
    return map_values(vec, lambda _: times / 1000.0)


def _absent(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    seen = any_row(vector_arg(node, 0, grid, ctx, ev).present)
    labels = lf.absent_labels(node.args[0])
    return InstantVector([labels], np.ones((1, grid.steps)), ~seen[None, :])


def _clamp(vec: InstantVector, low: np.ndarray, high: np.ndarray) -> InstantVector:
    out = map_values(vec, lambda v: np.maximum(low, np.minimum(high, v)))
    out.present &= ~(high < low)[None, :]
    return out


def _clamp_both(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    low, high = scalar_arg(node, 1, grid, ctx, ev), scalar_arg(node, 2, grid, ctx, ev)
    return _clamp(vec, low, high)


def _clamp_min(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    return _clamp(vec, scalar_arg(node, 1, grid, ctx, ev), np.full(grid.steps, np.inf))


def _clamp_max(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    return _clamp(vec, np.full(grid.steps, -np.inf), scalar_arg(node, 1, grid, ctx, ev))


def _round(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = vector_arg(node, 0, grid, ctx, ev)
    nearest = scalar_arg(node, 1, grid, ctx, ev) if len(node.args) > 1 else np.ones(grid.steps)
    with np.errstate(all="ignore"):
        # Multiplying by the inverse rounds more exactly than dividing by the step (Prometheus).
        inverse = 1.0 / nearest
    return map_values(vec, lambda v: np.floor(v * inverse + 0.5) / inverse)


def _date_parts(seconds: np.ndarray) -> dict[str, np.ndarray]:
    t = seconds.astype("datetime64[s]")
    day = t.astype("datetime64[D]")
    month = t.astype("datetime64[M]")
    year = t.astype("datetime64[Y]")
    next_month = (month + 1).astype("datetime64[D]")
    return {
        "year": year.astype(np.int64) + 1970,
        "month": month.astype(np.int64) % 12 + 1,
        "day_of_month": (day - month.astype("datetime64[D]")).astype(np.int64) + 1,
        "day_of_year": (day - year.astype("datetime64[D]")).astype(np.int64) + 1,
        "day_of_week": (day.astype(np.int64) + 4) % 7,
        "hour": (seconds // 3600) % 24,
        "minute": (seconds // 60) % 60,
        "days_in_month": (next_month - month.astype("datetime64[D]")).astype(np.int64),
    }


def date_function(part: str) -> Handler:
    def compute(values: np.ndarray) -> np.ndarray:
        finite = np.isfinite(values)
        # Go converts with int64(f): truncation toward zero.
        seconds = np.where(finite, np.trunc(np.where(finite, values, 0)), 0).astype(np.int64)
        return np.where(finite, _date_parts(seconds)[part].astype(np.float64), np.nan)

    def handler(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
        if not node.args:
            return _single(compute(grid.times / 1000.0))
        return map_values(vector_arg(node, 0, grid, ctx, ev), compute)

    return handler


def _constant(get: Callable[[QueryContext], float]) -> Handler:
    def handler(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
        return np.full(grid.steps, get(ctx))

    return handler


def _pairwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Handler:
    def handler(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
        return fn(scalar_arg(node, 0, grid, ctx, ev), scalar_arg(node, 1, grid, ctx, ev))

    return handler


def _label_replace(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    label_name_arg(node, 1, "invalid destination label name in label_replace(): {}")
    dst, repl, src, regex = (string_arg(node, i) for i in range(1, 5))
    return lf.label_replace(vector_arg(node, 0, grid, ctx, ev), dst, repl, src, regex)


def _label_join(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    dst = label_name_arg(node, 1, "invalid destination label name in label_join(): {}")
    sep = string_arg(node, 2)
    srcs = [
        label_name_arg(node, i, "invalid source label name in label_join(): {}")
        for i in range(3, len(node.args))
    ]
    return lf.label_join(vector_arg(node, 0, grid, ctx, ev), dst, sep, srcs)


def _sorter(descending: bool, by_label: bool) -> Handler:
    def handler(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
        vec = vector_arg(node, 0, grid, ctx, ev)
        if by_label:
            names = [string_arg(node, i) for i in range(1, len(node.args))]
            return lf.sort_by_label(vec, names, descending)
        return lf.sort_by_value(vec, descending)

    return handler


def _unsupported(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    raise QueryError(f"function {node.name}() is not supported")


HANDLERS: dict[str, Handler] = {
    "time": _time,
    "pi": _pi,
    "vector": _vector,
    "scalar": _scalar,
    "timestamp": _timestamp,
    "absent": _absent,
    "clamp": _clamp_both,
    "clamp_min": _clamp_min,
    "clamp_max": _clamp_max,
    "round": _round,
    "label_replace": _label_replace,
    "label_join": _label_join,
    "sort": _sorter(descending=False, by_label=False),
    "sort_desc": _sorter(descending=True, by_label=False),
    "sort_by_label": _sorter(descending=False, by_label=True),
    "sort_by_label_desc": _sorter(descending=True, by_label=True),
    "step": _constant(lambda ctx: ctx.step_ms / 1000.0),
    "range": _constant(lambda ctx: (ctx.end_ms - ctx.start_ms) / 1000.0),
    "start": _constant(lambda ctx: ctx.start_ms / 1000.0),
    "end": _constant(lambda ctx: ctx.end_ms / 1000.0),
    "min_of": _pairwise(np.minimum),
    "max_of": _pairwise(np.maximum),
    "info": _unsupported,
    **{
        part: date_function(part)
        for part in (
            "year",
            "month",
            "day_of_month",
            "day_of_year",
            "day_of_week",
            "hour",
            "minute",
            "days_in_month",
        )
    },
}
