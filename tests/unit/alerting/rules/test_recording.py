"""Recording rules: the result written back under the rule's name, with the rule's labels."""

from __future__ import annotations

import pytest

from observatory.alerting.rules import EvalContext, RuleEvaluationError, Vector
from observatory.alerting.rules.recording import RecordingRule
from observatory.query.promql.memory import InMemorySource
from tests.unit.alerting.rules.rules_support import (
    MINUTE,
    T0,
    fake_expand,
    query_over,
    series,
    specs,
)


def _rule(text: str) -> RecordingRule:
    (group,) = specs(f"groups:\n  - name: g\n    rules:\n{text}")
    return RecordingRule(group.rules[0])


def _context(query: object, limit: int = 0, offset_ms: int = 0) -> EvalContext:
    return EvalContext(query, fake_expand, {}, "", offset_ms, limit)  # type: ignore[arg-type]


@pytest.fixture
def source() -> InMemorySource:
    source = InMemorySource()
    for job, instance, value in (("api", "a", 3.0), ("api", "b", 4.0), ("db", "c", 5.0)):
        labels = {"__name__": "requests", "job": job, "instance": instance, "env": "prod"}
        series(source, labels, [value] * 3)
    return source


def test_the_result_gets_the_rule_name_and_labels(source: InMemorySource) -> None:
    rule = _rule(
        "      - record: job:requests:sum\n"
        "        expr: sum by (job, env) (requests)\n"
        "        labels:\n"
        "          env: staging\n"  # overrides the series' own value
        "          source: rules\n"
    )
    samples = rule.eval(T0 + MINUTE, _context(query_over(source)))
    assert sorted(samples, key=lambda s: s[0]["job"]) == [
        (
            {"__name__": "job:requests:sum", "job": "api", "env": "staging", "source": "rules"},
            T0 + MINUTE,
            7.0,
        ),
        (
            {"__name__": "job:requests:sum", "job": "db", "env": "staging", "source": "rules"},
            T0 + MINUTE,
            5.0,
        ),
    ]


def test_the_metric_name_of_the_input_is_replaced(source: InMemorySource) -> None:
    rule = _rule('      - record: requests:copy\n        expr: requests{instance="c"}\n')
    ((labels, _, value),) = rule.eval(T0, _context(query_over(source)))
    assert labels == {"__name__": "requests:copy", "job": "db", "instance": "c", "env": "prod"}
    assert value == 5.0


def test_an_empty_rule_label_removes_the_label(source: InMemorySource) -> None:
    rule = _rule(
        "      - record: requests:no_env\n"
        '        expr: requests{instance="a"}\n'
        "        labels:\n"
        "          env: ''\n"
    )
    ((labels, _, _),) = rule.eval(T0, _context(query_over(source)))
    assert labels == {"__name__": "requests:no_env", "job": "api", "instance": "a"}


def test_a_scalar_result_is_one_sample_without_labels(source: InMemorySource) -> None:
    rule = _rule("      - record: answer\n        expr: 6 * 7\n")
    assert rule.eval(T0, _context(query_over(source))) == [({"__name__": "answer"}, T0, 42.0)]


def test_the_same_labels_twice_after_relabelling_fail_the_rule(source: InMemorySource) -> None:
    rule = _rule(
        "      - record: requests:by_env\n"
        '        expr: requests{job="api"}\n'
        "        labels:\n"
        "          instance: ''\n"
    )
    with pytest.raises(RuleEvaluationError) as caught:
        rule.eval(T0, _context(query_over(source)))
    assert caught.value.message == (
        "vector contains metrics with the same labelset after applying rule labels"
    )


def test_more_series_than_the_limit_fail_the_rule(source: InMemorySource) -> None:
    rule = _rule("      - record: requests:copy\n        expr: requests\n")
    assert len(rule.eval(T0, _context(query_over(source), limit=3))) == 3
    with pytest.raises(RuleEvaluationError, match=r"^exceeded limit of 2 with 3 series$"):
        rule.eval(T0, _context(query_over(source), limit=2))


def test_the_query_offset_moves_the_evaluation_and_the_samples_back() -> None:
    seen: list[int] = []

    def query(expr: str, time_ms: int) -> Vector:
        seen.append(time_ms)
        return [({}, 1.0)]

    rule = _rule("      - record: one\n        expr: vector(1)\n")
    samples = rule.eval(T0, _context(query, offset_ms=30_000))
    assert seen == [T0 - 30_000]
    assert samples == [({"__name__": "one"}, T0 - 30_000, 1.0)]
