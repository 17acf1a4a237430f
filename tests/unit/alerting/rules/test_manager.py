"""The rule manager: schedule, tenants, reload keeping state, missed iterations, metrics."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observatory.alerting.model import Alert
from observatory.alerting.rules import QueryFunc, Sample, Vector
from observatory.alerting.rules.alerting import AlertingRule
from observatory.alerting.rules.manager import (
    PrometheusRuleMetrics,
    RuleManager,
    RuleManagerConfig,
    eval_slot_ms,
    sample_columns,
)
from observatory.errors import ConfigError
from observatory.query.promql.memory import InMemorySource
from tests.unit.alerting.rules.rules_support import FakeTime, fake_expand, no_check, query_over

START = 1_700_000_003.0  # seconds, not on a slot

DEFAULT_RULES = """
groups:
  - name: main
    interval: 10s
    rules:
      - record: one
        expr: vector(1)
      - alert: Always
        expr: vector(1) > 0
        labels:
          severity: {severity}
"""
TENANT_RULES = """
groups:
  - name: tenant
    interval: 20s
    rules:
      - record: two
        expr: vector(2)
"""


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.time = FakeTime(START)
        self.written: list[tuple[str, list[Sample]]] = []
        self.sent: list[tuple[str, list[Alert]]] = []
        self.registry = CollectorRegistry()
        self.slow_calls: set[int] = set()  # which query calls take 25 s
        self.calls = 0
        (root / "rules.yml").write_text(DEFAULT_RULES.format(severity="page"))
        (root / "tenants" / "acme").mkdir(parents=True)
        (root / "tenants" / "acme" / "acme.yml").write_text(TENANT_RULES)
        self.manager = RuleManager(
            RuleManagerConfig(
                rule_files=(str(root / "*.yml"),),
                rules_dir=root / "tenants",
                evaluation_interval_seconds=30,
            ),
            query_for=self.query_for,
            write=self.write,
            send=self.send,
            metrics=PrometheusRuleMetrics(self.registry),
            expand=fake_expand,
            check_template=no_check,
            clock=self.time,
            sleep=self.time.sleep,
        )

    def query_for(self, tenant: str) -> QueryFunc:
        inner = query_over(InMemorySource())

        def query(expr: str, time_ms: int) -> Vector:
            self.calls += 1
            if self.calls in self.slow_calls:
                self.time.now += 25  # an evaluation that overruns two slots
            return inner(expr, time_ms)

        return query

    async def write(self, tenant: str, samples: list[Sample]) -> None:
        self.written.append((tenant, samples))

    async def send(self, tenant: str, alerts: list[Alert]) -> None:
        self.sent.append((tenant, alerts))

    def names(self, tenant: str) -> list[list[str]]:
        return [sorted({s[0]["__name__"] for s in w}) for t, w in self.written if t == tenant]

    def metric(self, name: str, group: str) -> float | None:
        return self.registry.get_sample_value(name, {"rule_group": group})


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    yield h
    await h.manager.stop()


def _main_key(h: Harness) -> str:
    return f"{h.root / 'rules.yml'};main"


async def test_groups_run_per_tenant_at_their_slots(harness: Harness) -> None:
    h = harness
    await h.manager.start()
    assert h.manager.tenants() == ["acme", "default"]
    first = eval_slot_ms(_main_key(h), 10_000, round(START * 1000)) + 10_000
    await h.time.advance(first / 1000, sleepers=2)
    (samples,) = [w for t, w in h.written if t == "default"]
    # The evaluation runs at the slot's time, not at the time the task woke up.
    assert samples == [({"__name__": "one"}, first, 1.0)]
    assert (first - eval_slot_ms(_main_key(h), 10_000, 0)) % 10_000 == 0
    # Alerts are sent from the first evaluation; ALERTS waits for the `for` restore.
    ((tenant, (alert,)),) = h.sent
    assert tenant == "default"
    assert alert.labels == {"alertname": "Always", "severity": "page"}
    await h.time.advance(START + 60, sleepers=2)
    # Restored after the second evaluation: ALERTS from the third on.
    alerts = ["ALERTS", "ALERTS_FOR_STATE", "one"]
    assert h.names("default")[:4] == [["one"], ["one"], alerts, alerts]
    assert h.names("acme")[:2] == [["two"], ["two"]]
    (status,) = h.manager.groups("acme")
    assert (status.name, status.interval_seconds) == ("tenant", 20.0)
    assert h.manager.groups("nobody") == []


async def test_self_metrics_count_evaluations(harness: Harness) -> None:
    h = harness
    await h.manager.start()
    key = _main_key(h)
    assert h.metric("observatory_rule_evaluations_total", key) == 0
    await h.time.advance(START + 30, sleepers=2)
    assert h.metric("observatory_rule_group_iterations_total", key) == 3
    assert h.metric("observatory_rule_evaluations_total", key) == 6  # two rules, three times
    assert h.metric("observatory_rule_evaluation_failures_total", key) == 0
    assert h.metric("observatory_rule_group_last_duration_seconds", key) == 0.0
    count = h.registry.get_sample_value("observatory_rule_evaluation_duration_seconds_count")
    assert count is not None and count >= 6


async def test_an_overrunning_evaluation_skips_slots_and_counts_them(harness: Harness) -> None:
    h = harness
    (h.root / "tenants" / "acme" / "acme.yml").unlink()
    h.slow_calls = {3}  # the first query of the second evaluation
    await h.manager.start()
    key = _main_key(h)
    first = eval_slot_ms(key, 10_000, round(START * 1000)) + 10_000
    await h.time.advance(first / 1000 + 10, sleepers=1)
    # Second evaluation at +10s ran to +35s: the +20s slot was missed, +30s ran at once.
    stamps = [w[0][1] - first for t, w in h.written if t == "default"]
    assert stamps == [0, 10_000, 30_000]
    assert h.metric("observatory_rule_group_iterations_missed_total", key) == 1
    assert h.metric("observatory_rule_group_iterations_total", key) == 4
    await h.time.advance(first / 1000 + 40, sleepers=1)
    assert [w[0][1] - first for t, w in h.written][-1] == 40_000


async def test_reload_keeps_unchanged_groups_and_alert_state(harness: Harness) -> None:
    h = harness
    await h.manager.start()
    await h.time.advance(START + 30, sleepers=2)
    running = dict(h.manager._running)
    acme = running[("acme", f"{h.root / 'tenants/acme/acme.yml'};tenant")]
    before = _always(h)
    (h.root / "rules.yml").write_text(DEFAULT_RULES.format(severity="page") + "\n# edited\n")
    await h.manager.reload()
    assert h.manager._running[("acme", acme.group.key)] is acme  # unchanged: same task
    # An unchanged spec keeps running even though the file was rewritten.
    assert h.manager._running[("default", _main_key(h))].group is before[0]
    (h.root / "rules.yml").write_text(DEFAULT_RULES.format(severity="page").replace("10s", "15s"))
    await h.manager.reload()
    changed = h.manager._running[("default", _main_key(h))].group
    assert changed is not before[0]
    (alert,) = _rule(changed).active.values()
    assert alert.active_at_ms == before[1]  # the alert carried over
    assert h.manager.last_reload_successful


async def test_a_broken_file_keeps_the_running_rules(harness: Harness) -> None:
    h = harness
    await h.manager.start()
    before = dict(h.manager._running)
    (h.root / "tenants" / "acme" / "acme.yml").write_text("groups:\n  - name: x\n    rules: 5\n")
    (h.root / "rules.yml").write_text(DEFAULT_RULES.format(severity="ticket"))
    with pytest.raises(ConfigError, match="previous rule set restored") as caught:
        await h.manager.reload()
    assert "'rules' must be a list" in caught.value.message
    assert not h.manager.last_reload_successful
    assert "acme.yml" in h.manager.last_reload_error
    # The broken tenant keeps its rules; the other tenant's change is applied.
    acme = [k for k in before if k[0] == "acme"]
    assert [k for k in h.manager._running if k[0] == "acme"] == acme
    assert h.manager._running[acme[0]] is before[acme[0]]
    main = h.manager._running[("default", _main_key(h))].group
    assert dict(main.spec.rules[1].labels) == {"severity": "ticket"}


async def test_removed_groups_stop_with_stale_markers(harness: Harness) -> None:
    h = harness
    await h.manager.start()
    await h.time.advance(START + 45, sleepers=2)
    shutil.rmtree(h.root / "tenants" / "acme")
    h.written.clear()
    await h.manager.reload()
    assert h.manager.tenants() == ["default"]
    ((tenant, samples),) = h.written
    assert tenant == "acme"
    assert [s[0] for s in samples] == [{"__name__": "two"}]
    key = f"{h.root / 'tenants/acme/acme.yml'};tenant"
    assert h.metric("observatory_rule_evaluations_total", key) is None


async def test_start_refuses_broken_files(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    (tmp_path / "rules.yml").write_text("groups:\n  - name: ''\n    rules: []\n")
    with pytest.raises(ConfigError, match="Groupname must not be empty"):
        await h.manager.start()
    assert h.manager.tenants() == []
    # Not strict: the tenants whose files load run, the error is kept for the operator.
    await h.manager.start(strict=False)
    assert h.manager.tenants() == ["acme"]
    assert not h.manager.last_reload_successful
    assert "Groupname must not be empty" in h.manager.last_reload_error
    await h.manager.stop()


async def test_a_named_rule_file_must_exist(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.manager.config = RuleManagerConfig(rule_files=(str(tmp_path / "nope.yml"),))
    with pytest.raises(ConfigError, match=r"nope\.yml: rule file not found"):
        await h.manager.start()


def _rule(group: object) -> AlertingRule:
    rule = group.rules[1]  # type: ignore[attr-defined]
    assert isinstance(rule, AlertingRule)
    return rule


def _always(h: Harness) -> tuple[object, int]:
    group = h.manager._running[("default", _main_key(h))].group
    (alert,) = _rule(group).active.values()
    return group, alert.active_at_ms


def test_samples_become_a_metric_batch() -> None:
    columns = sample_columns(
        "acme",
        [
            ({"__name__": "ALERTS", "alertname": "A", "alertstate": "firing"}, 1000, 1.0),
            ({"__name__": "one"}, 1000, 1.0),
        ],
    )
    assert columns.samples == 2
    series = columns.tables()["series"].to_pylist()
    assert sorted((row["metric_name"], row["tenant"], row["labels"]) for row in series) == [
        ("ALERTS", "acme", [("alertname", "A"), ("alertstate", "firing")]),
        ("one", "acme", []),
    ]
