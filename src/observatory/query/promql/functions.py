"""Function calls: dispatch, elementwise math, clamping, dates and the scalar helpers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.promql import (
    histograms,
    instant_functions,
    label_functions,
    over_time,
    rates,
)
from observatory.query.promql.args import map_values, scalar_arg, vector_arg
from observatory.query.promql.ast import Call, value_type
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.labels import get
from observatory.query.promql.ranges import RangeFunc, map_range
from observatory.query.promql.selectors import Evaluate
from observatory.query.promql.values import InstantVector, RangeVector, Value, any_row

MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": lambda v: v * 180 / np.pi,
    "rad": lambda v: v * np.pi / 180,
    "sgn": np.sign,
}

# Range functions and whether they drop the metric name.
RANGE: dict[str, tuple[RangeFunc, bool]] = {
    "rate": (rates.rate, True),
    "increase": (rates.increase, True),
    "delta": (rates.delta, True),
    "irate": (rates.irate, True),
    "idelta": (rates.idelta, True),
    "changes": (rates.changes, True),
    "resets": (rates.resets, True),
    "deriv": (rates.deriv, True),
    "predict_linear": (rates.predict_linear, True),
    "double_exponential_smoothing": (rates.double_exponential_smoothing, True),
    "count_over_time": (over_time.count_over_time, True),
    "sum_over_time": (over_time.sum_over_time, True),
    "avg_over_time": (over_time.avg_over_time, True),
    "min_over_time": (over_time.min_over_time, True),
    "max_over_time": (over_time.max_over_time, True),
    "stddev_over_time": (over_time.stddev_over_time, True),
    "stdvar_over_time": (over_time.stdvar_over_time, True),
    "quantile_over_time": (over_time.quantile_over_time, True),
    "mad_over_time": (over_time.mad_over_time, True),
    "present_over_time": (over_time.present_over_time, True),
    "last_over_time": (over_time.last_over_time, False),
    "first_over_time": (over_time.first_over_time, False),
    "ts_of_last_over_time": (over_time.ts_of_last_over_time, True),
    "ts_of_first_over_time": (over_time.ts_of_first_over_time, True),
    "ts_of_min_over_time": (over_time.ts_of_min_over_time, True),
    "ts_of_max_over_time": (over_time.ts_of_max_over_time, True),
}
_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


def _range_params(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> list[np.ndarray]:
    scalars = [
        scalar_arg(node, i, grid, ctx, ev)
        for i, a in enumerate(node.args)
        if value_type(a) == "scalar"
    ]
    if node.name == "predict_linear":
        scalars.append(grid.times.astype(np.float64))
    if node.name == "double_exponential_smoothing":
        _check_smoothing(scalars[0], scalars[1])
    if node.name == "quantile_over_time":
        _check_quantiles(scalars[0], ctx)
    return scalars


def _check_smoothing(sf: np.ndarray, tf: np.ndarray) -> None:
    bad_sf = sf[~((sf > 0) & (sf < 1))]
    if bad_sf.size:
        raise QueryExecutionError(
            f"invalid smoothing factor. Expected: 0 < sf < 1, got: {bad_sf[0]:f}"
        )
    bad_tf = tf[~((tf > 0) & (tf < 1))]
    if bad_tf.size:
        raise QueryExecutionError(f"invalid trend factor. Expected: 0 < tf < 1, got: {bad_tf[0]:f}")


def _check_quantiles(qs: np.ndarray, ctx: QueryContext) -> None:
    for q in qs[np.isnan(qs) | (qs < 0) | (qs > 1)][:1]:
        ctx.warn(f"quantile value should be between 0 and 1, got {histograms.format_go_float(q)}")


def range_matrix(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> RangeVector:
    index = next(i for i, a in enumerate(node.args) if value_type(a) == "matrix")
    rv = ev(node.args[index], grid, ctx)
    if not isinstance(rv, RangeVector):
        raise QueryError(f"expected a range vector in {node.name}()")
    return rv


def _counter_note(node: Call, rv: RangeVector, out: InstantVector, ctx: QueryContext) -> None:
    if node.name not in ("rate", "increase") or not out.labels:
        return
    for series in rv.series:
        name = get(series.labels, "__name__")
        if name and not name.endswith(_COUNTER_SUFFIXES):
            ctx.info(
                "metric might not be a counter, name does not end in "
                f'_total/_sum/_count/_bucket: "{name}"'
            )


def call_range(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    rv = range_matrix(node, grid, ctx, ev)
    params = _range_params(node, grid, ctx, ev)
    func, drop = RANGE[node.name]
    out = map_range(rv, func, params, drop=drop, check=ctx.check_deadline)
    _counter_note(node, rv, out, ctx)
    return out


def absent_over_time(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    rv = range_matrix(node, grid, ctx, ev)
    seen = any_row(map_range(rv, over_time.present_over_time).present)
    labels = label_functions.absent_labels(node.args[0])
    return InstantVector([labels], np.ones((1, grid.steps)), ~seen[None, :])


def call_function(node: Call, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    """Evaluates a function call over every step."""
    if node.name in RANGE:
        return call_range(node, grid, ctx, ev)
    if node.name in MATH:
        return map_values(vector_arg(node, 0, grid, ctx, ev), MATH[node.name])
    if node.name == "absent_over_time":
        return absent_over_time(node, grid, ctx, ev)
    handler = instant_functions.HANDLERS.get(node.name) or histograms.HANDLERS.get(node.name)
    if handler is None:
        raise QueryError(f"function {node.name}() is not supported")
    return handler(node, grid, ctx, ev)
