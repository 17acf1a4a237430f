from __future__ import annotations

from observatory.alerting.alertmanager.config import load_config
from observatory.alerting.alertmanager.inhibit import Inhibitor
from tests.unit.alerting.alertmanager.core_fakes import FakeClock, FakeSource, alert

CONFIG = """
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, service]
"""


def inhibitor(text: str = CONFIG) -> tuple[Inhibitor, FakeSource, FakeClock]:
    clock, source = FakeClock(), FakeSource()
    rules = load_config(text, "am.yml").inhibit_rules
    return Inhibitor(rules, source, clock), source, clock


def test_critical_inhibits_warning_with_equal_labels() -> None:
    inh, source, clock = inhibitor()
    critical = alert(clock.now, alertname="Latency", service="api", severity="critical")
    source.put(critical)
    warning = {"alertname": "Latency", "service": "api", "severity": "warning"}
    assert inh.mutes(warning) == [critical.fingerprint]
    assert inh.muted(warning)
    # Another service, or another alert name: not the same problem, not inhibited.
    assert inh.mutes({**warning, "service": "web"}) == []
    assert inh.mutes({**warning, "alertname": "Errors"}) == []
    # The source itself does not match the target side.
    assert inh.mutes(critical.labels) == []


def test_alerts_present_before_the_inhibitor_count() -> None:
    clock, source = FakeClock(), FakeSource()
    critical = alert(clock.now, alertname="X", service="a", severity="critical")
    source.put(critical)
    rules = load_config(CONFIG, "am.yml").inhibit_rules
    inh = Inhibitor(rules, source, clock)
    assert inh.mutes({"alertname": "X", "service": "a", "severity": "warning"}) == [
        critical.fingerprint
    ]


def test_resolved_source_stops_inhibiting() -> None:
    inh, source, clock = inhibitor()
    source.put(alert(clock.now, alertname="X", service="a", severity="critical"))
    target = {"alertname": "X", "service": "a", "severity": "warning"}
    assert inh.muted(target)
    clock.advance(1001)  # past the source's ends_at: it resolved by timeout
    assert not inh.muted(target)
    source.put(alert(clock.now, alertname="X", service="a", severity="critical", resolved=True))
    assert not inh.muted(target)
    inh.gc()
    assert not inh.muted(target)


def test_missing_equal_label_on_both_sides_is_equal() -> None:
    inh, source, clock = inhibitor()
    source.put(alert(clock.now, alertname="X", severity="critical"))
    assert inh.muted({"alertname": "X", "severity": "warning"})
    assert not inh.muted({"alertname": "X", "severity": "warning", "service": "a"})


def test_alert_matching_both_sides_is_not_inhibited_by_its_peers() -> None:
    inh, source, clock = inhibitor(
        """
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [team="x"]
    equal: [cluster]
"""
    )
    both_1 = alert(clock.now, severity="critical", team="x", cluster="c", instance="1")
    both_2 = alert(clock.now, severity="critical", team="x", cluster="c", instance="2")
    source.put(both_1, both_2)
    # Each matches both sides: neither silences the other, nor itself.
    assert inh.mutes(both_1.labels) == []
    assert inh.mutes(both_2.labels) == []
    source_only = alert(clock.now, severity="critical", team="y", cluster="c")
    source.put(source_only)
    assert inh.mutes(both_1.labels) == [source_only.fingerprint]
    target_only = {"severity": "warning", "team": "x", "cluster": "c"}
    assert inh.mutes(target_only) == sorted(
        [both_1.fingerprint, both_2.fingerprint, source_only.fingerprint]
    )


def test_legacy_rule_syntax() -> None:
    inh, source, clock = inhibitor(
        """
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_match: {alertname: NodeDown}
    target_match_re: {alertname: '.*'}
    equal: [instance]
"""
    )
    down = alert(clock.now, alertname="NodeDown", instance="n1")
    source.put(down)
    assert inh.mutes({"alertname": "DiskFull", "instance": "n1"}) == [down.fingerprint]
    assert inh.mutes({"alertname": "DiskFull", "instance": "n2"}) == []


def test_close_detaches() -> None:
    inh, source, clock = inhibitor()
    inh.close()
    source.put(alert(clock.now, alertname="X", service="a", severity="critical"))
    assert not inh.muted({"alertname": "X", "service": "a", "severity": "warning"})


def test_no_rules_no_subscription() -> None:
    clock, source = FakeClock(), FakeSource()
    inh = Inhibitor((), source, clock)
    assert source.callbacks == []
    assert inh.mutes({"a": "b"}) == []
