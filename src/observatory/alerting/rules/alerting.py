"""Alerting rules: Prometheus's alert state machine, its series, and `for` state restore.

Each sample of the expression's result is an alert identified by its labels: the sample's
labels without `__name__`, the rule's labels expanded as templates over them, and `alertname`.
A new alert is pending; once it has been active for `for` it fires. When the expression stops
returning it, a pending alert is dropped and a firing one goes inactive (resolved), unless
`keep_firing_for` holds it up; a resolved alert is kept 15 minutes so its resolution is sent
again and again, as Prometheus does against lost notifications.

Every evaluation writes `ALERTS{alertstate=...} 1` and `ALERTS_FOR_STATE <active since>` for
each pending and firing alert, but only once the rule's `for` state has been restored after a
start: writing them earlier would overwrite the very series the restore reads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import partial

from observatory.alerting.rules import (
    EvalContext,
    LabelKey,
    QueryFunc,
    RuleEvaluationError,
    RuleRun,
    Sample,
    label_key,
)
from observatory.alerting.rules.loader import RuleSpec
from observatory.query.promql.source import LabelMatcher, SeriesSource

ALERTS = "ALERTS"
ALERTS_FOR_STATE = "ALERTS_FOR_STATE"
RESOLVED_RETENTION_MS = 15 * 60_000
DUPLICATE_ALERT_LABELSET = (
    "vector contains metrics with the same labelset after applying alert labels"
)
# (alertname, start_ms, end_ms) -> per ALERTS_FOR_STATE series (labels without __name__):
# the time and value of its last sample in the window, a stale marker included.
ForStateLookup = Callable[[str, int, int], dict[LabelKey, tuple[int, float]]]


class AlertState(IntEnum):
    UNKNOWN = 0  # the rule has not been evaluated yet
    INACTIVE = 1
    PENDING = 2
    FIRING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass
class ActiveAlert:
    """One alert of a rule; times are evaluation timestamps in ms, None when not set."""

    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    active_at_ms: int
    state: AlertState = AlertState.PENDING
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    last_sent_at_ms: int | None = None
    valid_until_ms: int | None = None
    keep_firing_since_ms: int | None = None

    def needs_sending(self, ts_ms: int, resend_delay_ms: int) -> bool:
        if self.state is AlertState.PENDING:
            return False
        if self.last_sent_at_ms is None:
            return True
        # Resolved since it was last sent: send the resolution now.
        if self.resolved_at_ms is not None and self.resolved_at_ms > self.last_sent_at_ms:
            return True
        return self.last_sent_at_ms + resend_delay_ms < ts_ms


class AlertingRule:
    def __init__(self, spec: RuleSpec, *, restored: bool = True) -> None:
        self.spec = spec
        self.run = RuleRun()
        # False until the `for` state of a fresh start has been restored from ALERTS_FOR_STATE.
        self.restored = restored
        self.active: dict[LabelKey, ActiveAlert] = {}
        # Evaluation runs in a worker thread while the API reads the alerts.
        self._lock = threading.Lock()

    def eval(self, ts_ms: int, ctx: EvalContext) -> list[Sample]:
        vector = ctx.query(self.spec.expr, ts_ms - ctx.query_offset_ms)
        fresh: dict[LabelKey, ActiveAlert] = {}
        for labels, value in vector:
            alert = self._alert(labels, value, ts_ms, ctx)
            key = label_key(alert.labels)
            if key in fresh:
                raise RuleEvaluationError(DUPLICATE_ALERT_LABELSET)
            fresh[key] = alert
        with self._lock:
            for key, alert in fresh.items():
                self._merge(key, alert)
            samples, live = self._advance(ts_ms, fresh, ts_ms - ctx.query_offset_ms)
            if 0 < ctx.limit < live:
                self.active = {}
                raise RuleEvaluationError(f"exceeded limit of {ctx.limit} with {live} alerts")
        return samples

    def _alert(
        self, labels: dict[str, str], value: float, ts_ms: int, ctx: EvalContext
    ) -> ActiveAlert:
        expand = partial(
            _expand_one,
            ctx=ctx,
            name=f"__alert_{self.spec.name}",
            labels=labels,
            value=value,
            ts_ms=ts_ms,
        )
        alert_labels = {k: v for k, v in labels.items() if k != "__name__"}
        for name, text in self.spec.labels:
            expanded = expand(text)
            if expanded:
                alert_labels[name] = expanded
            else:
                alert_labels.pop(name, None)
        alert_labels["alertname"] = self.spec.name
        annotations = {name: expand(text) for name, text in self.spec.annotations}
        return ActiveAlert(alert_labels, annotations, value, ts_ms)

    def _merge(self, key: LabelKey, alert: ActiveAlert) -> None:
        known = self.active.get(key)
        if known is not None and known.state is not AlertState.INACTIVE:
            known.value = alert.value
            known.annotations = alert.annotations
        else:
            self.active[key] = alert

    def _advance(
        self, ts_ms: int, fresh: dict[LabelKey, ActiveAlert], sample_ms: int
    ) -> tuple[list[Sample], int]:
        """Moves every alert on one step; the samples to write and the pending+firing count."""
        samples: list[Sample] = []
        live = 0
        for key, alert in list(self.active.items()):
            if key not in fresh and not self._still_firing(key, alert, ts_ms):
                continue
            if key in fresh:
                alert.keep_firing_since_ms = None
            live += 1
            if alert.state is AlertState.PENDING and ts_ms - alert.active_at_ms >= self.spec.for_ms:
                alert.state = AlertState.FIRING
                alert.fired_at_ms = ts_ms
            if self.restored:
                samples += self._series(alert, sample_ms)
        return samples, live

    def _still_firing(self, key: LabelKey, alert: ActiveAlert, ts_ms: int) -> bool:
        """For an alert the expression no longer returns: whether keep_firing_for holds it."""
        keep = False
        if alert.state is AlertState.FIRING and self.spec.keep_firing_for_ms > 0:
            if alert.keep_firing_since_ms is None:
                alert.keep_firing_since_ms = ts_ms
            keep = ts_ms - alert.keep_firing_since_ms < self.spec.keep_firing_for_ms
        expired = (
            alert.resolved_at_ms is not None
            and ts_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS
        )
        if alert.state is AlertState.PENDING or expired:
            del self.active[key]
        if alert.state is not AlertState.INACTIVE and not keep:
            alert.state = AlertState.INACTIVE
            alert.resolved_at_ms = ts_ms
        return keep

    def _series(self, alert: ActiveAlert, at_ms: int) -> list[Sample]:
        # Based on the rule's own labels (unexpanded) as Prometheus does, then the alert's.
        base = {**dict(self.spec.labels), **alert.labels, "alertname": self.spec.name}
        alerts = {**base, "__name__": ALERTS, "alertstate": alert.state.label}
        for_state = {**base, "__name__": ALERTS_FOR_STATE}
        return [(alerts, at_ms, 1.0), (for_state, at_ms, float(alert.active_at_ms // 1000))]

    def alerts_to_send(
        self, ts_ms: int, resend_delay_ms: int, interval_ms: int
    ) -> list[ActiveAlert]:
        """Copies of the alerts due for (re)sending, marked as sent at `ts_ms`."""
        out: list[ActiveAlert] = []
        with self._lock:
            for alert in self.active.values():
                if alert.needs_sending(ts_ms, resend_delay_ms):
                    alert.last_sent_at_ms = ts_ms
                    # Valid long enough to survive two lost evaluations or sends.
                    alert.valid_until_ms = ts_ms + 4 * max(interval_ms, resend_delay_ms)
                    out.append(replace(alert, labels=dict(alert.labels)))
        return out

    def take_state(self, old: AlertingRule) -> None:
        """Adopts the alerts of the rule this one replaces in a reload (old one stopped)."""
        with old._lock, self._lock:
            self.active = old.active
            old.active = {}

    def state(self) -> AlertState:
        if self.run.last_evaluation is None:
            return AlertState.UNKNOWN
        with self._lock:
            return max((a.state for a in self.active.values()), default=AlertState.INACTIVE)

    def active_alerts(self) -> list[ActiveAlert]:
        """Copies of the pending and firing alerts (not the resolved ones kept for sending)."""
        with self._lock:
            return [replace(a) for a in self.active.values() if a.resolved_at_ms is None]

    def restore(self, now_ms: int, last: dict[LabelKey, tuple[int, float]], grace_ms: int) -> None:
        """Moves `active_at` of pending alerts as Prometheus does after a restart.

        The time spent pending before the outage counts; the outage itself does not; and an
        alert never fires sooner than `grace_ms` after the restart unless it was firing.
        """
        with self._lock:
            for key, alert in self.active.items():
                found = last.get(_without_name(key))
                # A stale marker (a NaN) last: the alert had stopped before the outage.
                if found is not None and math.isfinite(found[1]):
                    alert.active_at_ms = _restored_active_at(
                        found, now_ms, self.spec.for_ms, grace_ms
                    )
            self.restored = True


def _restored_active_at(last: tuple[int, float], now_ms: int, hold_ms: int, grace_ms: int) -> int:
    t_ms, value = last
    down_at = t_ms // 1000 * 1000
    active_at = int(value) * 1000
    remaining = hold_ms - (down_at - active_at)
    if remaining <= 0:  # it was firing when we went down: it fires again at once
        return active_at
    if remaining < grace_ms:
        return now_ms + grace_ms - hold_ms
    return active_at + (now_ms - down_at)


def _without_name(key: LabelKey) -> LabelKey:
    return tuple(pair for pair in key if pair[0] != "__name__")


def _expand_one(
    text: str,
    *,
    ctx: EvalContext,
    name: str,
    labels: dict[str, str],
    value: float,
    ts_ms: int,
) -> str:
    if "{{" not in text:  # nothing to expand: skip the template engine
        return text
    return ctx.expand(
        text,
        name=name,
        labels=labels,
        value=value,
        external_labels=ctx.external_labels,
        external_url=ctx.external_url,
        timestamp_ms=ts_ms,
        query=ctx.query,
    )


def for_state_from_source(source: SeriesSource) -> ForStateLookup:
    """The lookup over raw series, which sees stale markers (what Prometheus reads)."""

    def lookup(alertname: str, start_ms: int, end_ms: int) -> dict[LabelKey, tuple[int, float]]:
        matchers = [
            LabelMatcher("__name__", "=", ALERTS_FOR_STATE),
            LabelMatcher("alertname", "=", alertname),
        ]
        out: dict[LabelKey, tuple[int, float]] = {}
        for series in source.select(matchers, start_ms, end_ms):
            if len(series.timestamps):
                key = _without_name(label_key(series.labels))
                out[key] = (int(series.timestamps[-1]), float(series.values[-1]))
        return out

    return lookup


def for_state_from_query(query: QueryFunc) -> ForStateLookup:
    """The lookup through PromQL, for when no raw source is at hand.

    Range functions skip stale markers, so an alert that resolved before the outage and is
    active again after it is restored as if it had never stopped.
    """

    def lookup(alertname: str, start_ms: int, end_ms: int) -> dict[LabelKey, tuple[int, float]]:
        escaped = alertname.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        window = f'{ALERTS_FOR_STATE}{{alertname="{escaped}"}}[{max(1, end_ms - start_ms)}ms]'
        values = _by_key(query(f"last_over_time({window})", end_ms))
        times = _by_key(query(f"ts_of_last_over_time({window})", end_ms))
        return {
            key: (round(times[key] * 1000), value)
            for key, value in values.items()
            if key in times and math.isfinite(times[key])
        }

    return lookup


def _by_key(vector: list[tuple[dict[str, str], float]]) -> dict[LabelKey, float]:
    return {_without_name(label_key(labels)): value for labels, value in vector}
