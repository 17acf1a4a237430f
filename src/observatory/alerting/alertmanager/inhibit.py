"""Inhibition: a firing alert mutes others, per Alertmanager's `inhibit_rules`.

A rule mutes an alert matching its target matchers while some firing alert matches its
source matchers and has the same values for the `equal` labels (a label missing on both
sides counts as equal, as in Alertmanager). An alert that matches both the source and the
target side of a rule is not inhibited by alerts that also match both sides, so a rule
such as "critical inhibits critical" cannot make alerts silence one another, or themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from observatory.alerting.alertmanager.config_model import InhibitRule
from observatory.alerting.alertmanager.dispatcher import AlertSource
from observatory.alerting.model import Alert, matches_all


class _RuleState:
    """A rule and the alerts currently matching its source side (its source cache)."""

    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        self.sources: dict[str, Alert] = {}

    def observe(self, alert: Alert) -> None:
        if matches_all(self.rule.source_matchers, alert.labels):
            self.sources[alert.fingerprint] = alert

    def inhibitors(self, labels: Mapping[str, str], now: float) -> list[str]:
        """Fingerprints of the firing source alerts that mute `labels` (a target)."""
        both_sides = matches_all(self.rule.source_matchers, labels)
        found: list[str] = []
        for fingerprint, source in list(self.sources.items()):
            if source.resolved(now):
                continue
            if not self._equal(source.labels, labels):
                continue
            if both_sides and matches_all(self.rule.target_matchers, source.labels):
                continue
            found.append(fingerprint)
        return found

    def forget_resolved(self, now: float) -> None:
        for fingerprint in [fp for fp, a in self.sources.items() if a.resolved(now)]:
            del self.sources[fingerprint]

    def _equal(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        return all(source.get(name, "") == target.get(name, "") for name in self.rule.equal)


class Inhibitor:
    """Answers whether (and by which alerts) a label set is inhibited.

    It follows the alert source: it reads the current alerts once, then subscribes to
    updates. `close()` detaches it (the source has no unsubscribe), e.g. on a config reload.
    """

    def __init__(
        self,
        rules: Sequence[InhibitRule],
        alerts: AlertSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self._states = [_RuleState(rule) for rule in rules]
        self._lock = threading.Lock()
        self._closed = False
        if self._states:
            self._observe(alerts.all())
            alerts.subscribe(self._observe)

    def mutes(self, labels: Mapping[str, str]) -> list[str]:
        """Fingerprints of the alerts inhibiting `labels`, sorted; empty if not inhibited.

        Alertmanager reports only the first inhibiting alert it finds; all are listed here
        so the API's `inhibitedBy` is complete.
        """
        now = self.clock()
        found: set[str] = set()
        with self._lock:
            for state in self._states:
                if matches_all(state.rule.target_matchers, labels):
                    found.update(state.inhibitors(labels, now))
        return sorted(found)

    def muted(self, labels: Mapping[str, str]) -> bool:
        return bool(self.mutes(labels))

    def gc(self) -> None:
        """Drops resolved alerts from the source caches."""
        now = self.clock()
        with self._lock:
            for state in self._states:
                state.forget_resolved(now)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._states = []

    def _observe(self, alerts: list[Alert]) -> None:
        if self._closed:
            return
        with self._lock:
            for alert in alerts:
                for state in self._states:
                    state.observe(alert)
