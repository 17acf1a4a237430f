"""Reading a function call's arguments, and the shape of function handlers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.promql.ast import Call, StringLit, unwrap_parens
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.selectors import Evaluate
from observatory.query.promql.values import InstantVector, Value

Handler = Callable[[Call, Grid, QueryContext, Evaluate], Value]


def vector_arg(node: Call, i: int, grid: Grid, ctx: QueryContext, ev: Evaluate) -> InstantVector:
    value = ev(node.args[i], grid, ctx)
    if not isinstance(value, InstantVector):
        raise QueryError(f"expected an instant vector as argument {i + 1} of {node.name}()")
    return value


def scalar_arg(node: Call, i: int, grid: Grid, ctx: QueryContext, ev: Evaluate) -> np.ndarray:
    value = ev(node.args[i], grid, ctx)
    if not isinstance(value, np.ndarray):
        raise QueryError(f"expected a scalar as argument {i + 1} of {node.name}()")
    return value


def string_arg(node: Call, i: int) -> str:
    arg = unwrap_parens(node.args[i])
    if not isinstance(arg, StringLit):
        raise QueryError(f"expected a string as argument {i + 1} of {node.name}()")
    return arg.value


def label_name_arg(node: Call, i: int, message: str) -> str:
    """A string argument used as a label name: non-empty UTF-8, as Prometheus 3 requires."""
    arg = unwrap_parens(node.args[i])
    name = string_arg(node, i)
    if name == "" or (isinstance(arg, StringLit) and arg.invalid_utf8 is not None):
        raise QueryExecutionError(message.format(name))
    return name


def map_values(vec: InstantVector, fn: Callable[[np.ndarray], np.ndarray]) -> InstantVector:
    """fn applied to every value; like every function changing values, it drops the name."""
    with np.errstate(all="ignore"):
        values = fn(vec.values)
    drop = np.ones(len(vec.labels), dtype=bool)
    return InstantVector(vec.labels, values, vec.present.copy(), drop)
