"""The dispatcher with the real pipeline and notification log, on a fake clock."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from observatory.alerting.alertmanager.config import load_config
from observatory.alerting.alertmanager.dispatcher import Dispatcher, Notification, sort_alerts
from observatory.alerting.alertmanager.inhibit import Inhibitor
from observatory.alerting.alertmanager.nflog import NotificationLog
from observatory.alerting.alertmanager.notifiers import HttpSender, build_integrations
from observatory.alerting.alertmanager.notifiers.base import Integration
from observatory.alerting.alertmanager.notifiers.pipeline import NotificationPipeline
from observatory.alerting.alertmanager.routing import Route
from observatory.alerting.model import Alert
from tests.unit.alerting.alertmanager.core_fakes import FakeClock, FakeSource, alert, make_alert

CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers: [{name: team}]
"""


@dataclass
class Sent:
    notification: Notification
    alerts: list[Alert]

    @property
    def names(self) -> list[str]:
        return sorted(a.labels.get("instance", "") for a in self.alerts)

    def statuses(self) -> dict[str, str]:
        now = self.notification.now
        return {
            a.labels.get("instance", ""): "resolved" if a.resolved(now) else "firing"
            for a in self.alerts
        }


@dataclass
class Recorder:
    """A stand-in integration that records what it would send."""

    send_resolved: bool = True
    name: str = "webhook"
    index: int = 0
    fail: bool = False
    sent: list[Sent] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    async def notify(self, notification: Notification, alerts: Sequence[Alert]) -> bool:
        self.sent.append(Sent(notification, list(alerts)))
        self.delivered.set()
        return not self.fail


class Harness:
    def __init__(
        self,
        config: str = CONFIG,
        send_resolved: bool = True,
        nflog_path: Path | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.source = FakeSource()
        self.muted: set[str] = set()
        parsed = load_config(config, "am.yml")
        self.recorders = {r.name: Recorder(send_resolved=send_resolved) for r in parsed.receivers}
        integrations: dict[str, list[Integration]] = {
            name: [rec] for name, rec in self.recorders.items()
        }
        self.nflog = NotificationLog(nflog_path, self.clock)
        self.dispatcher = Dispatcher(
            Route.from_config(parsed.route),
            self.source,
            lambda labels: labels.get("instance", "") in self.muted,
            NotificationPipeline(integrations, self.nflog),
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    @property
    def sent(self) -> list[Sent]:
        return self.recorders["team"].sent

    def fire(self, *instances: str, alertname: str = "HighLatency", **labels: str) -> None:
        self.source.put(
            *(
                make_alert(self.clock.now, {"alertname": alertname, "instance": i, **labels})
                for i in instances
            )
        )

    def resolve(self, *instances: str, alertname: str = "HighLatency") -> None:
        self.source.put(
            *(
                alert(self.clock.now, alertname=alertname, instance=i, resolved=True)
                for i in instances
            )
        )

    async def run_until(self, offset: float, start: float = FakeClock().now) -> None:
        """Flushes every group that comes due up to `start + offset`, in time order."""
        end = start + offset
        while (due := self.dispatcher.next_due()) is not None and due <= end:
            self.clock.now = max(self.clock.now, due)
            await self.dispatcher.run_due()
        self.clock.now = end


T0 = FakeClock().now


async def test_burst_gives_one_notification_after_group_wait() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire(*(f"i{n}" for n in range(10)))
    await h.run_until(29)
    assert h.sent == []
    await h.run_until(30)
    assert len(h.sent) == 1
    assert h.sent[0].names == sorted(f"i{n}" for n in range(10))
    note = h.sent[0].notification
    assert note.group_key == '{}:{alertname="HighLatency"}'
    assert note.group_labels == {"alertname": "HighLatency"}
    assert note.receiver == "team"
    # Firing alerts are notified without an end, as Alertmanager does.
    assert all(a.ends_at == 0 for a in h.sent[0].alerts)


async def test_new_alert_waits_for_group_interval_then_repeat_interval() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire("a")
    await h.run_until(30)
    assert len(h.sent) == 1
    h.clock.now = T0 + 100
    h.fire("b")
    await h.run_until(329)
    assert len(h.sent) == 1
    await h.run_until(330)
    assert len(h.sent) == 2 and h.sent[1].names == ["a", "b"]
    # Nothing new: flushes every 5 minutes send nothing until 4 h after the last notification
    # (strictly later, so the first flush past 330 + 14400).
    keep = ["a", "b"]
    for tick in range(630, 14_731, 300):
        h.clock.now = T0 + tick - 1
        h.fire(*keep)  # the rule evaluator keeps re-sending firing alerts
        await h.run_until(tick)
    assert len(h.sent) == 2
    h.fire(*keep)
    await h.run_until(15_030)
    assert len(h.sent) == 3 and h.sent[2].names == ["a", "b"]


async def test_resolved_notification_then_group_removed() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire("a", "b")
    await h.run_until(30)
    h.clock.now = T0 + 200
    h.resolve("a")
    await h.run_until(330)
    assert len(h.sent) == 2
    assert h.sent[1].statuses() == {"a": "resolved", "b": "firing"}
    resolved = next(x for x in h.sent[1].alerts if x.labels["instance"] == "a")
    assert resolved.ends_at == T0 + 200
    # The resolved alert left the group after being notified.
    assert [a.labels["instance"] for a in h.dispatcher.groups()[0].alerts] == ["b"]
    h.clock.now = T0 + 400
    h.fire("b")
    h.resolve("b")
    await h.run_until(630)
    assert len(h.sent) == 3 and h.sent[2].statuses() == {"b": "resolved"}
    assert h.dispatcher.groups() == []
    assert h.dispatcher.next_due() is None


async def test_without_send_resolved_only_the_all_resolved_state_is_logged() -> None:
    h = Harness(send_resolved=False)
    h.dispatcher.connect()
    h.fire("a", "b")
    await h.run_until(30)
    h.clock.now = T0 + 100
    h.fire("b")
    h.resolve("a")
    await h.run_until(330)
    assert len(h.sent) == 1  # a resolved alert alone is no reason to notify
    h.clock.now = T0 + 400
    h.resolve("b")
    await h.run_until(630)
    assert len(h.sent) == 1  # all resolved: logged, but nothing sent to this integration
    entry = h.nflog.query("team/webhook/0", '{}:{alertname="HighLatency"}')
    assert entry is not None and entry.firing == frozenset()
    assert h.dispatcher.groups() == []


async def test_muted_alerts_are_left_out() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.muted = {"b"}
    h.fire("a", "b")
    await h.run_until(30)
    assert h.sent[0].names == ["a"]
    h.muted = {"a", "b"}
    h.clock.now = T0 + 100
    h.fire("c")
    h.muted.add("c")
    await h.run_until(330)
    assert len(h.sent) == 1  # everything muted: nothing sent
    # When the silence ends, the alert that was never notified is new: sent at once.
    h.muted = set()
    await h.run_until(630)
    assert len(h.sent) == 2 and h.sent[1].names == ["a", "b", "c"]


async def test_groups_split_by_group_by_labels() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire("a", alertname="HighLatency")
    h.fire("a", alertname="Errors")
    await h.run_until(30)
    keys = sorted(s.notification.group_key for s in h.sent)
    assert keys == ['{}:{alertname="Errors"}', '{}:{alertname="HighLatency"}']


async def test_old_alert_is_flushed_without_group_wait() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.source.put(alert(T0, starts_at=T0 - 3600, alertname="X", instance="a"))
    assert await h.dispatcher.run_due() == 1
    assert len(h.sent) == 1


async def test_failed_notification_is_retried_at_next_flush() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.recorders["team"].fail = True
    h.fire("a")
    await h.run_until(30)
    assert len(h.sent) == 1
    assert h.nflog.entries() == []  # nothing recorded for a failed send
    h.recorders["team"].fail = False
    h.fire("a")
    await h.run_until(330)
    assert len(h.sent) == 2 and len(h.nflog.entries()) == 1


async def test_resolved_alert_kept_until_notified_successfully() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire("a")
    await h.run_until(30)
    h.recorders["team"].fail = True
    h.resolve("a")
    await h.run_until(330)
    assert len(h.dispatcher.groups()) == 1
    h.recorders["team"].fail = False
    await h.run_until(630)
    assert h.sent[-1].statuses() == {"a": "resolved"}
    assert h.dispatcher.groups() == []


async def test_restart_does_not_repeat_within_repeat_interval(tmp_path: Path) -> None:
    path = tmp_path / "nflog.json"
    first = Harness(nflog_path=path)
    first.dispatcher.connect()
    first.fire("a", "b")
    await first.run_until(30)
    assert len(first.sent) == 1
    await first.dispatcher.stop()
    # "kill -9" and start again: new objects, same file; the sender re-sends its alerts.
    clock = FakeClock(T0 + 600)
    second = Harness(nflog_path=path, clock=clock)
    second.dispatcher.connect()
    second.source.put(
        *(alert(clock.now, starts_at=T0, alertname="HighLatency", instance=i) for i in "ab")
    )
    assert await second.dispatcher.run_due() == 1  # flushed at once: they are old alerts
    assert second.sent == []
    # A new alert in the group is still news.
    second.fire("c")
    await second.run_until(600 + 300)
    assert len(second.sent) == 1 and second.sent[0].names == ["a", "b", "c"]


async def test_continue_sends_to_every_matching_route() -> None:
    h = Harness(
        """
route:
  receiver: team
  group_by: [alertname]
  routes:
    - {matchers: [severity="critical"], receiver: pager, continue: true}
    - {matchers: [severity=~"critical|warning"], receiver: chat}
receivers: [{name: team}, {name: pager}, {name: chat}]
"""
    )
    h.dispatcher.connect()
    h.fire("a", severity="critical")
    h.fire("b", alertname="Other", severity="info")
    await h.run_until(30)
    assert [len(h.recorders[r].sent) for r in ("pager", "chat", "team")] == [1, 1, 1]
    assert h.recorders["pager"].sent[0].notification.group_key == (
        '{}/{severity="critical"}:{alertname="HighLatency"}'
    )


async def test_alerts_present_at_connect_are_dispatched() -> None:
    h = Harness()
    h.source.alerts = {a.fingerprint: a for a in [alert(T0, alertname="X", instance="a")]}
    h.dispatcher.connect()
    await h.run_until(30)
    assert len(h.sent) == 1


async def test_groups_view() -> None:
    h = Harness()
    h.dispatcher.connect()
    h.fire("b", "a")
    (group,) = h.dispatcher.groups()
    assert group.labels == {"alertname": "HighLatency"}
    assert group.receiver == "team"
    assert group.group_key == '{}:{alertname="HighLatency"}'
    assert [a.labels["instance"] for a in group.alerts] == ["a", "b"]


async def test_start_runs_the_loop_and_stop_ends_it() -> None:
    clock = FakeClock(time.time())
    h = Harness(CONFIG.replace("group_wait: 30s", "group_wait: 0s"), clock=clock)
    h.dispatcher = Dispatcher(
        h.dispatcher.route,
        h.source,
        lambda labels: False,
        NotificationPipeline({"team": [h.recorders["team"]]}, h.nflog),
    )
    h.dispatcher.start()
    h.fire("a")
    await asyncio.wait_for(h.recorders["team"].delivered.wait(), timeout=5)
    assert len(h.sent) == 1
    await h.dispatcher.stop()
    h.fire("z", alertname="Later")
    await asyncio.sleep(0.01)
    assert len(h.sent) == 1  # stopped: later alerts are ignored


def test_sort_alerts_like_alertmanager() -> None:
    unsorted = [
        alert(T0, alertname="A", instance="2"),
        alert(T0, alertname="A"),
        alert(T0, alertname="A", job="b", instance="1"),
        alert(T0, alertname="A", job="a", instance="9"),
        alert(T0, alertname="A", instance="1"),
    ]
    ordered = [(a.labels.get("job"), a.labels.get("instance")) for a in sort_alerts(unsorted)]
    assert ordered == [("a", "9"), ("b", "1"), (None, "1"), (None, "2"), (None, None)]


def test_notification_deadline_is_at_least_ten_seconds() -> None:
    note = Notification("r", "k", {}, (), 100.0, group_interval=1.0, repeat_interval=60.0)
    assert note.deadline == 110.0
    assert replace(note, group_interval=300.0).deadline == 400.0


async def test_wired_like_the_app_inhibition_and_webhook_payload() -> None:
    """Inhibitor + dispatcher + pipeline + webhook over an HTTP transport, as the app wires
    them: a warning inhibited by a critical alert of the same alertname and service is not
    sent; the critical one arrives as Alertmanager's webhook JSON."""
    config = load_config(
        """
route:
  receiver: hook
  group_by: [alertname, service]
receivers:
  - name: hook
    webhook_configs: [{url: 'http://hook.test/alerts'}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, service]
""",
        "am.yml",
    )
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200)

    clock, source = FakeClock(), FakeSource()
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    sender = HttpSender(client, clock=clock, sleep=clock.sleep)
    inhibitor = Inhibitor(config.inhibit_rules, source, clock)
    dispatcher = Dispatcher(
        Route.from_config(config.route),
        source,
        inhibitor.muted,
        NotificationPipeline(
            build_integrations(config, sender, "http://obs:3300"), NotificationLog(None, clock)
        ),
        clock=clock,
        sleep=clock.sleep,
    )
    dispatcher.connect()
    source.put(
        alert(clock.now, alertname="Latency", service="api", severity="critical", instance="1"),
        alert(clock.now, alertname="Latency", service="api", severity="warning", instance="2"),
    )
    clock.advance(30)
    await dispatcher.run_due()
    (body,) = bodies
    assert body["groupKey"] == '{}:{alertname="Latency", service="api"}'
    assert body["receiver"] == "hook" and body["status"] == "firing"
    assert [a["labels"]["severity"] for a in body["alerts"]] == ["critical"]
    await client.aclose()
