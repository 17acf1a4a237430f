"""Recursive evaluation of a syntax tree over a grid of steps."""

from __future__ import annotations

import numpy as np

from observatory.errors import QueryError
from observatory.query.promql import aggregations, binary, functions, selectors
from observatory.query.promql.ast import (
    Aggregate,
    Binary,
    Call,
    MatrixSel,
    Negate,
    Node,
    NumberLit,
    Paren,
    StringLit,
    Subquery,
    VectorSel,
    value_type,
)
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.values import (
    InstantVector,
    RangeVector,
    Value,
    empty_vector,
    finalize_names,
)


def _nothing(node: Node) -> Value:
    """The value of an expression over no steps at all (an empty subquery)."""
    kind = value_type(node)
    if kind == "vector":
        return empty_vector(0)
    if kind == "scalar":
        return np.empty(0)
    if kind == "matrix":
        return RangeVector([], np.empty(0, dtype=np.int64), 0)
    return node.value if isinstance(node, StringLit) else ""


def evaluate(node: Node, grid: Grid, ctx: QueryContext) -> Value:
    """The value of node at every step of grid.

    Functions and operators only flag the rows whose metric name goes; it is removed as soon as
    the node is done, as Prometheus 3 does by default (delayed name removal is a feature flag).
    """
    value = _evaluate(node, grid, ctx)
    return finalize_names(value) if isinstance(value, InstantVector) else value


def _evaluate(node: Node, grid: Grid, ctx: QueryContext) -> Value:
    ctx.check_deadline()
    if grid.steps == 0:
        return _nothing(node)
    if isinstance(node, NumberLit):
        return np.full(grid.steps, node.value)
    if isinstance(node, StringLit):
        return node.value
    if isinstance(node, Paren):
        return evaluate(node.expr, grid, ctx)
    if isinstance(node, Negate):
        return binary.negate(evaluate(node.expr, grid, ctx))
    if isinstance(node, VectorSel):
        return selectors.eval_vector_selector(node, grid, ctx)
    if isinstance(node, MatrixSel):
        return selectors.eval_matrix_selector(node, grid, ctx)
    if isinstance(node, Subquery):
        return selectors.eval_subquery(node, grid, ctx, evaluate)
    if isinstance(node, Call):
        return functions.call_function(node, grid, ctx, evaluate)
    if isinstance(node, Aggregate):
        return aggregations.aggregate(node, grid, ctx, evaluate)
    if isinstance(node, Binary):
        return binary.evaluate_binary(node, grid, ctx, evaluate)
    raise QueryError(f"cannot evaluate {type(node).__name__}")
