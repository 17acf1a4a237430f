"""topk, bottomk, limitk and limit_ratio, and quantiles over the members of a group."""

from __future__ import annotations

import hashlib
import struct

import numpy as np

from observatory.errors import QueryExecutionError
from observatory.query.promql.context import QueryContext
from observatory.query.promql.floats import format_g
from observatory.query.promql.labels import Labels, format_labels
from observatory.query.promql.values import InstantVector

SELECTORS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
_INT64_MAX = 9223372036854774784.0


def column_quantile(values: np.ndarray, present: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per step, the q-quantile of the present values, NaN sorting below every number."""
    category = np.where(~present, 2, np.where(np.isnan(values), 0, 1))
    key = np.where(category == 1, values, 0.0)
    order = np.lexsort((key, category), axis=0)
    ordered = np.take_along_axis(values, order, axis=0)
    n = present.sum(axis=0)
    with np.errstate(all="ignore"):
        rank = np.nan_to_num(q * (n - 1), nan=0.0, posinf=0.0, neginf=0.0)
        lower = np.clip(np.floor(rank), 0, np.maximum(n - 1, 0)).astype(np.int64)
        upper = np.minimum(np.maximum(n - 1, 0), lower + 1)
        weight = rank - np.floor(rank)
        cols = np.arange(values.shape[1])
        result = ordered[lower, cols] * (1 - weight) + ordered[upper, cols] * weight
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q) | (n == 0), np.nan, result)


def _rank_order(values: np.ndarray, present: np.ndarray, op: str) -> np.ndarray:
    """Per step, member positions best first: absent last, NaN after every number, ties stable."""
    position = np.broadcast_to(np.arange(values.shape[0])[:, None], values.shape)
    if op == "limitk":
        return np.lexsort((position, ~present), axis=0)
    nan = np.isnan(values)
    key = np.where(nan, 0.0, -values if op == "topk" else values)
    return np.lexsort((position, key, nan, ~present), axis=0)


def _check_k(k: np.ndarray, op: str) -> bool:
    """False when no step asks for anything; raises for parameters Prometheus rejects."""
    if op == "limit_ratio":
        if np.all(k == 0):
            return False
        if np.isnan(k).any():
            raise QueryExecutionError("Ratio value is NaN")
        return True
    finite = k[~np.isnan(k)]
    if finite.size and finite.max() < 1:
        return False
    if np.isnan(k).any():
        raise QueryExecutionError("Parameter value is NaN")
    if k.min() <= -_INT64_MAX:
        raise QueryExecutionError(f"Scalar value {format_g(float(k.min()))} underflows int64")
    if k.max() >= _INT64_MAX:
        raise QueryExecutionError(f"Scalar value {format_g(float(k.max()))} overflows int64")
    return True


def sample_offset(labels: Labels) -> float:
    """A stable pseudo-random position in [0, 1) per label set, for limit_ratio."""
    digest = hashlib.blake2b(format_labels(labels).encode(), digest_size=8).digest()
    return float(struct.unpack("<Q", digest)[0]) / 2.0**64


def _ratio_mask(vec: InstantVector, ratio: np.ndarray) -> np.ndarray:
    r = np.clip(ratio, -1.0, 1.0)
    offsets = np.array([sample_offset(lbl) for lbl in vec.labels])[:, None]
    keep = ((r >= 0) & (offsets < r)) | ((r < 0) & (offsets >= 1.0 + r))
    return np.asarray(vec.present & keep & (ratio != 0), dtype=bool)


def _selected(vec: InstantVector, rows: np.ndarray, op: str, k: np.ndarray) -> np.ndarray:
    """Which of the group's rows are kept at each step, and their rank (-1: not kept)."""
    values, present = vec.values[rows], vec.present[rows]
    order = _rank_order(values, present, op)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(rows))[:, None], axis=0)
    limit = np.minimum(np.trunc(k), len(vec.labels))
    return np.where(present & (rank < limit[None, :]), rank, -1)


def select(
    op: str, vec: InstantVector, members: np.ndarray, k: np.ndarray | None, ctx: QueryContext
) -> InstantVector:
    """members: per group (in order of first appearance), its input rows, -1 padded."""
    if k is None:
        raise QueryExecutionError(f"{op} needs a parameter")
    if not _check_k(k, op) or not vec.labels:
        return vec.take([])
    if op == "limit_ratio":
        if k.max() > 1 or k.min() < -1:
            bad = k.max() if k.max() > 1 else k.min()
            ctx.warn(f"ratio value should be between -1 and 1, got {format_g(float(bad))}")
        out = vec.take(np.arange(len(vec.labels)))
        out.present = _ratio_mask(vec, k)
        return out.take(np.nonzero(out.present.any(axis=1))[0])
    return _select_k(op, vec, members, k)


def _select_k(op: str, vec: InstantVector, members: np.ndarray, k: np.ndarray) -> InstantVector:
    present = np.zeros_like(vec.present)
    order_key = np.zeros(len(vec.labels))
    for g, rows in enumerate(members):
        rows = rows[rows >= 0]
        rank = _selected(vec, rows, op, k)
        present[rows] = rank >= 0
        # For a single step, results come group by group, best first (Prometheus's order).
        order_key[rows] = g * len(vec.labels) + np.where(rank[:, 0] >= 0, rank[:, 0], 0)
    out = vec.take(np.arange(len(vec.labels)))
    out.present = present
    out.sample_times = None
    keep = np.nonzero(present.any(axis=1))[0]
    return out.take(keep[np.argsort(order_key[keep], kind="stable")])
