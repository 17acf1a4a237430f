"""A rule group: sending, restoring `for` state after a restart, failures, reload hand-over."""

from __future__ import annotations

import math

from observatory.alerting.rules.alerting import (
    AlertingRule,
    AlertState,
    for_state_from_source,
)
from observatory.alerting.rules.group import GroupResult, RuleGroup
from observatory.query.promql.memory import InMemorySource
from observatory.query.promql.source import STALE_NAN
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

SECOND = 1000


def _source(minutes: int = 60) -> InMemorySource:
    source = InMemorySource()
    series(source, {"__name__": "errors", "service": "api"}, [1.0] * minutes)
    return source


def test_firing_alerts_are_resent_after_the_resend_delay() -> None:
    group = make_group(
        "groups:\n  - name: g\n    interval: 15s\n    rules:\n"
        "      - alert: Errors\n        expr: errors > 0\n",
        _source(),
    )
    sent = []
    for step in range(13):
        at = T0 + step * 15 * SECOND
        for alert in group.evaluate(at).alerts_to_send:
            sent.append(((at - T0) // SECOND, alert.ends_at - at / 1000))
    # Sent at once, then only once the last send is more than a minute old; valid for
    # 4 x max(interval 15s, resend delay 60s).
    assert sent == [(0, 240.0), (75, 240.0), (150, 240.0)]


def test_external_labels_and_url_go_on_sent_alerts() -> None:
    group = make_group(
        "groups:\n  - name: g\n    rules:\n      - alert: Errors\n        expr: errors > 0\n"
        "        labels:\n          cluster: own\n",
        _source(),
        external_labels={"cluster": "eu-1", "replica": "a"},
        external_url="http://obs.example:3300/",
    )
    (alert,) = group.evaluate(T0).alerts_to_send
    # The alert's own labels win over external labels of the same name.
    assert alert.labels == {
        "alertname": "Errors",
        "cluster": "own",
        "replica": "a",
        "service": "api",
    }
    assert alert.generator_url == "http://obs.example:3300/graph?g0.expr=errors+%3E+0&g0.tab=1"
    # External labels are not part of the alert itself (API, ALERTS series).
    (state,) = named(group.evaluate(T0 + MINUTE).samples, "ALERTS")
    assert "replica" not in state[0]


MIXED = """
groups:
  - name: mixed
    rules:
      - record: service:errors:sum
        expr: sum by (service) (errors)
      - record: broken
        expr: errors[5m]
      - alert: Errors
        expr: errors > 0
"""


def test_a_failing_rule_does_not_stop_the_others() -> None:
    group = make_group(MIXED, _source())
    result = group.evaluate(T0)
    assert result.failures == 1
    assert len(result.rule_seconds) == 3
    assert named(result.samples, "service:errors:sum") == [
        ({"__name__": "service:errors:sum", "service": "api"}, T0, 1.0)
    ]
    assert len(named(result.samples, "ALERTS")) == 1
    health = [(r.run.health, r.run.last_error) for r in group.rules]
    assert health == [
        ("ok", ""),
        ("err", "rule result is not a vector or scalar"),
        ("ok", ""),
    ]


def test_recording_series_that_disappear_get_a_stale_marker() -> None:
    source = InMemorySource()
    series(source, {"__name__": "errors", "service": "api"}, [1.0] * 3)
    series(source, {"__name__": "errors", "service": "db"}, [1.0])
    group = make_group(MIXED, source)
    group.evaluate(T0)
    result = group.evaluate(T0 + 6 * MINUTE)  # db's only sample is out of the lookback
    recorded = named(result.samples, "service:errors:sum")
    assert [(s[0]["service"], s[1], math.isnan(s[2])) for s in recorded] == [
        ("api", T0 + 6 * MINUTE, False),  # T0 + 2m is still within the 5m lookback
        ("db", T0 + 6 * MINUTE, True),
    ]


def test_status_shows_rules_and_alerts() -> None:
    group = make_group(MIXED, _source(), clock=lambda: 1_700_000_100.0)
    group.evaluate(T0)
    status = group.status()
    assert (status.name, status.file, status.interval_seconds, status.limit) == (
        "mixed",
        "rules.yml",
        60.0,
        0,
    )
    assert status.last_evaluation == 1_700_000_100.0
    recording, broken, alerting = status.rules
    assert (recording.kind, recording.health, recording.state) == ("recording", "ok", "")
    assert (broken.health, broken.last_error) == ("err", "rule result is not a vector or scalar")
    assert (alerting.kind, alerting.state, alerting.query) == ("alerting", "firing", "errors > 0")
    (alert,) = alerting.alerts
    assert alert.labels == {"alertname": "Errors", "service": "api"}
    assert (alert.state, alert.active_at, alert.value) == ("firing", T0 / 1000, 1.0)


PENDING = """
groups:
  - name: slow
    rules:
      - alert: Errors
        expr: errors > 0
        for: 20m
      - alert: Quick
        expr: errors > 0
        for: 5m
"""


def _before_restart(source: InMemorySource, minutes: int) -> None:
    """Runs the group as the previous process did, storing what it wrote."""
    group = make_group(PENDING, source)
    for i in range(minutes + 1):
        for labels, at, value in group.evaluate(T0 + i * MINUTE).samples:
            source.add(labels, [at], [value])


def _restarted(source: InMemorySource, at_ms: int, lookup: bool = True) -> RuleGroup:
    """A new process's group: two evaluations, then the restore, as Prometheus runs it."""
    for_state = for_state_from_source(source) if lookup else None
    group = make_group(PENDING, source, restore=True, for_state=for_state)
    first = group.evaluate(at_ms)
    second = group.evaluate(at_ms + MINUTE)
    # Until restored, nothing overwrites the ALERTS_FOR_STATE series the restore reads.
    assert named(first.samples, "ALERTS_FOR_STATE") == []
    assert named(second.samples, "ALERTS_FOR_STATE") == []
    group.restore_for_state(at_ms + MINUTE)
    assert not group.should_restore
    return group


def _errors(group: RuleGroup) -> AlertingRule:
    rule = group.rules[0]
    assert isinstance(rule, AlertingRule)
    return rule


def _fires_at(group: RuleGroup, start_ms: int, rule: int = 0) -> int:
    for minute in range(start_ms // MINUTE, start_ms // MINUTE + 40):
        group.evaluate(minute * MINUTE)
        alerting = group.rules[rule]
        assert isinstance(alerting, AlertingRule)
        if alerting.state() is AlertState.FIRING:
            return minute * MINUTE
    raise AssertionError("never fired")


def test_restore_keeps_the_time_spent_pending_before_the_restart() -> None:
    source = _source()
    _before_restart(source, 5)  # pending from T0, last written at T0 + 5m
    group = _restarted(source, T0 + 8 * MINUTE)
    # 5 of the 20 minutes were spent before the outage; the outage does not count.
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == T0 + 4 * MINUTE  # T0 + (restore at 9m - down at 5m)
    assert _fires_at(group, T0 + 10 * MINUTE) == T0 + 24 * MINUTE


def test_restore_gives_at_least_the_grace_period() -> None:
    source = _source()
    _before_restart(source, 15)  # 15 of 20 minutes pending: 5 left, under the 10m grace
    group = _restarted(source, T0 + 17 * MINUTE)
    restored_at = T0 + 18 * MINUTE
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == restored_at + 10 * MINUTE - 20 * MINUTE
    assert _fires_at(group, T0 + 19 * MINUTE) == restored_at + 10 * MINUTE


def test_an_alert_firing_before_the_restart_fires_again_at_once() -> None:
    source = _source()
    _before_restart(source, 25)  # firing since T0 + 20m
    group = _restarted(source, T0 + 30 * MINUTE)
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == T0
    assert _fires_at(group, T0 + 32 * MINUTE) == T0 + 32 * MINUTE


def test_a_for_shorter_than_the_grace_period_is_not_restored() -> None:
    source = _source()
    _before_restart(source, 3)
    group = _restarted(source, T0 + 10 * MINUTE)
    quick = group.rules[1]
    assert isinstance(quick, AlertingRule)
    (alert,) = quick.active.values()
    assert alert.active_at_ms == T0 + 10 * MINUTE
    assert _fires_at(group, T0 + 12 * MINUTE, rule=1) == T0 + 15 * MINUTE


def test_a_stale_marker_means_the_alert_had_stopped() -> None:
    source = _source()
    _before_restart(source, 5)
    source.add(
        {"__name__": "ALERTS_FOR_STATE", "alertname": "Errors", "service": "api"},
        [T0 + 6 * MINUTE],
        [STALE_NAN],
    )
    group = _restarted(source, T0 + 8 * MINUTE)
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == T0 + 8 * MINUTE


def test_restore_through_promql_when_no_raw_source_is_given() -> None:
    source = _source()
    _before_restart(source, 5)
    group = _restarted(source, T0 + 8 * MINUTE, lookup=False)
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == T0 + 4 * MINUTE


def test_restore_ignores_state_older_than_the_outage_tolerance() -> None:
    source = _source(200)
    _before_restart(source, 5)
    group = _restarted(source, T0 + 70 * MINUTE)
    (alert,) = _errors(group).active.values()
    assert alert.active_at_ms == T0 + 70 * MINUTE


def test_a_reloaded_group_takes_over_alerts_and_marks_removed_rules_stale() -> None:
    source = _source()
    old = make_group(MIXED, source)
    old.evaluate(T0)
    (changed,) = specs(
        """
groups:
  - name: mixed
    rules:
      - alert: Errors
        expr: errors > 0.5
      - record: service:errors:max
        expr: max by (service) (errors)
"""
    )
    new = RuleGroup(changed, query_over(source), expand=fake_expand)
    new.copy_state(old)
    alerting = new.rules[0]
    assert isinstance(alerting, AlertingRule)
    (alert,) = alerting.active.values()
    assert (alert.state, alert.active_at_ms) == (AlertState.FIRING, T0)
    result: GroupResult = new.evaluate(T0 + MINUTE)
    # Still the same alert, sent a minute ago: not sent again within the resend delay.
    assert result.alerts_to_send == []
    stale = [s[0]["__name__"] for s in result.samples if math.isnan(s[2])]
    assert stale == ["service:errors:sum"]
    assert new.last_evaluation is not None


def test_a_removed_group_marks_all_its_series_stale() -> None:
    group = make_group(MIXED, _source())
    group.evaluate(T0)
    samples = group.stale_samples(T0 + MINUTE)
    assert sorted(s[0]["__name__"] for s in samples) == [
        "ALERTS",
        "ALERTS_FOR_STATE",
        "service:errors:sum",
    ]
    assert all(s[1] == T0 + MINUTE and math.isnan(s[2]) for s in samples)


def test_a_later_rule_sees_an_earlier_recording_rule_at_the_same_evaluation() -> None:
    source = _source()
    group = make_group(
        "groups:\n  - name: g\n    rules:\n"
        "      - record: service:errors:sum\n        expr: sum by (service) (errors)\n"
        "      - alert: Errors\n        expr: service:errors:sum > 0\n"
        "      - record: unused:sum\n        expr: sum(errors)\n",
        source,
    )
    committed: list[list[str]] = []

    def commit(samples: list[tuple[dict[str, str], int, float]]) -> None:
        committed.append([labels["__name__"] for labels, _, _ in samples])
        for labels, ts, value in samples:
            source.add(labels, [ts], [value])

    result = group.evaluate(T0, commit)
    # Only the recording rule a later rule reads is written ahead; the rest at the end.
    assert committed == [["service:errors:sum"]]
    assert result.committed == 1
    assert [a.labels["alertname"] for a in result.alerts_to_send] == ["Errors"]
    names = [labels["__name__"] for labels, _, _ in result.samples[result.committed :]]
    assert names == ["ALERTS", "ALERTS_FOR_STATE", "unused:sum"]
