"""LogQL pushed down to SQL: which filters reach the store and how user values are passed."""

from __future__ import annotations

from observatory.query.logql import ast, sql

TRACE = "5b8efff798038103d269b633813fc60c"


def _selector() -> tuple[ast.Matcher, ...]:
    return (
        ast.Matcher("service_name", ast.MatchOp.EQ, "api"),
        ast.Matcher("env", ast.MatchOp.RE, "prod|staging"),
    )


def test_selector_uses_parameters_and_the_service_sort_key() -> None:
    cond = sql.base_conditions("t1", 1, 2)
    sql.add_selector(cond, _selector())
    assert "service_name = {p" in cond.where
    assert "match(labels[{p" in cond.where
    assert "^(?:prod|staging)$" in cond.params.values()
    assert "api" in cond.params.values() and "t1" in cond.params.values()
    assert "prod" not in cond.where


def test_line_filters_become_like_and_match() -> None:
    cond = sql.Conditions()
    sql.add_line_filter(cond, ast.LineFilter(ast.LineOp.CONTAINS, ("50%_off", "x")))
    sql.add_line_filter(cond, ast.LineFilter(ast.LineOp.NOT_MATCHES, ("5\\d\\d",)))
    sql.add_line_filter(cond, ast.LineFilter(ast.LineOp.PATTERN, ("<_> GET <_>",)))
    assert cond.clauses[0].startswith("(body LIKE") and " OR " in cond.clauses[0]
    assert cond.clauses[1].startswith("NOT (match(body")
    values = list(cond.params.values())
    assert values[0] == "%50\\%\\_off%"
    assert values[2] == "5\\d\\d"
    assert values[3] == "% GET %"


def test_only_filters_before_a_line_rewrite_are_pushed() -> None:
    stages: tuple[ast.Stage, ...] = (
        ast.LineFilter(ast.LineOp.CONTAINS, ("a",)),
        ast.JsonParser(),
        ast.LineFilter(ast.LineOp.CONTAINS, ("b",)),
        ast.LineFormat("{{.x}}"),
        ast.LineFilter(ast.LineOp.CONTAINS, ("c",)),
    )
    assert sql.pushable_line_filters(stages) == [0, 2]


def test_leading_trace_id_filter_is_pushed_only_before_parsers() -> None:
    by_trace = ast.LabelFilter(ast.StringLabelFilter("trace_id", ast.MatchOp.EQ, TRACE.upper()))
    assert sql.trace_id_filter((by_trace,)) == TRACE
    assert sql.trace_id_filter((ast.LogfmtParser(), by_trace)) is None
    short = ast.LabelFilter(ast.StringLabelFilter("trace_id", ast.MatchOp.EQ, "abc"))
    assert sql.trace_id_filter((short,)) is None
