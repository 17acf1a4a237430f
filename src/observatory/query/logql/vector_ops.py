"""Vector aggregations (`sum by (x) (...)`, `topk(3, ...)`), evaluated for all steps at once.

Groups are folded in parallel: the k-th member of every group is added at the same time, so
the number of numpy operations grows with the largest group, not with the number of series.
A series without a value at a step takes no part in that step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from observatory.errors import QueryError
from observatory.query.logql.ast import Grouping, VectorAggregation, VectorOp
from observatory.query.logql.metric_values import (
    Labels,
    Vector,
    drop_labels,
    empty_vector,
    keep_labels,
    sorted_by_labels,
)


def group_key(labels: Labels, grouping: Grouping | None) -> Labels:
    """The labels a group keeps: `by ()` and no grouping at all keep none."""
    if grouping is None:
        return ()
    if grouping.without:
        return drop_labels(labels, grouping.labels)
    return keep_labels(labels, grouping.labels)


@dataclass
class Groups:
    labels: list[Labels]
    members: np.ndarray  # int64 (groups, largest group): input rows, -1 as padding

    @staticmethod
    def of(vec: Vector, grouping: Grouping | None) -> Groups:
        rows: dict[Labels, list[int]] = {}
        for row, lbl in enumerate(vec.labels):
            rows.setdefault(group_key(lbl, grouping), []).append(row)
        width = max((len(r) for r in rows.values()), default=0)
        members = np.full((len(rows), width), -1, dtype=np.int64)
        for g, member_rows in enumerate(rows.values()):
            members[g, : len(member_rows)] = member_rows
        return Groups(list(rows), members)


@dataclass
class _State:
    count: np.ndarray  # float64 (groups, steps): members with a value so far
    value: np.ndarray
    mean: np.ndarray


_Fold = Callable[[_State, np.ndarray, np.ndarray, np.ndarray], None]


def _fold_sum(s: _State, v: np.ndarray, p: np.ndarray, first: np.ndarray) -> None:
    s.value = np.where(p, s.value + v, s.value)


def _fold_max(s: _State, v: np.ndarray, p: np.ndarray, first: np.ndarray) -> None:
    # Loki replaces a NaN maximum by whatever comes next.
    take = first | (p & ((s.value < v) | np.isnan(s.value)))
    s.value = np.where(take, v, s.value)


def _fold_min(s: _State, v: np.ndarray, p: np.ndarray, first: np.ndarray) -> None:
    take = first | (p & ((s.value > v) | np.isnan(s.value)))
    s.value = np.where(take, v, s.value)


def _fold_mean(s: _State, v: np.ndarray, p: np.ndarray, first: np.ndarray) -> None:
    # Loki's incremental mean (count already includes this member).
    later = np.where(p, s.mean + (v - s.mean) / np.maximum(s.count, 1.0), s.mean)
    s.mean = np.where(first, v, later)


def _fold_variance(s: _State, v: np.ndarray, p: np.ndarray, first: np.ndarray) -> None:
    # Welford, like Loki: `value` accumulates the sum of squared deviations.
    delta = v - s.mean
    mean = s.mean + delta / np.maximum(s.count, 1.0)
    later = p & ~first
    s.value = np.where(later, s.value + delta * (v - mean), np.where(first, 0.0, s.value))
    s.mean = np.where(first, v, np.where(later, mean, s.mean))


_FOLDS: dict[VectorOp, _Fold] = {
    VectorOp.SUM: _fold_sum,
    VectorOp.COUNT: _fold_sum,
    VectorOp.MAX: _fold_max,
    VectorOp.MIN: _fold_min,
    VectorOp.AVG: _fold_mean,
    VectorOp.STDDEV: _fold_variance,
    VectorOp.STDVAR: _fold_variance,
}


def _fold(op: VectorOp, vec: Vector, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    shape = (len(groups.labels), vec.steps)
    state = _State(np.zeros(shape), np.zeros(shape), np.zeros(shape))
    fold = _FOLDS[op]
    with np.errstate(all="ignore"):
        for k in range(groups.members.shape[1]):
            rows = groups.members[:, k]
            has = rows >= 0
            safe = np.maximum(rows, 0)
            present = vec.present[safe] & has[:, None]
            values = np.ones(shape) if op == VectorOp.COUNT else vec.values[safe]
            first = present & (state.count == 0)
            state.count = state.count + present
            fold(state, values, present, first)
        return _finish(op, state), state.count > 0


def _finish(op: VectorOp, state: _State) -> np.ndarray:
    if op == VectorOp.AVG:
        return state.mean
    if op == VectorOp.STDVAR:
        return np.asarray(state.value / state.count, dtype=np.float64)
    if op == VectorOp.STDDEV:
        return np.asarray(np.sqrt(state.value / state.count), dtype=np.float64)
    return state.value


def _select_k(node: VectorAggregation, vec: Vector) -> Vector:
    """topk/bottomk per step and group; ties go to the series with the smaller labels."""
    if node.param is None:
        raise QueryError(f"{node.op} needs a parameter")
    k = int(node.param)
    if k < 1 or not vec.labels:
        return empty_vector(vec.steps)
    vec = sorted_by_labels(vec)
    keep = np.zeros_like(vec.present)
    for member_rows in Groups.of(vec, node.grouping).members:
        rows = member_rows[member_rows >= 0]
        values, present = vec.values[rows], vec.present[rows]
        nan = np.isnan(values)
        key = np.where(nan, 0.0, -values if node.op == VectorOp.TOPK else values)
        order_in_group = np.broadcast_to(np.arange(len(rows))[:, None], values.shape)
        # Last key first: missing values last, then NaN last, then by value, then label order.
        order = np.lexsort((order_in_group, key, nan, ~present), axis=0)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, order_in_group, axis=0)
        keep[rows] = present & (rank < k)
    return Vector(vec.labels, vec.values, keep)


def aggregate(node: VectorAggregation, vec: Vector) -> Vector:
    """The vector aggregation of `vec` (sort and sort_desc leave it as is: order is output)."""
    if node.op in (VectorOp.SORT, VectorOp.SORT_DESC):
        return vec
    if node.op in (VectorOp.TOPK, VectorOp.BOTTOMK):
        return _select_k(node, vec)
    if node.op not in _FOLDS:
        raise QueryError(f'unknown vector aggregation "{node.op}"')
    groups = Groups.of(vec, node.grouping)
    if not groups.labels:
        return empty_vector(vec.steps)
    values, present = _fold(node.op, vec, groups)
    return Vector(groups.labels, values, present)
