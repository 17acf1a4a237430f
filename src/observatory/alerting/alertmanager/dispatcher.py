"""The dispatcher: sorts alerts into aggregation groups and flushes each group on its timers.

Every alert goes to the routes it matches; on each, alerts with the same group labels form
one aggregation group. A new group is flushed after `group_wait` (at once if its first alert
started longer ago than that), then every `group_interval`. A flush takes the group's alerts
as they are now, drops those `muted` says are silenced or inhibited, and hands the rest to
`notify` (the notification pipeline: dedup against the notification log, send, record).
When that succeeds, resolved alerts leave the group unless they changed meanwhile; an empty
group is removed, so a new alert later starts a new group with a new `group_wait`.

One task (`run`) sleeps until the next group is due; each flush runs in its own task, so a
slow receiver retrying delays only its own group. Time comes from `clock` and waiting from
`sleep`, both injectable; tests drive flushes with `run_due()` instead of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from observatory.alerting.alertmanager.routing import Route, format_label_set
from observatory.alerting.model import Alert

MAINTENANCE_INTERVAL = 30.0
# Alertmanager gives a flush until the next one, but never less than this, to finish.
MIN_FLUSH_TIMEOUT = 10.0

log = logging.getLogger(__name__)


class AlertSource(Protocol):
    """Where alerts come from (the alert store)."""

    def all(self) -> list[Alert]: ...

    def subscribe(self, callback: Callable[[list[Alert]], None]) -> None:
        """`callback` gets the alerts as they are put (merged), from any thread."""


@dataclass(frozen=True)
class Notification:
    """One flush of one group, for one receiver.

    `alerts` are copies as notified: sorted as Alertmanager sorts them, firing ones with
    `ends_at` unset (0), resolved ones with their end; muted alerts are already left out.
    """

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[Alert, ...]
    now: float
    group_interval: float
    repeat_interval: float
    route_id: str = ""

    @property
    def deadline(self) -> float:
        """When retries must give up: at the group's next flush (at least 10 s away)."""
        return self.now + max(self.group_interval, MIN_FLUSH_TIMEOUT)

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if not a.resolved(self.now)]

    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.resolved(self.now)]


Notify = Callable[[Notification], Awaitable[bool]]
Muted = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class AlertGroupView:
    """A group as the API shows it (`/api/v2/alerts/groups`)."""

    labels: dict[str, str]
    receiver: str
    group_key: str
    route_id: str
    alerts: list[Alert]


@dataclass
class AggregationGroup:
    route: Route
    labels: dict[str, str]
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    has_flushed: bool = False
    flushing: bool = False

    @property
    def key(self) -> str:
        return f"{self.route.key()}:{format_label_set(self.labels)}"

    def insert(self, alert: Alert, now: float) -> None:
        self.alerts[alert.fingerprint] = alert
        # An alert that has waited out group_wait already (e.g. after a restart) is not
        # held back for another one.
        if not self.has_flushed and alert.starts_at + self.route.opts.group_wait < now:
            self.next_flush = min(self.next_flush, now)

    def due(self, now: float) -> bool:
        return not self.flushing and bool(self.alerts) and self.next_flush <= now

    def begin_flush(self, now: float) -> list[Alert]:
        self.flushing = True
        self.has_flushed = True
        self.next_flush = now + self.route.opts.group_interval
        return list(self.alerts.values())

    def end_flush(self, notified_resolved: list[Alert]) -> None:
        """Drops the resolved alerts just notified, unless they were updated meanwhile."""
        for sent in notified_resolved:
            current = self.alerts.get(sent.fingerprint)
            if current is not None and _unchanged(current, sent):
                del self.alerts[sent.fingerprint]
        self.flushing = False


def _unchanged(current: Alert, sent: Alert) -> bool:
    return (current.updated_at, current.ends_at, current.starts_at) == (
        sent.updated_at,
        sent.ends_at,
        sent.starts_at,
    )


class Dispatcher:
    def __init__(
        self,
        route: Route,
        alerts: AlertSource,
        muted: Muted,
        notify: Notify,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.route = route
        self._source = alerts
        self._muted = muted
        self._notify = notify
        self._clock = clock
        self._sleep = sleep
        self._groups: dict[tuple[str, str], AggregationGroup] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._connected = False
        self._stopped = False

    def connect(self) -> None:
        """Takes the source's current alerts and subscribes to new ones (call in the loop)."""
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._connected = True
        self.ingest(self._source.all())
        self._source.subscribe(self._on_alerts)

    def start(self) -> None:
        """Connects and starts the flush loop; call from the running event loop."""
        self.connect()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stops the loop and cancels flushes in flight; later alerts are ignored."""
        self._stopped = True
        tasks = [t for t in (self._task, *self._flushes) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    def ingest(self, alerts: list[Alert]) -> None:
        """Puts alerts into their groups (what the subscription does for each put)."""
        now = self._clock()
        with self._lock:
            for alert in alerts:
                for route in self.route.match(alert.labels):
                    self._insert(route, alert, now)
        self._poke()

    async def run(self) -> None:
        """Flushes groups as they come due, until cancelled."""
        while True:
            if self._wake is not None:
                self._wake.clear()
            self._launch_due()
            await self._wait(self._next_delay())

    async def run_due(self) -> int:
        """Flushes every group due now and waits for those flushes; returns their number."""
        tasks = self._launch_due()
        await asyncio.gather(*tasks)
        return len(tasks)

    def next_due(self) -> float | None:
        """When the earliest group is due (None: no group has alerts)."""
        with self._lock:
            times = [g.next_flush for g in self._groups.values() if g.alerts and not g.flushing]
        return min(times, default=None)

    def groups(self) -> list[AlertGroupView]:
        with self._lock:
            views = [
                AlertGroupView(
                    labels=dict(g.labels),
                    receiver=g.route.opts.receiver,
                    group_key=g.key,
                    route_id=g.route.id(),
                    alerts=sort_alerts(g.alerts.values()),
                )
                for g in self._groups.values()
            ]
        return sorted(views, key=lambda v: (format_label_set(v.labels), v.receiver))

    def _on_alerts(self, alerts: list[Alert]) -> None:
        if not self._stopped:
            self.ingest(alerts)

    def _insert(self, route: Route, alert: Alert, now: float) -> None:
        labels = route.group_labels(alert.labels)
        key = (route.id(), format_label_set(labels))
        group = self._groups.get(key)
        if group is None:
            group = AggregationGroup(route, labels, now + route.opts.group_wait)
            self._groups[key] = group
        group.insert(alert, now)

    def _launch_due(self) -> list[asyncio.Task[None]]:
        now = self._clock()
        with self._lock:
            due = [(g, g.begin_flush(now)) for g in self._groups.values() if g.due(now)]
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._flush(g, alerts, now)) for g, alerts in due]
        for task in tasks:
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        return tasks

    async def _flush(self, group: AggregationGroup, alerts: list[Alert], now: float) -> None:
        resolved = [a for a in alerts if a.resolved(now)]
        ok = False
        try:
            ok = await self._deliver(group, alerts, now)
        except Exception:
            log.exception("notifying group %s failed", group.key)
        finally:
            with self._lock:
                group.end_flush(resolved if ok else [])
                self._drop_if_empty(group)
            self._poke()

    async def _deliver(self, group: AggregationGroup, alerts: list[Alert], now: float) -> bool:
        notified = [as_notified(a, now) for a in sort_alerts(alerts)]
        visible = tuple(a for a in notified if not self._muted(a.labels))
        if not visible:
            return True  # all muted: nothing to send, which counts as done (as in AM)
        opts = group.route.opts
        notification = Notification(
            receiver=opts.receiver,
            group_key=group.key,
            group_labels=dict(group.labels),
            alerts=visible,
            now=now,
            group_interval=opts.group_interval,
            repeat_interval=opts.repeat_interval,
            route_id=group.route.id(),
        )
        return await self._notify(notification)

    def _drop_if_empty(self, group: AggregationGroup) -> None:
        if group.alerts or group.flushing:
            return
        key = (group.route.id(), format_label_set(group.labels))
        if self._groups.get(key) is group:
            del self._groups[key]

    def _next_delay(self) -> float:
        due = self.next_due()
        if due is None:
            return MAINTENANCE_INTERVAL
        return min(max(due - self._clock(), 0.0), MAINTENANCE_INTERVAL)

    async def _wait(self, delay: float) -> None:
        """Sleeps `delay` seconds or until woken by new alerts or a finished flush."""
        assert self._wake is not None
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)


def as_notified(alert: Alert, now: float) -> Alert:
    """A copy as sent: a firing alert's end is unset so that it does not resolve while the
    notification is on its way (Alertmanager does the same)."""
    ends_at = alert.ends_at if alert.resolved(now) else 0.0
    return replace(
        alert, labels=dict(alert.labels), annotations=dict(alert.annotations), ends_at=ends_at
    )


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Alertmanager's order: by `job`, then `instance` (alerts without one last), then by
    the label sets."""
    return sorted(alerts, key=functools.cmp_to_key(_compare))


def _compare(a: Alert, b: Alert) -> int:
    for name in ("job", "instance"):
        left, right = a.labels.get(name), b.labels.get(name)
        if left is None and right is None:
            continue
        if left is None or right is None:
            return 1 if left is None else -1
        if left != right:
            return -1 if left < right else 1
    return _compare_label_sets(a.labels, b.labels)


def _compare_label_sets(a: Mapping[str, str], b: Mapping[str, str]) -> int:
    """Go's `LabelSet.Before`: fewer labels first, then name by name."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for name in sorted({*a, *b}):
        if name not in a:
            return -1
        if name not in b:
            return 1
        if a[name] != b[name]:
            return -1 if a[name] < b[name] else 1
    return 0
