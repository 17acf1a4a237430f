"""A TraceQL search as one SQL query: the newest matching traces of a tenant in a time window,
each with its matched span count and its first `spss` matched spans.

Spans are filtered by the union of the query's spanset filters, so ClickHouse can skip granules
by the sort key, then grouped by trace. Flat queries (one filter, or filters all joined by `&&`
or all by `||`, then aggregates) need only aggregate functions; anything else evaluates the
spanset expression per trace over arrays (see `masks`). Structural ancestry (`>>`, `<<`) needs
every span of the candidate traces, which a second pass over the window reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from observatory.query.traceql import ast
from observatory.query.traceql.masks import SpansetCompiler, array_aggregate, number_literal
from observatory.query.traceql.params import SqlParams

WINDOW = (
    "tenant = {tenant:String} AND start_time >= fromUnixTimestamp64Nano({start_ns:Int64}) "
    "AND start_time <= fromUnixTimestamp64Nano({end_ns:Int64})"
)
# Trace-level intrinsics, merged from the partial rows of trace_summaries for the window's traces.
TRACE_JOIN = f"""spans LEFT JOIN (
    SELECT trace_id, max(root_name) AS __root_name, max(root_service_name) AS __root_service,
        toInt64(toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time)))
            AS __trace_duration_ns
    FROM trace_summaries
    WHERE tenant = {{tenant:String}} AND trace_id IN (SELECT trace_id FROM spans WHERE {WINDOW})
    GROUP BY trace_id
) AS __t USING (trace_id)"""
NEWEST = "ORDER BY __first DESC, trace_id LIMIT {limit:UInt32}"


@dataclass(frozen=True)
class SearchBounds:
    tenant: str
    start_ns: int
    end_ns: int
    limit: int = 20
    spss: int = 3
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None


@dataclass(frozen=True)
class SearchSql:
    """Columns: trace_id, __first, __matched, __picked (span ids), __inspected."""

    sql: str
    params: dict[str, Any]


@dataclass
class FlatPlan:
    conditions: list[ast.Condition]
    all_needed: bool  # joined by && (every filter must match) rather than ||
    filters: list[ast.ScalarFilter] = field(default_factory=list)


def flat_plan(root: ast.Spanset) -> FlatPlan | None:
    source, stages = (root.source, root.stages) if isinstance(root, ast.Pipeline) else (root, ())
    if not all(isinstance(s, ast.ScalarFilter | ast.Select) for s in stages):
        return None
    filters = [s for s in stages if isinstance(s, ast.ScalarFilter)]
    for op in ("&&", "||"):
        conditions = _chain(source, op)
        if conditions is not None:
            return FlatPlan(conditions, op == "&&", filters)
    return None


def _chain(node: ast.Spanset, op: str) -> list[ast.Condition] | None:
    if isinstance(node, ast.SpansetFilter):
        return [node.condition]
    if not isinstance(node, ast.SpansetOp) or node.op != op:
        return None
    left, right = _chain(node.left, op), _chain(node.right, op)
    return None if left is None or right is None else left + right


class SearchCompiler:
    def __init__(self, bounds: SearchBounds) -> None:
        self.bounds = bounds
        self.params = SqlParams(
            tenant=bounds.tenant,
            start_ns=bounds.start_ns,
            end_ns=bounds.end_ns,
            limit=bounds.limit,
            spss=bounds.spss,
        )
        self.spansets = SpansetCompiler(self.params)
        self.trace_filter = self._duration_filter()

    def compile(self, query: ast.Query) -> SearchSql:
        plan = flat_plan(query.root)
        sql = self._flat(plan) if plan else self._general(query.root)
        return SearchSql(sql, self.params.values)

    def _duration_filter(self) -> list[str]:
        bounds, out = self.bounds, []
        if bounds.min_duration_ns is not None:
            out.append(f"__trace_duration_ns >= {self.params.add(bounds.min_duration_ns, 'Int64')}")
        if bounds.max_duration_ns is not None:
            out.append(f"__trace_duration_ns <= {self.params.add(bounds.max_duration_ns, 'Int64')}")
        return out

    def _rows(self, where: list[str]) -> str:
        """Each span of the window passing `where`, with its flags and aggregated values."""
        spansets = self.spansets
        columns = ["trace_id", "span_id", "parent_span_id"]
        columns.append("toUnixTimestamp64Nano(start_time) AS __start")
        columns += [f"toUInt8({sql}) AS __c{i}" for i, sql in enumerate(spansets.leaves)]
        columns += [f"{sql} AS __w{j}" for j, sql in enumerate(spansets.values)]
        joined = spansets.conditions.trace_level or bool(self.trace_filter)
        source = TRACE_JOIN if joined else "spans"
        conditions = " AND ".join([WINDOW, *where, *self.trace_filter])
        return f"SELECT {', '.join(columns)} FROM {source} WHERE {conditions}"

    def _any_flag(self) -> str:
        # The conditions themselves, not their flag columns: index analysis cannot see through
        # the flags' toUInt8(), and would then read every granule of the window.
        return "(" + " OR ".join(f"({sql})" for sql in self.spansets.leaves) + ")"

    # Flat queries: aggregate functions over the union of the filters' spans

    def _flat(self, plan: FlatPlan) -> str:
        leaves = [self.spansets.leaf(condition) for condition in plan.conditions]
        having = [f"max(__c{i}) = 1" for i in leaves] if plan.all_needed and len(leaves) > 1 else []
        having += [self._flat_filter(f) for f in plan.filters]
        rows = self._rows([self._any_flag()])
        return (
            "SELECT trace_id, min(__start) AS __first, count() AS __matched, "
            "arrayMap(__t -> __t.2, groupArraySorted({spss:UInt32})((__start, span_id))) "
            "AS __picked, count() OVER () AS __inspected "
            f"FROM ({rows}) GROUP BY trace_id "
            f"{'HAVING ' + ' AND '.join(having) if having else ''} {NEWEST}"
        )

    def _flat_filter(self, stage: ast.ScalarFilter) -> str:
        return f"({self._flat_scalar(stage.left)} {stage.op} {self._flat_scalar(stage.right)})"

    def _flat_scalar(self, operand: ast.Aggregate | ast.Value) -> str:
        if isinstance(operand, ast.Value):
            return number_literal(operand, self.params)
        if operand.field is None:
            return "count()"
        value = f"__w{self.spansets.value(operand.field)}"
        items = f"arrayFilter(__v -> NOT isNaN(__v), groupArray({value}))"
        return array_aggregate(operand.func, items)

    # Anything else: masks over each trace's rows

    def _general(self, root: ast.Spanset) -> str:
        final = self.spansets.mask(root)
        need = self.spansets.need(root)
        rows = self._rows([self._any_flag()])
        if self.spansets.needs_tree:
            candidates = f"SELECT trace_id FROM ({rows}) GROUP BY trace_id HAVING {need}"
            rows = self._rows([f"trace_id IN ({candidates})"])
        return self._masked(rows, need, final)

    def _masked(self, rows: str, need: str, final: str) -> str:
        row = ", ".join(["span_id", "parent_span_id", "__start", *self._row_columns()])
        grouped = (
            f"SELECT trace_id, min(__start) AS __first, groupArray(({row})) AS __rows, "
            f"count() OVER () AS __inspected FROM ({rows}) GROUP BY trace_id HAVING {need}"
        )
        aliases = ", ".join(f"{expr} AS {name}" for name, expr in self.spansets.aliases())
        picked = (
            "arrayMap(__t -> __t.2, arraySlice(arraySort(arrayFilter((__t, __k) -> __k, "
            f"arrayMap(__r -> (__r.3, __r.1), __rows), {final})), 1, {{spss:UInt32}}))"
        )
        masked = (
            f"SELECT trace_id, __first, __inspected, {aliases}, arraySum({final}) AS __matched, "
            f"{picked} AS __picked FROM ({grouped})"
        )
        return (
            "SELECT trace_id, __first, __matched, __picked, __inspected "
            f"FROM ({masked}) WHERE __matched > 0 {NEWEST}"
        )

    def _row_columns(self) -> list[str]:
        """The flag and value columns, in the order `masks.ROW_FIXED` counts from."""
        flags = [f"__c{i}" for i in range(len(self.spansets.leaves))]
        return flags + [f"__w{j}" for j in range(len(self.spansets.values))]


def compile_search(query: ast.Query, bounds: SearchBounds) -> SearchSql:
    return SearchCompiler(bounds).compile(query)
