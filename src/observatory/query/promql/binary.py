"""Binary operators: arithmetic, comparisons and set operators, with vector matching."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.promql.ast import COMPARISON_OPS, SET_OPS, Binary
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.labels import (
    METRIC_NAME,
    Labels,
    format_labels,
    from_mapping,
    get,
    keep,
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

ARITHMETIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
    "%": np.fmod,
    "atan2": np.arctan2,
}
COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


def apply(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise arithmetic or comparison (as 0/1), with IEEE results instead of warnings."""
    with np.errstate(all="ignore"):
        if op in ARITHMETIC:
            return np.asarray(ARITHMETIC[op](a, b), dtype=np.float64)
        if op in COMPARE:
            return np.asarray(COMPARE[op](a, b), dtype=np.float64)
    raise QueryError(f"operator {op} is not supported here")


def negate(value: Value) -> Value:
    if isinstance(value, np.ndarray):
        return -value
    if isinstance(value, InstantVector):
        drop = np.ones(len(value.labels), dtype=bool)
        return InstantVector(value.labels, -value.values, value.present.copy(), drop)
    raise QueryError("unary minus needs a scalar or an instant vector")


def vector_scalar(
    op: str, vec: InstantVector, scalar: np.ndarray, swap: bool, return_bool: bool
) -> InstantVector:
    a, b = (scalar[None, :], vec.values) if swap else (vec.values, scalar[None, :])
    result = apply(op, a, b)
    ones = np.ones(len(vec.labels), dtype=bool)
    if op not in COMPARISON_OPS:
        return InstantVector(vec.labels, result, vec.present.copy(), ones)
    if return_bool:
        return InstantVector(vec.labels, result, vec.present.copy(), ones)
    # A filtering comparison keeps the vector's own sample, whichever side it is on.
    return InstantVector(vec.labels, vec.values, vec.present & (result == 1.0), vec.drop.copy())


def signature(lbl: Labels, node: Binary) -> Labels:
    if node.on:
        return keep(lbl, node.matching)
    return without(lbl, (*node.matching, METRIC_NAME))


def _sig_groups(vec: InstantVector, node: Binary) -> dict[Labels, list[int]]:
    groups: dict[Labels, list[int]] = {}
    for row, lbl in enumerate(vec.labels):
        groups.setdefault(signature(lbl, node), []).append(row)
    return groups


def _sig_presence(vec: InstantVector, node: Binary) -> dict[Labels, np.ndarray]:
    return {sig: any_row(vec.present[rows]) for sig, rows in _sig_groups(vec, node).items()}


def set_operation(node: Binary, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
    none = np.zeros(lhs.steps, dtype=bool)
    if node.op == "or":
        left = _sig_presence(lhs, node)
        masks = [
            rhs.present[i] & ~left.get(signature(lbl, node), none)
            for i, lbl in enumerate(rhs.labels)
        ]
        labels = lhs.labels + rhs.labels
        values, present = stack(labels, [lhs.values, rhs.values], [lhs.present, *masks], lhs.steps)
        drop = np.concatenate([lhs.drop, rhs.drop])
        return merge_same_labels(InstantVector(labels, values, present, drop))
    right = _sig_presence(rhs, node)
    found = [right.get(signature(lbl, node), none) for lbl in lhs.labels]
    matched = np.vstack(found) if found else np.zeros_like(lhs.present)
    present = lhs.present & (matched if node.op == "and" else ~matched)
    return InstantVector(lhs.labels, lhs.values, present, lhs.drop.copy())


def _one_side(one: InstantVector, node: Binary, active: np.ndarray) -> dict[Labels, np.ndarray]:
    """Per signature, the 'one'-side row matched at each step (-1: none)."""
    chosen: dict[Labels, np.ndarray] = {}
    for sig, rows in _sig_groups(one, node).items():
        present = one.present[rows]
        duplicated = (present.sum(axis=0) > 1) & active
        if duplicated.any():
            step = int(np.argmax(duplicated))
            pair = sorted(one.labels[r] for r, p in zip(rows, present[:, step], strict=True) if p)
            side = "left" if node.card == "one-to-many" else "right"
            raise QueryExecutionError(
                f"found duplicate series for the match group {format_labels(sig)} on the "
                f"{side} hand-side of the operation: [{format_labels(pair[0])}, "
                f"{format_labels(pair[1])}];many-to-many matching not allowed: matching labels "
                "must be unique on one side"
            )
        picked = np.asarray(rows)[np.argmax(present, axis=0)]
        chosen[sig] = np.where(present.any(axis=0) & active, picked, -1)
    return chosen


def result_labels(many: Labels, one: Labels, node: Binary) -> Labels:
    out = dict(many)
    if node.op not in COMPARISON_OPS:
        out.pop(METRIC_NAME, None)
    if node.card == "one-to-one":
        names = set(node.matching)
        out = {k: v for k, v in out.items() if (k in names) == bool(node.on)}
    for name in node.include:
        out[name] = get(one, name)
    return from_mapping(out)


class _Output:
    """Collects result rows; checks that grouping labels keep matches unique per signature."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.labels: list[Labels] = []
        self.values: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.drops: list[bool] = []
        self.matched: dict[tuple[Labels, Labels], np.ndarray] = {}

    def add(
        self,
        sig: Labels,
        lbl: Labels,
        row: tuple[np.ndarray, np.ndarray, bool],
        matched: np.ndarray,
    ) -> None:
        seen = self.matched.get((sig, lbl))
        if seen is not None and (seen & matched).any():
            raise QueryExecutionError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
        self.matched[(sig, lbl)] = matched if seen is None else seen | matched
        self.labels.append(lbl)
        self.values.append(row[0])
        self.masks.append(row[1])
        self.drops.append(row[2])

    def vector(self) -> InstantVector:
        values, present = stack(self.labels, self.values, self.masks, self.steps)
        return merge_same_labels(
            InstantVector(self.labels, values, present, np.array(self.drops, dtype=bool))
        )


def _compute(
    node: Binary, lhs: np.ndarray, rhs: np.ndarray, matched: np.ndarray, drop: bool
) -> tuple[np.ndarray, np.ndarray, bool]:
    result = apply(node.op, lhs, rhs)
    if node.op not in COMPARISON_OPS:
        return result, matched, False
    if node.return_bool:
        return result, matched, True
    return lhs, matched & (result == 1.0), drop


def vector_vector(node: Binary, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
    swapped = node.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    active = any_row(lhs.present) & any_row(rhs.present)
    chosen = _one_side(one, node, active)
    out = _Output(lhs.steps)
    for sig, rows in _sig_groups(many, node).items():
        picked = chosen.get(sig)
        if picked is None:
            continue
        matched_rows = many.present[rows] & (picked >= 0)
        if node.card == "one-to-one" and (matched_rows.sum(axis=0) > 1).any():
            raise QueryExecutionError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
        for row, matched in zip(rows, matched_rows, strict=True):
            for one_row in np.unique(picked[matched]).tolist():
                mask = matched & (picked == one_row)
                a, b = many.values[row], one.values[one_row]
                computed = _compute(
                    node, *((b, a) if swapped else (a, b)), mask, bool(many.drop[row])
                )
                lbl = result_labels(many.labels[row], one.labels[one_row], node)
                out.add(sig, lbl, computed, mask)
    return out.vector()


def evaluate_binary(node: Binary, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    lhs, rhs = ev(node.lhs, grid, ctx), ev(node.rhs, grid, ctx)
    if isinstance(lhs, np.ndarray) and isinstance(rhs, np.ndarray):
        return apply(node.op, lhs, rhs)
    if isinstance(lhs, InstantVector) and isinstance(rhs, np.ndarray):
        return vector_scalar(node.op, lhs, rhs, swap=False, return_bool=node.return_bool)
    if isinstance(lhs, np.ndarray) and isinstance(rhs, InstantVector):
        return vector_scalar(node.op, rhs, lhs, swap=True, return_bool=node.return_bool)
    if not isinstance(lhs, InstantVector) or not isinstance(rhs, InstantVector):
        raise QueryError(f"operator {node.op} needs scalars or instant vectors")
    if node.op in SET_OPS:
        return set_operation(node, lhs, rhs)
    return vector_vector(node, lhs, rhs)
