"""Spanset expressions as masks: per trace, one UInt8 per span row saying "in the spanset".

The rows of a trace are one array of tuples, `__rows`: (span_id, parent_span_id, start_ns,
one flag per spanset filter, one value per aggregated field). Every spanset becomes an alias
computed from earlier ones, so the SQL grows linearly with the query.

Structural relations avoid searching arrays inside lambdas (`has`, `indexOf`), which makes
them quadratic in the trace's size: span ids go into bitmaps, and the ancestor operators walk
parent indexes by pointer jumping, in O(n log n) per trace. Malformed parent links (cycles)
cannot loop: every walk has a fixed number of rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory.errors import QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.conditions import ConditionCompiler
from observatory.query.traceql.fields import is_trace_level, numeric_value
from observatory.query.traceql.params import SqlParams

ROW_FIXED = 3  # span_id, parent_span_id, start_ns come first in each row tuple
ONE_SIDED = {">": "child_of", "<": "parent_of", "~": "sibling_of"}
ONE_SIDED |= {">>": "descendant_of", "<<": "ancestor_of"}
# The relation an A span has to the B spans an operator returns, for the `&` forms.
INVERSE = {
    "child_of": "parent_of",
    "parent_of": "child_of",
    "sibling_of": "sibling_of",
    "descendant_of": "ancestor_of",
    "ancestor_of": "descendant_of",
}
TREE_RELATIONS = frozenset({"descendant_of", "ancestor_of"})
_NUMBER_TYPES = {"int": "Int64", "duration": "Int64", "float": "Float64"}
# Each row's parent as a row index (0 for none), by sort-merge rather than a search per row:
# ids (tag 0) and parent ids (tag 1) sorted together put a parent's own entry right before
# the entries naming it, and arrayFill carries the parent's index forward onto them.
_MERGED = """arraySort(arrayConcat(
    arrayMap((__i, __j) -> (__i, toUInt8(0), toUInt64(__j)), __ids, __idx),
    arrayMap((__p, __j) -> (__p, toUInt8(1), toUInt64(__j)), __pids, __idx)))"""
_PIDX = """arrayMap(__o -> __o.2, arraySort(__o -> __o.1, arrayMap(__f -> (__f.3, __f.2),
    arrayFilter(__f -> __f.4 = 1, arrayMap((__f, __t) -> (__t.1, if(__f.1 = __t.1, __f.2, 0),
    __t.3, __t.2), arrayFill((__f, __t) -> __t.2 = 0, arrayMap(__t -> (__t.1,
    if(__t.2 = 0, __t.3, 0)), __merged), __merged), __merged)))))"""
_FOLD_ROUNDS = "range(toUInt32(ceil(log2(length(__rows) + 1))))"


@dataclass(frozen=True)
class Relation:
    name: str
    negated: bool
    union: bool


def relation_of(op: str) -> Relation:
    base = op.lstrip("!&")
    return Relation(ONE_SIDED[base], op.startswith("!"), op.startswith("&"))


class SpansetCompiler:
    """Compiles one spanset expression; `aliases()` then lists the SELECT expressions."""

    def __init__(self, params: SqlParams) -> None:
        self.params = params
        self.conditions = ConditionCompiler(params)
        self.leaves: list[str] = []  # SQL condition per spanset filter, flags __c<i>
        self.values: list[str] = []  # SQL value per aggregated field, __w<j>
        self.needs_tree = False
        self._masks: list[tuple[str, str]] = []
        self._leaf_of: dict[ast.SpansetFilter, int] = {}

    # Registration of per-span columns

    def leaf(self, condition: ast.Condition) -> int:
        self.leaves.append(self.conditions.compile(condition))
        return len(self.leaves) - 1

    def value(self, target: ast.Field) -> int:
        self.values.append(numeric_value(target, self.params))
        self.conditions.trace_level |= is_trace_level(target)
        return len(self.values) - 1

    def _alias(self, expr: str) -> str:
        name = f"__s{len(self._masks)}"
        self._masks.append((name, expr))
        return name

    # Spanset expressions

    def mask(self, node: ast.Spanset) -> str:
        """The alias of the mask of `node`."""
        if isinstance(node, ast.SpansetFilter):
            self._leaf_of[node] = self.leaf(node.condition)
            return f"__m{self._leaf_of[node]}"
        if isinstance(node, ast.Pipeline):
            return self._pipeline(node)
        left, right = self.mask(node.left), self.mask(node.right)
        if node.op == "||":
            return self._alias(_either(left, right))
        if node.op == "&&":
            both = f"has({left}, 1) AND has({right}, 1)"
            return self._alias(f"if({both}, {_either(left, right)}, __zeros)")
        return self._structural(relation_of(node.op), left, right)

    def _pipeline(self, node: ast.Pipeline) -> str:
        current = self.mask(node.source)
        for stage in node.stages:
            if isinstance(stage, ast.Select):
                continue  # selected fields only change what the response shows
            if isinstance(stage, ast.ScalarFilter):
                condition = self.scalar_filter(stage, current)
                current = self._alias(f"if({condition}, {current}, __zeros)")
            else:
                current = self._alias(_both(current, self.mask(stage)))
        return current

    def _structural(self, relation: Relation, left: str, right: str) -> str:
        related = self._relation(relation.name, left)
        if relation.negated:
            return self._alias(f"arrayMap((__b, __r) -> __b AND NOT __r, {right}, {related})")
        found = self._alias(_both(right, related))
        if not relation.union:
            return found
        back = self._alias(_both(left, self._relation(INVERSE[relation.name], found)))
        return self._alias(_either(found, back))

    def need(self, node: ast.Spanset) -> str:
        """A cheap condition on a trace's flags that holds whenever `node` can match (HAVING)."""
        if isinstance(node, ast.SpansetFilter):
            return f"max(__c{self._leaf_of[node]}) = 1"
        if isinstance(node, ast.Pipeline):
            parts = [self.need(node.source)]
            parts += [
                self.need(s)
                for s in node.stages
                if not isinstance(s, ast.ScalarFilter | ast.Select)
            ]
            return "(" + " AND ".join(parts) + ")"
        if node.op == "||":
            return f"({self.need(node.left)} OR {self.need(node.right)})"
        if node.op.startswith("!"):
            return self.need(node.right)
        return f"({self.need(node.left)} AND {self.need(node.right)})"

    # Scalar filters

    def scalar_filter(self, stage: ast.ScalarFilter, mask: str) -> str:
        left = self._scalar(stage.left, mask)
        right = self._scalar(stage.right, mask)
        return f"({left} {stage.op} {right})"

    def _scalar(self, operand: ast.Aggregate | ast.Value, mask: str) -> str:
        if isinstance(operand, ast.Value):
            return number_literal(operand, self.params)
        if operand.field is None:
            return f"arraySum({mask})"
        items = f"arrayFilter((__v, __k) -> __k AND NOT isNaN(__v), __v{self.value(operand.field)}"
        return array_aggregate(operand.func, f"{items}, {mask})")

    # Relations: masks of the spans related to some span of `mask`

    def _relation(self, name: str, mask: str) -> str:
        self.needs_tree |= name in TREE_RELATIONS
        builders = {
            "child_of": self._child_of,
            "parent_of": self._parent_of,
            "sibling_of": self._sibling_of,
            "descendant_of": self._descendant_of,
            "ancestor_of": self._ancestor_of,
        }
        return builders[name](mask)

    def _child_of(self, mask: str) -> str:
        ids = self._alias(f"bitmapBuild(arrayFilter((__i, __a) -> __a, __ids, {mask}))")
        return self._alias(f"arrayMap(__p -> toUInt8(bitmapContains({ids}, __p)), __pids)")

    def _parent_of(self, mask: str) -> str:
        parents = f"arrayFilter((__p, __a) -> __a AND __p != 0, __pids, {mask})"
        bitmap = self._alias(f"bitmapBuild({parents})")
        return self._alias(f"arrayMap(__i -> toUInt8(bitmapContains({bitmap}, __i)), __ids)")

    def _sibling_of(self, mask: str) -> str:
        parents = self._alias(
            f"arraySort(arrayFilter((__p, __a) -> __a AND __p != 0, __pids, {mask}))"
        )
        # A span of the set needs another one under its parent: parents seen at least twice.
        pairs = f"arrayPopFront({parents}), arrayPopBack({parents})"
        once = self._alias(f"bitmapBuild({parents})")
        twice = self._alias(f"bitmapBuild(arrayFilter((__x, __y) -> __x = __y, {pairs}))")
        found = f"if(__a, bitmapContains({twice}, __p), bitmapContains({once}, __p))"
        return self._alias(f"arrayMap((__p, __a) -> toUInt8(__p != 0 AND {found}), __pids, {mask})")

    def _descendant_of(self, mask: str) -> str:
        # Pointer jumping: after round r, __acc.1 says "an ancestor within 2^r is in the set"
        # and __acc.2 points 2^r levels up (0 past the root).
        start = f"(arrayMap(__p -> {mask}[__p], __pidx), __pidx)"
        step = (
            "(__acc, __k) -> (arrayMap((__f, __j) -> __f OR __acc.1[__j], __acc.1, __acc.2), "
            "arrayMap(__j -> __acc.2[__j], __acc.2))"
        )
        return self._alias(f"arrayFold({step}, {_FOLD_ROUNDS}, {start}).1")

    def _ancestor_of(self, mask: str) -> str:
        # The set of ancestors within 2^r levels doubles each round by jumping 2^r levels.
        first = f"bitmapBuild(arrayFilter((__p, __a) -> __a AND __p != 0, __pidx, {mask}))"
        start = f"(arrayMap(__i -> toUInt8(bitmapContains({first}, __i)), __idx), __pidx)"
        jumped = "bitmapBuild(arrayFilter((__j, __u) -> __u AND __j != 0, __acc.2, __acc.1))"
        step = (
            f"(__acc, __k) -> (arrayMap((__u, __i) -> __u OR bitmapContains({jumped}, __i), "
            "__acc.1, __idx), arrayMap(__j -> __acc.2[__j], __acc.2))"
        )
        return self._alias(f"arrayFold({step}, {_FOLD_ROUNDS}, {start}).1")

    # The SELECT expressions, in dependency order

    def aliases(self) -> list[tuple[str, str]]:
        first_value = ROW_FIXED + len(self.leaves) + 1
        out = [
            (f"__m{i}", f"arrayMap(__r -> __r.{ROW_FIXED + 1 + i}, __rows)")
            for i in range(len(self.leaves))
        ]
        out += [
            (f"__v{j}", f"arrayMap(__r -> __r.{first_value + j}, __rows)")
            for j in range(len(self.values))
        ]
        out += [
            ("__zeros", "arrayMap(__r -> toUInt8(0), __rows)"),
            ("__ids", "arrayMap(__r -> reinterpretAsUInt64(__r.1), __rows)"),
            ("__pids", "arrayMap(__r -> reinterpretAsUInt64(__r.2), __rows)"),
            ("__idx", "arrayMap(__i -> toUInt64(__i), arrayEnumerate(__rows))"),
        ]
        if self.needs_tree:
            out += [("__merged", _MERGED), ("__pidx", _PIDX)]
        return out + self._masks


def _either(left: str, right: str) -> str:
    return f"arrayMap((__a, __b) -> __a OR __b, {left}, {right})"


def _both(left: str, right: str) -> str:
    return f"arrayMap((__a, __b) -> __a AND __b, {left}, {right})"


def number_literal(value: ast.Value, params: SqlParams) -> str:
    if value.type not in _NUMBER_TYPES or not isinstance(value.value, int | float):
        raise QueryError(
            f"invalid TraceQL query: aggregates compare with numbers, not {value.type}"
        )
    return params.add(value.value, _NUMBER_TYPES[value.type])


def array_aggregate(func: str, items: str) -> str:
    """An aggregate over an array of Float64, nan when empty as Tempo leaves it undefined."""
    if func == "sum":
        return f"arraySum({items})"
    if func == "avg":
        return f"if(empty({items}), nan, arrayAvg({items}))"
    return f"if(empty({items}), nan, array{func.capitalize()}({items}))"
