"""Functions about labels and order: label_replace, label_join, sort*, absent."""

from __future__ import annotations

import re

import numpy as np

from observatory.errors import QueryExecutionError
from observatory.query.promql.ast import MatrixSel, Node, VectorSel, unwrap_parens
from observatory.query.promql.labels import METRIC_NAME, Labels, from_mapping, get, with_label
from observatory.query.promql.regex import compile_anchored
from observatory.query.promql.values import InstantVector, merge_same_labels

_TEMPLATE = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}; unknown groups expand to nothing."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) or m.group(3)
        try:
            group = match.group(int(name) if name.isdigit() else name)
        except IndexError:
            return ""
        return group or ""

    return _TEMPLATE.sub(one, template)


def label_replace(vec: InstantVector, dst: str, repl: str, src: str, regex: str) -> InstantVector:
    try:
        pattern = compile_anchored(regex)
    except re.error as exc:
        raise QueryExecutionError(
            f"invalid regular expression in label_replace(): {regex}"
        ) from exc
    labels, drop = list(vec.labels), vec.drop.copy()
    for i, lbl in enumerate(vec.labels):
        match = pattern.fullmatch(get(lbl, src))
        if match is not None:
            labels[i] = with_label(lbl, dst, expand_template(repl, match))
            drop[i] = drop[i] and dst != METRIC_NAME
    return merge_same_labels(InstantVector(labels, vec.values, vec.present, drop))


def label_join(vec: InstantVector, dst: str, sep: str, srcs: list[str]) -> InstantVector:
    labels = [with_label(lbl, dst, sep.join(get(lbl, s) for s in srcs)) for lbl in vec.labels]
    drop = vec.drop & (dst != METRIC_NAME)
    return merge_same_labels(InstantVector(labels, vec.values, vec.present, drop))


def sort_by_value(vec: InstantVector, descending: bool) -> InstantVector:
    """Orders rows by their first step's value; NaN goes last either way."""
    if vec.steps == 0 or not vec.labels:
        return vec
    first = vec.values[:, 0]
    key = -first if descending else first
    order = np.lexsort((key, np.isnan(first)))
    return vec.take(order)


def _natural_key(value: str) -> tuple[tuple[int, int, str], ...]:
    chunks = re.findall(r"\d+|\D+", value)
    return tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in chunks)


def sort_by_label(vec: InstantVector, names: list[str], descending: bool) -> InstantVector:
    """Natural order of the named labels, then of the whole label set."""

    def key(i: int) -> tuple[object, ...]:
        lbl = vec.labels[i]
        return (*(_natural_key(get(lbl, n)) for n in names), lbl)

    order = sorted(range(len(vec.labels)), key=key, reverse=descending)
    return vec.take(order)


def absent_labels(arg: Node) -> Labels:
    """Labels absent() reports: those fixed by exactly one equality matcher of a selector."""
    node = unwrap_parens(arg)
    if isinstance(node, MatrixSel):
        node = node.selector
    if not isinstance(node, VectorSel):
        return ()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in node.matchers:
        if m.name == METRIC_NAME:
            continue
        if m.op == "=" and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:
            out.pop(m.name, None)
    return from_mapping(out)
