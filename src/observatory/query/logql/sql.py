"""LogQL pushed down to SQL: stream selectors, time ranges and line filters as WHERE clauses.

User values never enter the SQL text: each becomes a named parameter. Line filters compile
to LIKE and match(), which the body's n-gram bloom filter index can answer, so a filter for a rare
word reads only the granules that may hold it. ClickHouse's match() is RE2, the same regex
dialect as Loki's, so pushed regexes mean what they mean in Loki.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from observatory.query.logql import ast

# Stages that rewrite the line: line filters after one of them see the new line, so they
# cannot be answered from the stored body.
_LINE_REWRITERS = (ast.LineFormat, ast.Decolorize, ast.UnpackParser)
_HEX_ID = frozenset("0123456789abcdefABCDEF")


@dataclass
class Conditions:
    """WHERE clauses and their parameters, built up one condition at a time."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)

    def param(self, value: object, kind: str = "String") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "1"


def base_conditions(tenant: str, start_ns: int, end_ns: int) -> Conditions:
    """Tenant and the time range [start_ns, end_ns] (both inclusive)."""
    cond = Conditions()
    cond.add(f"tenant = {cond.param(tenant)}")
    cond.add(f"timestamp >= fromUnixTimestamp64Nano({cond.param(start_ns, 'Int64')})")
    cond.add(f"timestamp <= fromUnixTimestamp64Nano({cond.param(end_ns, 'Int64')})")
    return cond


def add_selector(cond: Conditions, matchers: tuple[ast.Matcher, ...]) -> None:
    for matcher in matchers:
        cond.add(matcher_clause(cond, matcher))
        if matcher.name == "service_name" and matcher.op is ast.MatchOp.EQ:
            # The sort key leads with the service: this clause lets the scan skip the rest.
            cond.add(f"service_name = {cond.param(matcher.value)}")


def matcher_clause(cond: Conditions, matcher: ast.Matcher) -> str:
    """A label matcher over the stream labels; a missing label reads as "" as in Loki."""
    value = f"labels[{cond.param(matcher.name)}]"
    if matcher.op is ast.MatchOp.EQ:
        return f"{value} = {cond.param(matcher.value)}"
    if matcher.op is ast.MatchOp.NE:
        return f"{value} != {cond.param(matcher.value)}"
    anchored = cond.param(f"^(?:{matcher.value})$")
    if matcher.op is ast.MatchOp.RE:
        return f"match({value}, {anchored})"
    return f"NOT match({value}, {anchored})"


def pushable_line_filters(stages: tuple[ast.Stage, ...]) -> list[int]:
    """Positions of the line filters that see the stored line (none after a rewrite)."""
    positions: list[int] = []
    for position, stage in enumerate(stages):
        if isinstance(stage, _LINE_REWRITERS):
            break
        if isinstance(stage, ast.LineFilter):
            positions.append(position)
    return positions


def add_line_filter(cond: Conditions, line_filter: ast.LineFilter) -> None:
    alternatives = [_line_clause(cond, line_filter.op, v) for v in line_filter.values]
    if line_filter.op in (ast.LineOp.CONTAINS, ast.LineOp.MATCHES, ast.LineOp.PATTERN):
        cond.add("(" + " OR ".join(alternatives) + ")")
    else:
        cond.add("NOT (" + " OR ".join(alternatives) + ")")


def _line_clause(cond: Conditions, op: ast.LineOp, value: str) -> str:
    if op in (ast.LineOp.CONTAINS, ast.LineOp.NOT_CONTAINS):
        if not value:
            return "1"
        return f"body LIKE {cond.param('%' + like_escape(value) + '%')}"
    if op in (ast.LineOp.MATCHES, ast.LineOp.NOT_MATCHES):
        return f"match(body, {cond.param(value)})"
    return f"body LIKE {cond.param(pattern_like(value))}"


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pattern_like(pattern: str) -> str:
    """A line-filter pattern (`<_>` wildcards, the rest literal) as a whole-line LIKE."""
    parts = pattern.split("<_>")
    return "%".join(like_escape(part) for part in parts)


def trace_id_filter(stages: tuple[ast.Stage, ...]) -> str | None:
    """The trace id of a leading `| trace_id="<hex>"` filter, which the trace-id index answers.

    Only a filter before any parser qualifies: after one, `trace_id` may be a parsed label.
    """
    for stage in stages:
        if isinstance(stage, ast.LineFilter):
            continue
        if not isinstance(stage, ast.LabelFilter):
            return None
        expr = stage.expr
        if (
            isinstance(expr, ast.StringLabelFilter)
            and expr.name == "trace_id"
            and expr.op is ast.MatchOp.EQ
            and len(expr.value) == 32
            and set(expr.value) <= _HEX_ID
        ):
            return expr.value.lower()
    return None


def add_trace_id(cond: Conditions, trace_id: str) -> None:
    cond.add(f"trace_id = toFixedString(unhex({cond.param(trace_id)}), 16)")
