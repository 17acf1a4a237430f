from __future__ import annotations

import math

import pytest

from observatory.errors import QueryExecutionError

from .helpers import MINUTE, engine_with, values, vector

NODES = {
    'cpu{instance="a",mode="idle"}': [3],
    'cpu{instance="a",mode="user"}': [1],
    'cpu{instance="b",mode="idle"}': [8],
    'role{instance="a",role="db"}': [1],
    'limit{instance="a"}': [2],
}


def test_arithmetic_drops_the_name_and_comparisons_filter() -> None:
    engine, _ = engine_with(NODES)
    assert vector(engine.instant('cpu{mode="idle"} * 2', 0)) == {
        (("instance", "a"), ("mode", "idle")): 6.0,
        (("instance", "b"), ("mode", "idle")): 16.0,
    }
    kept = engine.instant("cpu > 2", 0)
    assert sorted(v for _, _, v in kept.data) == [3.0, 8.0]
    assert all("__name__" in lbl for lbl, _, _ in kept.data)
    flags = vector(engine.instant('cpu{instance="a"} > bool 2', 0))
    assert flags == {
        (("instance", "a"), ("mode", "idle")): 1.0,
        (("instance", "a"), ("mode", "user")): 0.0,
    }
    assert engine.instant("2 ^ 3 ^ 2", 0).data[1] == 512  # right-associative


def test_one_to_one_matching_with_on_and_ignoring() -> None:
    engine, _ = engine_with(NODES)
    result = engine.instant('cpu{mode="idle"} / on(instance) limit', 0)
    assert vector(result) == {(("instance", "a"),): 1.5}
    result = engine.instant('cpu{mode="idle"} / ignoring(mode) limit', 0)
    assert vector(result) == {(("instance", "a"),): 1.5}


def test_many_to_one_copies_labels_from_the_one_side() -> None:
    engine, _ = engine_with(NODES)
    result = engine.instant("cpu * on(instance) group_left(role) role", 0)
    assert vector(result) == {
        (("instance", "a"), ("mode", "idle"), ("role", "db")): 3.0,
        (("instance", "a"), ("mode", "user"), ("role", "db")): 1.0,
    }
    flipped = engine.instant("role * on(instance) group_right(role) cpu", 0)
    assert vector(flipped) == vector(result)


def test_matching_errors() -> None:
    engine, _ = engine_with(NODES)
    with pytest.raises(QueryExecutionError, match="many-to-one matching must be explicit"):
        engine.instant("cpu * on(instance) limit", 0)
    with pytest.raises(QueryExecutionError, match="found duplicate series for the match group"):
        engine.instant("limit * on(instance) group_left cpu", 0)


def test_set_operators() -> None:
    engine, _ = engine_with(NODES)
    assert len(engine.instant("cpu and on(instance) limit", 0).data) == 2
    assert len(engine.instant("cpu unless on(instance) limit", 0).data) == 1
    both = engine.instant('cpu{instance="b"} or limit', 0)
    assert sorted(lbl["__name__"] for lbl, _, _ in both.data) == ["cpu", "limit"]


def test_or_fills_gaps_step_by_step() -> None:
    engine, _ = engine_with(
        {"a": [1, None, None, None, None, None, None], "b": [5, 6, 7, 8, 9, 10, 11]}
    )
    result = engine.range("-a or -b", 0, 6 * MINUTE, MINUTE)
    assert values(result) == {(): [-1.0, -1.0, -1.0, -1.0, -1.0, -10.0, -11.0]}


def test_aggregations() -> None:
    engine, _ = engine_with(NODES)

    def agg(query: str) -> dict[tuple[tuple[str, str], ...], float]:
        return vector(engine.instant(query, 0))

    assert agg("sum by (instance) (cpu)") == {(("instance", "a"),): 4.0, (("instance", "b"),): 8.0}
    assert agg("sum without (mode) (cpu)") == agg("sum by (instance) (cpu)")
    assert agg("avg(cpu)") == {(): 4.0}
    assert agg("count(cpu)") == {(): 3.0}
    assert agg("min(cpu)") == {(): 1.0} and agg("max(cpu)") == {(): 8.0}
    assert agg("group by (mode) (cpu)") == {(("mode", "idle"),): 1.0, (("mode", "user"),): 1.0}
    assert agg("stddev(cpu)")[()] == pytest.approx(math.sqrt(26 / 3))
    assert agg("quantile(0.5, cpu)") == {(): 3.0}
    assert agg('count_values("v", cpu)') == {
        (("v", "1"),): 1.0,
        (("v", "3"),): 1.0,
        (("v", "8"),): 1.0,
    }


def test_topk_bottomk_limitk_keep_series_and_order() -> None:
    engine, _ = engine_with(
        {'m{i="1"}': [5], 'm{i="2"}': [math.nan], 'm{i="3"}': [9], 'm{i="4"}': [1]}
    )
    top = [(lbl["i"], v) for lbl, _, v in engine.instant("topk(2, m)", 0).data]
    assert top == [("3", 9.0), ("1", 5.0)]
    bottom = [lbl["i"] for lbl, _, _ in engine.instant("bottomk(4, m)", 0).data]
    assert bottom == ["4", "1", "3", "2"]  # NaN sorts away from the bottom too
    assert len(engine.instant("limitk(3, m)", 0).data) == 3
    with pytest.raises(QueryExecutionError, match="Parameter value is NaN"):
        engine.instant("topk(NaN, m)", 0)
    ratio = engine.instant("limit_ratio(0.5, m)", 0).data
    again = engine.instant("limit_ratio(0.5, m)", 0).data
    assert ratio == again  # deterministic sampling
    complement = engine.instant("limit_ratio(-0.5, m)", 0).data
    assert len(ratio) + len(complement) == 4


def test_topk_changes_members_over_steps() -> None:
    engine, _ = engine_with({'m{i="1"}': [1, 3], 'm{i="2"}': [2, 0]})
    result = values(engine.range("topk(1, m)", 0, MINUTE, MINUTE))
    assert result == {
        (("__name__", "m"), ("i", "1")): [3.0],
        (("__name__", "m"), ("i", "2")): [2.0],
    }


def test_avg_survives_overflowing_sums() -> None:
    engine, _ = engine_with({f'm{{i="{i}"}}': [1.7e308] for i in range(3)})
    assert vector(engine.instant("avg(m)", 0))[()] == pytest.approx(1.7e308)
    assert vector(engine.instant("sum(m)", 0))[()] == math.inf
