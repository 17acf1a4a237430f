"""Golden SQL of span conditions, the choice of plan, and parameters for every user value."""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.query.traceql.conditions import ConditionCompiler
from observatory.query.traceql.params import SqlParams
from observatory.query.traceql.parser import parse, parse_condition
from observatory.query.traceql.search_sql import SearchBounds, compile_search, flat_plan

BOUNDS = SearchBounds("tenant-x", 1, 2, 20, 3)
PRESENT = (
    "(mapContains(attributes, {p0:String}) OR mapContains(attributes_int, {p0:String}) OR "
    "mapContains(attributes_float, {p0:String}) OR mapContains(attributes_bool, {p0:String}) OR "
    "mapContains(attributes_json, {p0:String}))"
)


def _compile(text: str) -> tuple[str, dict[str, object], bool]:
    condition = parse_condition("{ " + text + " }")
    assert condition is not None
    compiler = ConditionCompiler(SqlParams())
    sql = compiler.compile(condition)
    return sql, compiler.params.values, compiler.trace_level


@pytest.mark.parametrize(
    ("text", "sql", "params"),
    [
        ('name = "chat"', "name = {p0:String}", {"p0": "chat"}),
        ('name != "chat"', "name != {p0:String}", {"p0": "chat"}),
        ('name =~ "ch.*"', "match(name, {p0:String})", {"p0": "^(?:ch.*)$"}),
        ('name !~ "a|b"', "NOT match(name, {p0:String})", {"p0": "^(?:a|b)$"}),
        ('statusMessage >= "b"', "status_message >= {p0:String}", {"p0": "b"}),
        ("statusMessage = nil", "status_message = ''", {}),
        ("status = error", "status_code = {p0:Int8}", {"p0": 2}),
        ("span:status != ok", "status_code != {p0:Int8}", {"p0": 1}),
        ("kind = consumer", "kind = {p0:Int8}", {"p0": 5}),
        ("duration > 1.5s", "duration_ns > {p0:Int64}", {"p0": 1_500_000_000}),
        ("duration != nil", "1", {}),
        ('span:id = "ABCD"', "lower(hex(span_id)) = {p0:String}", {"p0": "abcd"}),
        ('instrumentation:name = "x"', "scope_name = {p0:String}", {"p0": "x"}),
        (
            'event:name = "exception"',
            "arrayExists(__e -> tupleElement(__e, 'name') = {p0:String}, events)",
            {"p0": "exception"},
        ),
        ("event:name = nil", "empty(events)", {}),
        ('resource.service.name = "gw"', "(service_name = {p1:String})",
         {"p0": "service.name", "p1": "gw"}),
        ("span.x = nil", f"(NOT ({PRESENT}))", {"p0": "x"}),
        ("span.x != nil", f"({PRESENT})", {"p0": "x"}),
        ("true && !false", "(1 AND (NOT 0))", {}),
    ],
)  # fmt: skip
def test_golden_conditions(text: str, sql: str, params: dict[str, object]) -> None:
    compiled, values, _ = _compile(text)
    assert compiled == sql
    assert values == params


def test_numbers_compare_with_int_and_float_maps_and_array_elements() -> None:
    sql, params, _ = _compile("span.tokens >= 10")
    for kind in ("int", "float"):
        scalar = f"mapContains(attributes_{kind}, {{p0:String}}) AND "
        scalar += f"attributes_{kind}[{{p0:String}}] >= {{p1:Int64}}"
        assert f"({scalar})" in sql
    assert "JSONExtractArrayRaw(attributes_json[{p0:String}], 'arrayValue', 'values')" in sql
    assert params == {"p0": "tokens", "p1": 10}
    sql, params, _ = _compile("span.ratio < 0.5")
    assert "attributes_float[{p0:String}] < {p1:Float64}" in sql
    assert params == {"p0": "ratio", "p1": 0.5}


def test_strings_and_booleans_use_their_own_maps() -> None:
    sql, _, _ = _compile('span.model = "llama"')
    assert sql.startswith(
        "((mapContains(attributes, {p0:String}) AND attributes[{p0:String}] = {p1:String})"
    )
    assert "attributes_int" not in sql
    sql, params, _ = _compile("resource.cache.hit != true")
    assert "resource_attributes_bool[{p0:String}] != {p1:Bool}" in sql
    assert params == {"p0": "cache.hit", "p1": True}


def test_unscoped_attributes_prefer_the_span() -> None:
    sql, _, _ = _compile('.model = "x"')
    span_present = PRESENT
    assert sql.startswith(f"(({span_present} AND ")
    assert f"OR (NOT {span_present} AND " in sql
    assert "resource_attributes[{p0:String}]" in sql


def test_trace_level_intrinsics_need_the_summaries() -> None:
    assert _compile('rootServiceName = "gw"')[2]
    assert _compile("trace:duration > 1s")[0] == "__trace_duration_ns > {p0:Int64}"
    assert not _compile('name = "x"')[2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('status = "error"', "status compares with = or != to one of unset, ok, error"),
        ("status > error", "status compares with = or != to one of"),
        ('kind = "server"', "kind compares with = or != to one of"),
        ("duration > 5", "duration compares with a duration such as 100ms"),
        ("name = 5", "name is a string, use a quoted value"),
        ("span.x =~ 5", "regular expressions match strings only"),
        ("span.x > true", "booleans compare with = and != only"),
        ("span.x > nil", "nil compares with = and != only"),
        ("span.x = ok", "ok compares with the status intrinsic"),
        ("name >= nil", "nil compares with = and != only"),
    ],
)
def test_type_errors_name_the_field_and_position(text: str, message: str) -> None:
    with pytest.raises(QueryError, match="position 3") as caught:
        _compile(text)
    assert message in str(caught.value)


def test_aggregates_need_numbers() -> None:
    with pytest.raises(QueryError, match="name is not numeric"):
        compile_search(parse("{ } | avg(name) > 1"), BOUNDS)
    with pytest.raises(QueryError, match="aggregates compare with numbers"):
        compile_search(parse('{ } | count() > "2"'), BOUNDS)


def test_user_values_reach_sql_only_as_parameters() -> None:
    hostile = "x'); DROP TABLE spans; --\\"
    query = f'{{ span."{hostile}" = "{hostile}" && name =~ "{hostile}" }} >> {{ }}'
    compiled = compile_search(parse(query.replace("\\", "\\\\")), BOUNDS)
    assert "DROP TABLE" not in compiled.sql
    assert hostile in compiled.params.values()
    assert compiled.params["tenant"] == "tenant-x"


@pytest.mark.parametrize(
    ("query", "flat"),
    [
        ("{ }", True),
        ("{ .a = 1 } && { .b = 2 } && { .c = 3 }", True),
        ("{ .a = 1 } || { .b = 2 } | count() > 1 | select(.c)", True),
        ("{ .a = 1 } && { .b = 2 } || { .c = 3 }", False),
        ("{ .a = 1 } > { .b = 2 }", False),
        ("{ } | { .a = 1 }", False),
        ("({ } | count() > 1) && { .a = 1 }", False),
    ],
)
def test_flat_queries_avoid_per_trace_arrays(query: str, flat: bool) -> None:
    assert (flat_plan(parse(query).root) is not None) == flat
    assert ("groupArraySorted" in compile_search(parse(query), BOUNDS).sql) == flat


@pytest.mark.parametrize(
    ("operator", "tree"),
    [
        *[(op, False) for op in (">", "<", "~", "!>", "!<", "!~", "&>", "&<", "&~")],
        *[(op, True) for op in (">>", "<<", "!>>", "!<<", "&>>", "&<<")],
    ],
)
def test_only_ancestry_reads_whole_traces(operator: str, tree: bool) -> None:
    sql = compile_search(parse(f"{{ .a = 1 }} {operator} {{ .b = 2 }}"), BOUNDS).sql
    assert ("__pidx" in sql) == tree
    assert ("trace_id IN (SELECT trace_id" in sql) == tree


def test_trace_conditions_and_durations_join_the_summaries() -> None:
    plain = compile_search(parse('{ name = "x" }'), BOUNDS).sql
    assert "trace_summaries" not in plain
    bounded = SearchBounds("t", 1, 2, 20, 3, min_duration_ns=5)
    sql = compile_search(parse('{ name = "x" }'), bounded).sql
    assert "trace_summaries" in sql
    assert "__trace_duration_ns >= {p0:Int64}" in sql
