"""One rule group: its rules evaluated in order at one timestamp, and what that produced.

`evaluate(at_ms)` runs every rule and returns the samples to write (recording rules' series,
`ALERTS`, `ALERTS_FOR_STATE`, and stale markers for series a rule stopped producing, as
Prometheus writes them so a graph ends where the series ended) and the alerts due for sending.
A rule that fails is marked unhealthy with its error; the other rules still run. A recording
rule's output reaches later rules only through the store, as in Prometheus.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote_plus

from observatory.alerting.model import Alert
from observatory.alerting.rules import (
    EvalContext,
    ExpandFunc,
    LabelKey,
    QueryFunc,
    Sample,
    Vector,
    label_key,
)
from observatory.alerting.rules.alerting import (
    ActiveAlert,
    AlertingRule,
    ForStateLookup,
    for_state_from_query,
)
from observatory.alerting.rules.loader import GroupSpec, RuleSpec
from observatory.alerting.rules.recording import RecordingRule
from observatory.errors import ObservatoryError, QueryExecutionError
from observatory.query.promql.engine import PromqlEngine
from observatory.query.promql.source import STALE_NAN

log = logging.getLogger("observatory.rules")

Rule = RecordingRule | AlertingRule
RESEND_DELAY_MS = 60_000
OUTAGE_TOLERANCE_MS = 3_600_000
FOR_GRACE_PERIOD_MS = 600_000


def engine_query(engine: PromqlEngine) -> QueryFunc:
    """A rule's query function over a PromQL engine, as Prometheus's EngineQueryFunc."""

    def query(expr: str, time_ms: int) -> Vector:
        result = engine.instant(expr, time_ms)
        if result.result_type == "vector":
            return [(labels, value) for labels, _, value in result.data]
        if result.result_type == "scalar":
            return [({}, float(result.data[1]))]
        raise QueryExecutionError("rule result is not a vector or scalar")

    return query


def _default_expand() -> ExpandFunc:
    # Imported on first use: the template engine is only needed once a group exists.
    from observatory.alerting.rules.templates import expand_template

    return expand_template


Commit = Callable[[list[Sample]], None]


def read_later(rules: Sequence[RuleSpec]) -> frozenset[int]:
    """Indices of recording rules whose metric a later rule's expression names."""
    found: set[int] = set()
    for index, rule in enumerate(rules):
        if rule.kind != "recording":
            continue
        name = re.compile(rf"(?<![\w:]){re.escape(rule.name)}(?![\w:])")
        if any(name.search(later.expr) for later in rules[index + 1 :]):
            found.add(index)
    return frozenset(found)


@dataclass
class GroupResult:
    samples: list[Sample] = field(default_factory=list)
    alerts_to_send: list[Alert] = field(default_factory=list)
    rule_seconds: list[float] = field(default_factory=list)  # one per rule evaluated
    failures: int = 0
    duration_seconds: float = 0.0
    committed: int = 0  # leading samples already written by `commit` during the evaluation


@dataclass(frozen=True)
class AlertStatus:
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # "pending" | "firing"
    active_at: float  # seconds
    value: float
    keep_firing_since: float | None = None


@dataclass(frozen=True)
class RuleStatus:
    kind: str  # "recording" | "alerting"
    name: str
    query: str
    labels: dict[str, str]
    health: str
    last_error: str
    evaluation_seconds: float
    last_evaluation: float | None
    annotations: dict[str, str] = field(default_factory=dict)
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    state: str = ""  # alerting rules: "unknown" | "inactive" | "pending" | "firing"
    alerts: tuple[AlertStatus, ...] = ()


@dataclass(frozen=True)
class GroupStatus:
    name: str
    file: str
    interval_seconds: float
    limit: int
    evaluation_seconds: float
    last_evaluation: float | None
    rules: tuple[RuleStatus, ...]


class RuleGroup:
    def __init__(
        self,
        spec: GroupSpec,
        query: QueryFunc,
        *,
        expand: ExpandFunc | None = None,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        restore: bool = False,
        for_state: ForStateLookup | None = None,
        default_query_offset_ms: int = 0,
        resend_delay_ms: int = RESEND_DELAY_MS,
        outage_tolerance_ms: int = OUTAGE_TOLERANCE_MS,
        for_grace_period_ms: int = FOR_GRACE_PERIOD_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.rules: list[Rule] = [
            AlertingRule(r, restored=not restore) if r.kind == "alerting" else RecordingRule(r)
            for r in spec.rules
        ]
        # True until `restore_for_state` ran: a group loaded at start restores `for` state.
        self.should_restore = restore
        offset = spec.query_offset_ms
        self._ctx = EvalContext(
            query,
            expand or _default_expand(),
            dict(external_labels or {}),
            external_url.rstrip("/"),
            default_query_offset_ms if offset is None else offset,
            spec.limit,
        )
        self._for_state = for_state or for_state_from_query(query)
        self._resend_delay_ms = resend_delay_ms
        self._outage_tolerance_ms = outage_tolerance_ms
        self._grace_ms = for_grace_period_ms
        self._clock = clock
        # Recording rules whose output a later rule of the group reads: written before that
        # rule runs, so it sees them at this evaluation's timestamp, as in Prometheus.
        self._commit_after = read_later(spec.rules)
        # Set when the server stops: an evaluation in progress ends after its current rule.
        self.abort = threading.Event()
        # Per rule: the series its last successful evaluation wrote, for stale markers.
        self._previous: list[dict[LabelKey, dict[str, str]]] = [{} for _ in self.rules]
        # Series of rules gone in a reload, marked stale at the next evaluation.
        self._stale: dict[LabelKey, dict[str, str]] = {}
        self.evaluation_seconds = 0.0
        self.last_evaluation: float | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    def evaluate(self, at_ms: int, commit: Commit | None = None) -> GroupResult:
        """Every rule in order; `commit` writes samples a later rule of the group reads."""
        started = self._clock()
        result = GroupResult()
        for index, rule in enumerate(self.rules):
            if self.abort.is_set():
                break
            self._evaluate_rule(index, rule, at_ms, result)
            if commit is not None and index in self._commit_after:
                commit(result.samples[result.committed :])
                result.committed = len(result.samples)
        result.samples += self._gone_series(at_ms - self._ctx.query_offset_ms)
        result.duration_seconds = max(0.0, self._clock() - started)
        self.evaluation_seconds = result.duration_seconds
        self.last_evaluation = started
        return result

    def _evaluate_rule(self, index: int, rule: Rule, at_ms: int, result: GroupResult) -> None:
        started = self._clock()
        error: str | None = None
        try:
            samples = rule.eval(at_ms, self._ctx)
        except ObservatoryError as exc:
            error = exc.message
        except Exception as exc:  # a bug in one rule must not stop the group
            log.exception("rule %r of group %s failed", rule.spec.name, self.key)
            error = f"{type(exc).__name__}: {exc}"
        else:
            result.samples += samples
            result.samples += self._stale_markers(index, samples, at_ms - self._ctx.query_offset_ms)
            if isinstance(rule, AlertingRule):
                result.alerts_to_send += self._to_send(rule, at_ms)
        finished = self._clock()
        rule.run.record(started, finished, error)
        result.rule_seconds.append(max(0.0, finished - started))
        if error is not None:
            result.failures += 1
            log.warning("evaluating rule %r of group %s: %s", rule.spec.name, self.key, error)

    def _stale_markers(self, index: int, samples: list[Sample], at_ms: int) -> list[Sample]:
        current = {label_key(labels): labels for labels, _, _ in samples}
        gone = [
            (labels, at_ms, STALE_NAN)
            for key, labels in self._previous[index].items()
            if key not in current
        ]
        self._previous[index] = current
        return gone

    def _gone_series(self, at_ms: int) -> list[Sample]:
        if not self._stale:
            return []
        live = set().union(*self._previous)
        out = [(labels, at_ms, STALE_NAN) for k, labels in self._stale.items() if k not in live]
        self._stale = {}
        return out

    def _to_send(self, rule: AlertingRule, at_ms: int) -> list[Alert]:
        due = rule.alerts_to_send(at_ms, self._resend_delay_ms, self.spec.interval_ms)
        url = f"{self._ctx.external_url}/graph?g0.expr={quote_plus(rule.spec.expr)}&g0.tab=1"
        return [self._notification(alert, url) for alert in due]

    def _notification(self, alert: ActiveAlert, url: str) -> Alert:
        ends = alert.resolved_at_ms if alert.resolved_at_ms is not None else alert.valid_until_ms
        starts = alert.fired_at_ms if alert.fired_at_ms is not None else alert.active_at_ms
        # External labels go on every alert sent, under the alert's own labels.
        return Alert(
            labels={**self._ctx.external_labels, **alert.labels},
            annotations=dict(alert.annotations),
            starts_at=starts / 1000,
            ends_at=(ends or 0) / 1000,
            generator_url=url,
        )

    def restore_for_state(self, now_ms: int) -> None:
        """Restores the `for` state of alerts from ALERTS_FOR_STATE, once, after a start.

        Prometheus runs this after the second evaluation, so that recording rules have
        written fresh values the alerts depend on.
        """
        start = now_ms - self._outage_tolerance_ms
        for rule in self.rules:
            if not isinstance(rule, AlertingRule):
                continue
            last: dict[LabelKey, tuple[int, float]] = {}
            # A `for` shorter than the grace period would only wait longer for a restore.
            if rule.spec.for_ms >= self._grace_ms:
                try:
                    last = self._for_state(rule.spec.name, start, now_ms)
                except ObservatoryError as exc:
                    log.warning("restoring 'for' state of %r: %s", rule.spec.name, exc.message)
            rule.restore(now_ms, last, self._grace_ms)
        self.should_restore = False

    def copy_state(self, old: RuleGroup) -> None:
        """Takes over the state of the group this one replaces in a reload.

        Rules are matched by name and labels, duplicates in order, as Prometheus does; the
        series of old rules left without a match are marked stale at the next evaluation.
        """
        self.evaluation_seconds = old.evaluation_seconds
        self.last_evaluation = old.last_evaluation
        unmatched: dict[str, list[int]] = {}
        for index, rule in enumerate(old.rules):
            unmatched.setdefault(rule.spec.identity, []).append(index)
        for index, rule in enumerate(self.rules):
            candidates = unmatched.get(rule.spec.identity)
            if not candidates:
                continue
            previous = old.rules[candidates[0]]
            self._previous[index] = old._previous[candidates.pop(0)]
            if isinstance(rule, AlertingRule) and isinstance(previous, AlertingRule):
                rule.take_state(previous)
        self._stale = dict(old._stale)
        for indexes in unmatched.values():
            for index in indexes:
                self._stale.update(old._previous[index])

    def stale_samples(self, at_ms: int) -> list[Sample]:
        """Stale markers for every series the group wrote, for when it is removed."""
        series: dict[LabelKey, dict[str, str]] = dict(self._stale)
        for previous in self._previous:
            series.update(previous)
        return [
            (labels, at_ms - self._ctx.query_offset_ms, STALE_NAN) for labels in series.values()
        ]

    def status(self) -> GroupStatus:
        return GroupStatus(
            name=self.spec.name,
            file=self.spec.file,
            interval_seconds=self.spec.interval_ms / 1000,
            limit=self.spec.limit,
            evaluation_seconds=self.evaluation_seconds,
            last_evaluation=self.last_evaluation,
            rules=tuple(_rule_status(rule) for rule in self.rules),
        )


def _rule_status(rule: Rule) -> RuleStatus:
    spec, run = rule.spec, rule.run
    status = RuleStatus(
        spec.kind,
        spec.name,
        spec.expr,
        dict(spec.labels),
        run.health,
        run.last_error,
        run.evaluation_seconds,
        run.last_evaluation,
    )
    if isinstance(rule, RecordingRule):
        return status
    alerts = sorted(rule.active_alerts(), key=lambda a: label_key(a.labels))
    return replace(
        status,
        annotations=dict(spec.annotations),
        for_seconds=spec.for_ms / 1000,
        keep_firing_for_seconds=spec.keep_firing_for_ms / 1000,
        state=rule.state().label,
        alerts=tuple(_alert_status(a) for a in alerts),
    )


def _alert_status(alert: ActiveAlert) -> AlertStatus:
    since = alert.keep_firing_since_ms
    return AlertStatus(
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        state=alert.state.label,
        active_at=alert.active_at_ms / 1000,
        value=alert.value,
        keep_firing_since=None if since is None else since / 1000,
    )
