"""Structural operators on random trees, against a plain Python reading of their definitions."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from observatory.query.traceql.parser import parse
from observatory.query.traceql.search import TraceSearch
from observatory.query.traceql.search_sql import SearchBounds
from observatory.signals.columns import ScopeContext
from observatory.signals.spans import NO_SPAN_ID, SpanColumns, SpanRow
from observatory.store.embedded import EmbeddedStore

TENANT = "traceql-structure"
START_NS = (time.time_ns() // 10**9 - 300) * 10**9
Tree = dict[str, str | None]  # span name -> parent name
Relation = Callable[[Tree, set[str]], set[str]]


def _trees() -> dict[str, tuple[Tree, dict[str, str]]]:
    """Per trace id (hex): parents and each span's group (a, b or c)."""
    rng = random.Random(7)
    trees: dict[str, tuple[Tree, dict[str, str]]] = {}
    for number in range(6):
        tree: Tree = {}
        for i in range(40):
            if number == 0:  # a chain deep enough for several jumping rounds
                parent = f"t0s{i - 1}" if i else None
            else:
                parent = f"t{number}s{rng.randrange(i)}" if i > 1 else None  # two roots
            tree[f"t{number}s{i}"] = parent
        tree[f"t{number}orphan"] = "never-sent"
        groups = {name: rng.choice("abc") for name in tree}
        trees[f"{number + 1:032x}"] = (tree, groups)
    return trees


TREES = _trees()


def _span_id(name: str) -> bytes:
    """Stable random ids; those of names ending in 3 end in zero bytes, which lookups must find."""
    return random.Random(name).randbytes(6) + (b"\0\0" if name.endswith("3") else b"\1\1")


@pytest.fixture(scope="module")
def forest(store: EmbeddedStore) -> EmbeddedStore:
    columns = SpanColumns(TENANT)
    for trace_hex, (tree, groups) in TREES.items():
        for offset, (name, parent) in enumerate(tree.items()):
            scope = columns.add_scope(ScopeContext("svc", [("service.name", "svc")], "s", "1"))
            parent_id = NO_SPAN_ID if parent is None else _span_id(parent)
            ids = (bytes.fromhex(trace_hex), _span_id(name), parent_id)
            row = SpanRow(*ids, "", 0, name, 1, START_NS + offset, 1000, 0, "", 0, [], 0, [], 0)
            columns.append(scope, [("group", groups[name])], row)
    store.insert("spans", columns.table())
    return store


def _ancestors(tree: Tree, name: str) -> list[str]:
    found, parent = [], tree.get(name)
    while parent in tree:
        found.append(parent)
        parent = tree[parent]
    return found


def child_of(tree: Tree, spans: set[str]) -> set[str]:
    return {s for s, parent in tree.items() if parent in spans}


def parent_of(tree: Tree, spans: set[str]) -> set[str]:
    return {parent for s in spans if (parent := tree[s]) is not None and parent in tree}


def sibling_of(tree: Tree, spans: set[str]) -> set[str]:
    return {
        s
        for s, parent in tree.items()
        if parent is not None and any(o != s and tree[o] == parent for o in spans)
    }


def descendant_of(tree: Tree, spans: set[str]) -> set[str]:
    return {s for s in tree if set(_ancestors(tree, s)) & spans}


def ancestor_of(tree: Tree, spans: set[str]) -> set[str]:
    return {a for s in spans for a in _ancestors(tree, s)}


RELATIONS: dict[str, tuple[Relation, Relation]] = {
    ">": (child_of, parent_of),
    "<": (parent_of, child_of),
    "~": (sibling_of, sibling_of),
    ">>": (descendant_of, ancestor_of),
    "<<": (ancestor_of, descendant_of),
}


def expected(op: str, tree: Tree, left: set[str], right: set[str]) -> set[str]:
    relation, inverse = RELATIONS[op.lstrip("!&")]
    if op.startswith("!"):
        return right - relation(tree, left)
    found = right & relation(tree, left)
    if op.startswith("&"):
        return found | (left & inverse(tree, right))
    return found


@pytest.mark.parametrize(
    "op",
    [">", "<", "~", ">>", "<<", "!>", "!<", "!~", "!>>", "!<<", "&>", "&<", "&~", "&>>", "&<<"],
)
@pytest.mark.parametrize(("left", "right"), [("a", "b"), ("b", "b"), ("c", "a")])
def test_structural_operators_match_their_definition(
    forest: EmbeddedStore, op: str, left: str, right: str
) -> None:
    query = f'{{ span.group = "{left}" }} {op} {{ span.group = "{right}" }}'
    bounds = SearchBounds(TENANT, START_NS - 10**9, START_NS + 10**9, limit=100, spss=1000)
    result = TraceSearch(forest).search(parse(query), bounds)
    found = {t["traceID"]: {s["name"] for s in t["spanSet"]["spans"]} for t in result["traces"]}
    wanted = {}
    for trace_hex, (tree, groups) in TREES.items():
        spans = expected(
            op, tree, *({s for s, g in groups.items() if g == x} for x in (left, right))
        )
        if spans:
            wanted[trace_hex] = spans
    assert found == wanted
