"""Aggregation operators, evaluated for all steps at once.

Groups are processed in parallel: the k-th member of every group is folded in at the same time,
so the number of numpy operations grows with the largest group, not with the number of series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from observatory.errors import QueryError, QueryExecutionError
from observatory.query.promql import selection
from observatory.query.promql.ast import Aggregate, StringLit, unwrap_parens
from observatory.query.promql.context import Grid, QueryContext
from observatory.query.promql.floats import format_f, format_g
from observatory.query.promql.labels import METRIC_NAME, Labels, keep, with_label, without
from observatory.query.promql.numeric import kahan_inc
from observatory.query.promql.selectors import Evaluate
from observatory.query.promql.values import InstantVector, Value


def group_labels(lbl: Labels, node: Aggregate, extra: tuple[str, ...] = ()) -> Labels:
    if node.without:
        return without(lbl, (*node.grouping, METRIC_NAME))
    return keep(lbl, (*node.grouping, *extra))


@dataclass
class Groups:
    labels: list[Labels]
    index: np.ndarray  # group of every input row
    members: np.ndarray  # (groups, largest group): input rows, -1 padding

    @staticmethod
    def of(vec: InstantVector, node: Aggregate) -> Groups:
        ids: dict[Labels, int] = {}
        index = np.array(
            [ids.setdefault(group_labels(lbl, node), len(ids)) for lbl in vec.labels],
            dtype=np.int64,
        )
        sizes = np.bincount(index, minlength=len(ids)) if len(index) else np.zeros(0, np.int64)
        members = np.full((len(ids), int(sizes.max(initial=0))), -1, dtype=np.int64)
        fill = np.zeros(len(ids), dtype=np.int64)
        for row, g in enumerate(index.tolist()):
            members[g, fill[g]] = row
            fill[g] += 1
        return Groups(list(ids), index, members)


State = dict[str, np.ndarray]
Step = Callable[[State, np.ndarray, np.ndarray], State]


def columns(
    vec: InstantVector, groups: Groups
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per member position: the groups having a member there, and its (values, present)."""
    for k in range(groups.members.shape[1]):
        active = np.nonzero(groups.members[:, k] >= 0)[0]
        rows = groups.members[active, k]
        yield active, vec.values[rows], vec.present[rows]


def fold(vec: InstantVector, groups: Groups, state: State, step: Step) -> State:
    """Feeds every group's members in order through step; state arrays are (groups, steps)."""
    for active, values, present in columns(vec, groups):
        updated = step({name: array[active] for name, array in state.items()}, values, present)
        for name, array in updated.items():
            state[name][active] = array
    return state


def _zeros(vec: InstantVector, groups: Groups, *names: str) -> State:
    return {name: np.zeros((len(groups.labels), vec.steps)) for name in names}


def _sum_step(s: State, v: np.ndarray, p: np.ndarray) -> State:
    t, c = kahan_inc(np.where(p, v, 0.0), s["total"], s["comp"])
    return {"total": np.where(p, t, s["total"]), "comp": np.where(p, c, s["comp"])}


def _sum(vec: InstantVector, groups: Groups) -> np.ndarray:
    state = fold(vec, groups, _zeros(vec, groups, "total", "comp"), _sum_step)
    return state["total"] + state["comp"]


def _avg_step(s: State, v: np.ndarray, p: np.ndarray) -> State:
    """Direct mean with compensated sums, falling back to an incremental mean on overflow."""
    count = s["count"] + p
    first, rest = p & (count == 1), p & (count > 1)
    total, comp, mean, incremental = s["total"], s["comp"], s["mean"], s["incremental"] > 0
    total = np.where(first, v, total)
    new_total, new_comp = kahan_inc(v, total, comp)
    switch = rest & ~incremental & np.isinf(new_total)
    direct = rest & ~incremental & ~switch
    total, comp = np.where(direct, new_total, total), np.where(direct, new_comp, comp)
    prior = np.maximum(count - 1, 1)
    mean, comp = np.where(switch, total / prior, mean), np.where(switch, comp / prior, comp)
    incremental = incremental | switch
    q = prior / np.maximum(count, 1)
    m, c = kahan_inc(v / np.maximum(count, 1), q * mean, q * comp)
    step = rest & incremental
    mean, comp = np.where(step, m, mean), np.where(step, c, comp)
    return {"count": count, "total": total, "comp": comp, "mean": mean, "incremental": incremental}


def _avg(vec: InstantVector, groups: Groups) -> np.ndarray:
    names = ("count", "total", "comp", "mean", "incremental")
    s = fold(vec, groups, _zeros(vec, groups, *names), _avg_step)
    n = np.maximum(s["count"], 1)
    return np.where(s["incremental"] > 0, s["mean"] + s["comp"], s["total"] / n + s["comp"] / n)


def _variance_step(s: State, v: np.ndarray, p: np.ndarray) -> State:
    count = s["count"] + p
    first, rest = p & (count == 1), p & (count > 1)
    mean = np.where(first, v, s["mean"])
    acc = np.where(first, np.where(np.isfinite(v), 0.0, np.nan), s["acc"])
    delta = v - mean
    new_mean = mean + delta / np.maximum(count, 1)
    acc = np.where(rest, acc + delta * (v - new_mean), acc)
    return {"count": count, "mean": np.where(rest, new_mean, mean), "acc": acc}


def _variance(vec: InstantVector, groups: Groups) -> np.ndarray:
    s = fold(vec, groups, _zeros(vec, groups, "count", "mean", "acc"), _variance_step)
    variance: np.ndarray = s["acc"] / np.maximum(s["count"], 1)
    return variance


def _extreme(vec: InstantVector, groups: Groups, pick: np.ufunc) -> np.ndarray:
    def step(s: State, v: np.ndarray, p: np.ndarray) -> State:
        return {"out": np.where(p, pick(s["out"], v), s["out"])}

    start = {"out": np.full((len(groups.labels), vec.steps), np.nan)}
    return fold(vec, groups, start, step)["out"]


def _count(vec: InstantVector, groups: Groups) -> np.ndarray:
    def step(s: State, v: np.ndarray, p: np.ndarray) -> State:
        return {"n": s["n"] + p}

    return fold(vec, groups, _zeros(vec, groups, "n"), step)["n"]


def _quantile(vec: InstantVector, groups: Groups, q: np.ndarray) -> np.ndarray:
    out = np.full((len(groups.labels), vec.steps), np.nan)
    for g, rows in enumerate(groups.members):
        rows = rows[rows >= 0]
        out[g] = selection.column_quantile(vec.values[rows], vec.present[rows], q)
    return out


def _present(vec: InstantVector, groups: Groups) -> np.ndarray:
    return _count(vec, groups) > 0


def _drops(vec: InstantVector, groups: Groups) -> np.ndarray:
    out = np.zeros(len(groups.labels), dtype=bool)
    np.logical_or.at(out, groups.index, vec.drop)
    return out


def _reduce(op: str, vec: InstantVector, groups: Groups, param: np.ndarray | None) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "sum":
            return _sum(vec, groups)
        if op == "avg":
            return _avg(vec, groups)
        if op == "count":
            return _count(vec, groups)
        if op == "group":
            return np.ones((len(groups.labels), vec.steps))
        if op in ("min", "max"):
            return _extreme(vec, groups, np.fmin if op == "min" else np.fmax)
        if op in ("stddev", "stdvar"):
            variance = _variance(vec, groups)
            return np.sqrt(variance) if op == "stddev" else variance
        if op == "quantile" and param is not None:
            return _quantile(vec, groups, param)
    raise QueryError(f"aggregation {op} is not supported")


def _warn_quantile(q: np.ndarray, ctx: QueryContext) -> None:
    bad = q[np.isnan(q) | (q < 0) | (q > 1)]
    if bad.size:
        ctx.warn(f"quantile value should be between 0 and 1, got {format_g(float(bad[0]))}")


def _value_label(node: Aggregate) -> str:
    param = unwrap_parens(node.param) if node.param is not None else None
    if not isinstance(param, StringLit):
        raise QueryError("count_values needs a label name")
    if param.value == "" or param.invalid_utf8 is not None:
        raise QueryExecutionError(f"invalid label name {param.invalid_utf8 or chr(34) * 2}")
    return param.value


def count_values(node: Aggregate, vec: InstantVector) -> InstantVector:
    """Counts, per group and step, the series having each distinct value."""
    name = _value_label(node)
    rows, steps = np.nonzero(vec.present)
    distinct, which = np.unique(vec.values[rows, steps], return_inverse=True)
    texts = [format_f(float(v)) for v in distinct]
    width = max(len(distinct), 1)
    # Each (series, value) pair is labelled once, however many steps it occurs at.
    pairs, pair_of = np.unique(rows * width + which.reshape(-1), return_inverse=True)
    outputs: dict[Labels, int] = {}
    for_pair = []
    for pair in pairs.tolist():
        labels = with_label(vec.labels[pair // width], name, texts[pair % width])
        for_pair.append(outputs.setdefault(group_labels(labels, node, (name,)), len(outputs)))
    counts = np.zeros((len(outputs), vec.steps))
    np.add.at(counts, (np.asarray(for_pair, dtype=np.int64)[pair_of.reshape(-1)], steps), 1.0)
    return InstantVector(list(outputs), counts, counts > 0)


def aggregate(node: Aggregate, grid: Grid, ctx: QueryContext, ev: Evaluate) -> Value:
    vec = ev(node.expr, grid, ctx)
    if not isinstance(vec, InstantVector):
        raise QueryError(f"expected an instant vector in {node.op}()")
    if node.op == "count_values":
        return count_values(node, vec)
    param = ev(node.param, grid, ctx) if node.param is not None else None
    if param is not None and not isinstance(param, np.ndarray):
        raise QueryError(f"expected a scalar parameter in {node.op}()")
    groups = Groups.of(vec, node)
    if node.op in selection.SELECTORS:
        return selection.select(node.op, vec, groups.members, param, ctx)
    if node.op == "quantile" and param is not None:
        _warn_quantile(param, ctx)
    values = _reduce(node.op, vec, groups, param)
    return InstantVector(groups.labels, values, _present(vec, groups), _drops(vec, groups))
