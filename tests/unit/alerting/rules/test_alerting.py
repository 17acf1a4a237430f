"""The alert state machine, evaluated minute by minute against series in memory.

Expected times follow Prometheus's rules/alerting.go: pending until `for` has elapsed since
the alert became active (inclusive), firing sent at once and then when the last send is more
than the resend delay ago, resolved sent at once and kept for 15 minutes.
"""

from __future__ import annotations

import math

import pytest

from observatory.alerting.rules import EvalContext
from observatory.alerting.rules.alerting import AlertingRule, AlertState
from observatory.alerting.rules.group import GroupResult, RuleGroup
from observatory.query.promql.memory import InMemorySource
from tests.unit.alerting.rules.rules_support import (
    MINUTE,
    T0,
    fake_expand,
    make_group,
    named,
    query_over,
    series,
    specs,
)

RULES = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: HighLatency
        expr: latency_seconds > 1
        for: {for_}
        keep_firing_for: {keep}
        labels:
          severity: page
        annotations:
          summary: "{{{{ $labels.instance }}}} is slow: {{{{ $value }}}}s"
"""
LABELS = {"alertname": "HighLatency", "instance": "a", "job": "api", "severity": "page"}


def _group(values: list[float], for_: str = "3m", keep: str = "0s") -> RuleGroup:
    source = InMemorySource()
    labels = {"__name__": "latency_seconds", "instance": "a", "job": "api"}
    series(source, labels, values)
    return make_group(RULES.format(for_=for_, keep=keep), source)


def _run(group: RuleGroup, minutes: int) -> list[GroupResult]:
    return [group.evaluate(T0 + i * MINUTE) for i in range(minutes)]


def _alert_rule(group: RuleGroup) -> AlertingRule:
    rule = group.rules[0]
    assert isinstance(rule, AlertingRule)
    return rule


def _states(results: list[GroupResult]) -> list[str]:
    """The ALERTS state written at each evaluation ('-' for none, stale markers skipped)."""
    out = []
    for result in results:
        live = [s for s in named(result.samples, "ALERTS") if not math.isnan(s[2])]
        out.append(",".join(s[0]["alertstate"] for s in live) or "-")
    return out


def test_pending_fires_after_for_then_resolves() -> None:
    group = _group([2, 2, 2, 2, 2] + [0] * 25)
    results = _run(group, 22)
    assert _states(results)[:7] == ["pending"] * 3 + ["firing"] * 2 + ["-"] * 2
    first = results[0]
    assert named(first.samples, "ALERTS") == [
        ({**LABELS, "__name__": "ALERTS", "alertstate": "pending"}, T0, 1.0)
    ]
    # ALERTS_FOR_STATE holds the time the alert became active, in seconds.
    assert named(first.samples, "ALERTS_FOR_STATE") == [
        ({**LABELS, "__name__": "ALERTS_FOR_STATE"}, T0, T0 / 1000)
    ]
    assert named(results[4].samples, "ALERTS_FOR_STATE")[0][2] == T0 / 1000


def test_firing_and_resolved_notifications() -> None:
    group = _group([2, 2, 2, 2, 2] + [0] * 25)
    results = _run(group, 22)
    sent = {i: r.alerts_to_send for i, r in enumerate(results) if r.alerts_to_send}
    # Firing at minute 3; resolved at 5, then re-sent whenever the last send is over a minute
    # old (every second evaluation at a one-minute interval) until 15 minutes have passed.
    assert sorted(sent) == [3, 5, 7, 9, 11, 13, 15, 17, 19]
    (firing,) = sent[3]
    assert firing.labels == LABELS
    assert firing.annotations == {"summary": "a is slow: 2s"}
    assert firing.starts_at == (T0 + 3 * MINUTE) / 1000
    # Valid for 4 x max(interval, resend delay) unless sent again.
    assert firing.ends_at == (T0 + 7 * MINUTE) / 1000
    assert firing.generator_url == "/graph?g0.expr=latency_seconds+%3E+1&g0.tab=1"
    for minute in range(5, 20, 2):
        (resolved,) = sent[minute]
        assert resolved.starts_at == (T0 + 3 * MINUTE) / 1000
        assert resolved.ends_at == (T0 + 5 * MINUTE) / 1000
    assert _alert_rule(group).active == {}  # dropped once resolved for over 15 minutes


def test_series_that_end_get_stale_markers() -> None:
    group = _group([2, 2, 2, 2, 2] + [0] * 5)
    results = _run(group, 6)
    pending_gone = named(results[3].samples, "ALERTS")
    assert [(s[0]["alertstate"], math.isnan(s[2])) for s in pending_gone] == [
        ("firing", False),
        ("pending", True),
    ]
    gone = results[5].samples
    assert [(s[0]["__name__"], s[0].get("alertstate"), s[1]) for s in gone] == [
        ("ALERTS", "firing", T0 + 5 * MINUTE),
        ("ALERTS_FOR_STATE", None, T0 + 5 * MINUTE),
    ]
    assert all(math.isnan(s[2]) for s in gone)


def test_an_alert_cleared_while_pending_is_dropped_unsent() -> None:
    group = _group([2, 2, 0, 0, 2, 2, 2], for_="2m")
    results = _run(group, 7)
    assert _states(results) == ["pending", "pending", "-", "-", "pending", "pending", "firing"]
    assert [i for i, r in enumerate(results) if r.alerts_to_send] == [6]
    # It became active again at minute 4: the `for` clock started over.
    assert results[6].alerts_to_send[0].starts_at == (T0 + 6 * MINUTE) / 1000
    assert named(results[6].samples, "ALERTS_FOR_STATE")[0][2] == (T0 + 4 * MINUTE) / 1000


def test_keep_firing_for_holds_a_firing_alert() -> None:
    group = _group([2, 2, 0, 0, 0, 0], for_="0s", keep="2m")
    results = _run(group, 6)
    # Cleared at minute 2: kept firing while less than 2m have passed since then.
    assert _states(results) == ["firing", "firing", "firing", "firing", "-", "-"]
    rule = _alert_rule(group)
    (alert,) = rule.active.values()
    assert alert.state is AlertState.INACTIVE
    assert alert.resolved_at_ms == T0 + 4 * MINUTE
    assert [a.ends_at for a in results[4].alerts_to_send] == [(T0 + 4 * MINUTE) / 1000]


def test_keep_firing_for_restarts_when_the_condition_returns() -> None:
    group = _group([2, 0, 2, 0, 0, 0, 0], for_="0s", keep="2m")
    results = _run(group, 7)
    assert _states(results) == ["firing"] * 5 + ["-", "-"]
    (alert,) = _alert_rule(group).active.values()
    assert alert.resolved_at_ms == T0 + 5 * MINUTE


def test_keep_firing_since_is_shown_while_held() -> None:
    group = _group([2, 2, 0, 0], for_="0s", keep="5m")
    _run(group, 3)
    (alert,) = _alert_rule(group).active_alerts()
    assert alert.keep_firing_since_ms == T0 + 2 * MINUTE
    assert alert.state is AlertState.FIRING


def test_a_resolved_alert_that_returns_starts_pending_again() -> None:
    group = _group([2, 2, 0, 2, 2, 2], for_="1m")
    results = _run(group, 6)
    assert _states(results) == ["pending", "firing", "-", "pending", "firing", "firing"]
    rule = _alert_rule(group)
    (alert,) = rule.active.values()
    assert alert.active_at_ms == T0 + 3 * MINUTE
    assert alert.resolved_at_ms is None


def test_value_and_annotations_follow_the_latest_evaluation() -> None:
    group = _group([2, 3, 4], for_="5m")
    _run(group, 3)
    (alert,) = _alert_rule(group).active_alerts()
    assert alert.value == 4
    assert alert.annotations == {"summary": "a is slow: 4s"}
    assert alert.active_at_ms == T0


TEMPLATED = """
groups:
  - name: g
    limit: {limit}
    rules:
      - alert: Down
        expr: up == 0
        labels:
          target: "{{{{ $labels.instance }}}}/{{{{ $labels.job }}}}"
          job: ""
"""


def _down(instances: list[str], limit: int = 0) -> RuleGroup:
    source = InMemorySource()
    for instance in instances:
        series(source, {"__name__": "up", "job": "node", "instance": instance}, [0])
    return make_group(TEMPLATED.format(limit=limit), source)


def test_rule_labels_are_templates_and_an_empty_one_removes_a_label() -> None:
    group = _down(["h1:9100"])
    result = group.evaluate(T0)
    (alert,) = _alert_rule(group).active_alerts()
    assert alert.labels == {"alertname": "Down", "instance": "h1:9100", "target": "h1:9100/node"}
    assert result.alerts_to_send[0].labels == alert.labels


def test_alerts_over_the_limit_fail_the_rule_and_drop_its_alerts() -> None:
    group = _down(["a", "b", "c"], limit=3)
    assert group.evaluate(T0).failures == 0
    assert len(_alert_rule(group).active) == 3
    group = _down(["a", "b", "c"], limit=2)
    result = group.evaluate(T0)
    rule = _alert_rule(group)
    assert result.failures == 1
    assert rule.run.health == "err"
    assert rule.run.last_error == "exceeded limit of 2 with 3 alerts"
    assert rule.active == {}
    assert result.samples == [] and result.alerts_to_send == []


def test_the_same_alert_labels_twice_fail_the_rule() -> None:
    (spec,) = specs(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
        "        labels:\n          instance: same\n"
    )
    source = InMemorySource()
    for instance in ("x", "y"):
        series(source, {"__name__": "up", "instance": instance}, [1])
    rule = AlertingRule(spec.rules[0])
    context = EvalContext(query_over(source), fake_expand, {}, "")
    with pytest.raises(Exception, match="same labelset after applying alert labels"):
        rule.eval(T0, context)


def test_the_rule_state_is_the_highest_of_its_alerts() -> None:
    group = _group([2, 2, 2, 0], for_="1m")
    rule = _alert_rule(group)
    assert rule.state() is AlertState.UNKNOWN  # not evaluated yet
    group.evaluate(T0)
    assert rule.state() is AlertState.PENDING
    group.evaluate(T0 + MINUTE)
    assert rule.state() is AlertState.FIRING
    group.evaluate(T0 + 3 * MINUTE)
    assert rule.state() is AlertState.INACTIVE
    assert rule.active_alerts() == []  # the resolved alert is kept only for sending


def test_prometheus_templates_expand_labels_and_annotations() -> None:
    """With the real template expansion (the group's default), not the tests' stand-in."""
    (spec,) = specs(
        """
groups:
  - name: g
    rules:
      - alert: BigQueue
        expr: queue_bytes > 1000
        labels:
          size: "{{ if gt $value 1e6 }}huge{{ else }}big{{ end }}"
        annotations:
          summary: "{{ $labels.queue }} holds {{ $value | humanize1024 }}B"
          link: "{{ $externalURL }}/queues/{{ $labels.queue }}"
"""
    )
    source = InMemorySource()
    series(source, {"__name__": "queue_bytes", "queue": "ingest"}, [3 * 1024 * 1024])
    group = RuleGroup(spec, query_over(source), external_url="http://obs:3300")
    (alert,) = group.evaluate(T0).alerts_to_send
    assert alert.labels == {"alertname": "BigQueue", "queue": "ingest", "size": "huge"}
    assert alert.annotations == {
        "summary": "ingest holds 3MiB",
        "link": "http://obs:3300/queues/ingest",
    }
