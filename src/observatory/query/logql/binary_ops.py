"""Binary operators between scalars and vectors: arithmetic, comparisons, and/or/unless.

Loki's rules where they differ from Prometheus: a division or modulo by zero is NaN, comparisons
between two scalars give 0 or 1 without `bool`, and no label is dropped (there is no metric
name). A filtering comparison keeps the vector's own value, whichever side the vector is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.logql.ast import BinaryOp, BinaryOpKind, VectorMatching
from observatory.query.logql.metric_values import (
    Labels,
    Scalar,
    Value,
    Vector,
    drop_labels,
    get_label,
    keep_labels,
    labels_of,
    merge_same_labels,
    stack_rows,
)

COMPARISONS = frozenset(
    {
        BinaryOpKind.EQ,
        BinaryOpKind.NE,
        BinaryOpKind.GT,
        BinaryOpKind.GE,
        BinaryOpKind.LT,
        BinaryOpKind.LE,
    }
)
SET_OPERATORS = frozenset({BinaryOpKind.AND, BinaryOpKind.OR, BinaryOpKind.UNLESS})

MANY_TO_MANY = (
    "found duplicate series on the {side} hand-side;many-to-many matching not allowed: "
    "matching labels must be unique on one side"
)
IMPLICIT_MANY_TO_ONE = (
    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
)
GROUPING_NOT_UNIQUE = "multiple matches for labels: grouping labels must ensure unique matches"


def arithmetic(op: BinaryOpKind, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == BinaryOpKind.ADD:
            out = a + b
        elif op == BinaryOpKind.SUB:
            out = a - b
        elif op == BinaryOpKind.MUL:
            out = a * b
        elif op == BinaryOpKind.DIV:
            out = np.where(b == 0, np.nan, a / b)
        elif op == BinaryOpKind.MOD:
            out = np.where(b == 0, np.nan, np.fmod(a, b))
        elif op == BinaryOpKind.POW:
            out = np.power(a, b)
        else:
            raise QueryError(f'operator "{op}" is not an arithmetic operator')
    return np.asarray(out, dtype=np.float64)


def comparison(op: BinaryOpKind, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op == BinaryOpKind.EQ:
        out = a == b
    elif op == BinaryOpKind.NE:
        out = a != b
    elif op == BinaryOpKind.GT:
        out = a > b
    elif op == BinaryOpKind.GE:
        out = a >= b
    elif op == BinaryOpKind.LT:
        out = a < b
    elif op == BinaryOpKind.LE:
        out = a <= b
    else:
        raise QueryError(f'operator "{op}" is not a comparison operator')
    return np.asarray(out, dtype=bool)


def _no_set_operator(op: BinaryOpKind) -> None:
    if op in SET_OPERATORS:
        raise QueryError(f'set operator "{op}" not allowed in binary scalar expression')


def scalar_scalar(op: BinaryOpKind, a: Scalar, b: Scalar) -> Scalar:
    _no_set_operator(op)
    if op in COMPARISONS:
        return Scalar(comparison(op, a.values, b.values).astype(np.float64))
    return Scalar(arithmetic(op, a.values, b.values))


def vector_scalar(node: BinaryOp, vec: Vector, scalar: Scalar, scalar_left: bool) -> Vector:
    _no_set_operator(node.op)
    s = scalar.values[None, :]
    a, b = (s, vec.values) if scalar_left else (vec.values, s)
    if node.op not in COMPARISONS:
        return Vector(vec.labels, arithmetic(node.op, a, b), vec.present.copy())
    holds = comparison(node.op, a, b)
    if node.return_bool:
        return Vector(vec.labels, holds.astype(np.float64), vec.present.copy())
    return Vector(vec.labels, vec.values, vec.present & holds)


def signature(labels: Labels, matching: VectorMatching | None) -> Labels:
    if matching is None:
        return labels
    if matching.on:
        return keep_labels(labels, matching.labels)
    return drop_labels(labels, matching.labels)


def _rows_by_signature(vec: Vector, matching: VectorMatching | None) -> dict[Labels, list[int]]:
    groups: dict[Labels, list[int]] = {}
    for row, lbl in enumerate(vec.labels):
        groups.setdefault(signature(lbl, matching), []).append(row)
    return groups


def _presence(vec: Vector, matching: VectorMatching | None) -> dict[Labels, np.ndarray]:
    """Per signature: the steps at which some series with it has a value."""
    return {
        sig: np.asarray(vec.present[rows].any(axis=0), dtype=bool)
        for sig, rows in _rows_by_signature(vec, matching).items()
    }


def set_operation(node: BinaryOp, lhs: Vector, rhs: Vector) -> Vector:
    none = np.zeros(lhs.steps, dtype=bool)
    if node.op == BinaryOpKind.OR:
        left = _presence(lhs, node.matching)
        masks = [
            rhs.present[i] & ~left.get(signature(lbl, node.matching), none)
            for i, lbl in enumerate(rhs.labels)
        ]
        merged = stack_rows(
            lhs.labels + rhs.labels,
            [lhs.values, rhs.values],
            [lhs.present, *[m[None, :] for m in masks]],
            lhs.steps,
        )
        return merge_same_labels(merged)
    right = _presence(rhs, node.matching)
    found = [right.get(signature(lbl, node.matching), none) for lbl in lhs.labels]
    matched = np.vstack(found) if found else np.zeros_like(lhs.present)
    present = lhs.present & (matched if node.op == BinaryOpKind.AND else ~matched)
    return Vector(lhs.labels, lhs.values, present)


@dataclass
class _Match:
    """How two vectors pair up: `many` rows each meet at most one `one` row per step."""

    many: Vector
    one: Vector
    swapped: bool  # group_right: the many side is the right operand
    one_to_one: bool


def _one_side_choice(match: _Match, node: BinaryOp) -> dict[Labels, np.ndarray]:
    """Per signature, the `one`-side row at each step (-1: none); duplicates are an error."""
    chosen: dict[Labels, np.ndarray] = {}
    for sig, rows in _rows_by_signature(match.one, node.matching).items():
        present = match.one.present[rows]
        if (present.sum(axis=0) > 1).any():
            side = "left" if match.swapped else "right"
            raise QueryExecutionError(MANY_TO_MANY.format(side=side))
        picked = np.asarray(rows)[np.argmax(present, axis=0)]
        chosen[sig] = np.where(present.any(axis=0), picked, -1)
    return chosen


def result_labels(
    many: Labels, one: Labels, matching: VectorMatching | None, one_to_one: bool
) -> Labels:
    if matching is None:
        return many
    out = many
    if one_to_one:
        out = signature(many, matching)
    if not matching.include:
        return out
    extended = dict(out)
    for name in matching.include:
        value = get_label(one, name)
        if value:
            extended[name] = value
        else:
            extended.pop(name, None)
    return labels_of(extended)


def _combine(
    node: BinaryOp, left: np.ndarray, right: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if node.op not in COMPARISONS:
        return arithmetic(node.op, left, right), mask
    holds = comparison(node.op, left, right)
    if node.return_bool:
        return holds.astype(np.float64), mask
    return left, mask & holds


def vector_vector(node: BinaryOp, lhs: Vector, rhs: Vector) -> Vector:
    group = node.matching.group if node.matching is not None else None
    swapped = group == "right"
    match = _Match(rhs if swapped else lhs, lhs if swapped else rhs, swapped, group is None)
    chosen = _one_side_choice(match, node)
    labels: list[Labels] = []
    values: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for sig, rows in _rows_by_signature(match.many, node.matching).items():
        picked = chosen.get(sig)
        if picked is None:
            continue
        matched = match.many.present[rows] & (picked >= 0)[None, :]
        if match.one_to_one and (matched.sum(axis=0) > 1).any():
            raise QueryExecutionError(IMPLICIT_MANY_TO_ONE)
        for row, row_matched in zip(rows, matched, strict=True):
            for one_row in np.unique(picked[row_matched]).tolist():
                mask = row_matched & (picked == one_row)
                a, b = match.many.values[row], match.one.values[one_row]
                value, present = _combine(node, *((b, a) if swapped else (a, b)), mask)
                one_labels = match.one.labels[one_row]
                labels.append(
                    result_labels(match.many.labels[row], one_labels, node.matching, group is None)
                )
                values.append(value[None, :])
                masks.append(present[None, :])
    return merge_same_labels(stack_rows(labels, values, masks, lhs.steps), GROUPING_NOT_UNIQUE)


def evaluate_binary(node: BinaryOp, lhs: Value, rhs: Value) -> Value:
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return scalar_scalar(node.op, lhs, rhs)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return vector_scalar(node, lhs, rhs, scalar_left=False)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return vector_scalar(node, rhs, lhs, scalar_left=True)
    assert isinstance(lhs, Vector) and isinstance(rhs, Vector)
    if node.op in SET_OPERATORS:
        return set_operation(node, lhs, rhs)
    return vector_vector(node, lhs, rhs)
