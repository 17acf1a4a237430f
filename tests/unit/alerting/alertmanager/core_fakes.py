"""Test doubles for the Alertmanager core tests: a settable clock and an alert source."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from observatory.alerting.model import Alert


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """A sleep that only moves the clock: retries run instantly and deterministically."""
        self.slept.append(seconds)
        self.now += seconds


class FakeSource:
    """The alert store as the dispatcher and inhibitor see it."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.callbacks: list[Callable[[list[Alert]], None]] = []

    def all(self) -> list[Alert]:
        return list(self.alerts.values())

    def subscribe(self, callback: Callable[[list[Alert]], None]) -> None:
        self.callbacks.append(callback)

    def put(self, *alerts: Alert) -> None:
        for alert in alerts:
            self.alerts[alert.fingerprint] = alert
        for callback in self.callbacks:
            callback(list(alerts))


def alert(
    now: float,
    *,
    resolved: bool = False,
    annotations: dict[str, str] | None = None,
    starts_at: float | None = None,
    **labels: str,
) -> Alert:
    """An alert as the store holds it: a firing one ends 1000 s ahead (as if its sender set
    the end), long enough to stay firing over a group interval of 5 minutes."""
    return make_alert(now, labels, resolved=resolved, annotations=annotations, starts_at=starts_at)


def make_alert(
    now: float,
    labels: Mapping[str, str],
    *,
    resolved: bool = False,
    annotations: dict[str, str] | None = None,
    starts_at: float | None = None,
) -> Alert:
    return Alert(
        labels=dict(labels),
        annotations=annotations or {},
        starts_at=now if starts_at is None else starts_at,
        ends_at=now if resolved else now + 1000,
        generator_url="http://prometheus/graph?g0.expr=up",
        updated_at=now,
    )
