"""The alerts Alertmanager has received, merged by fingerprint as its in-memory provider does.

Senders re-send every firing alert on each evaluation with an `ends_at` a few intervals ahead,
and send it once more with `ends_at` in the past when it resolves. The store keeps one alert per
label set: an update that overlaps the stored alert's activity keeps the earliest `starts_at`,
while an alert that starts after the stored one ended replaces it (a new incident). An alert
posted without `ends_at` gets `updated_at + resolve_timeout`, so it resolves on its own when
its sender goes away; such a timeout end never overrides an explicit one when merging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from observatory.alerting.model import Alert
from observatory.errors import BadRequestError

DEFAULT_RESOLVE_TIMEOUT_SECONDS = 300.0
# Alertmanager drops resolved alerts on its periodic GC (every 30 minutes by default).
DEFAULT_RETENTION_SECONDS = 1800.0

AlertCallback = Callable[[list[Alert]], None]


@dataclass(frozen=True)
class _Stored:
    alert: Alert
    # True when `ends_at` was filled in from the resolve timeout rather than sent.
    timeout: bool


def valid_utf8(text: str) -> bool:
    """False for strings JSON can carry but UTF-8 cannot (lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def valid_label_name(name: str) -> bool:
    # Alertmanager's default since 0.27 ("fallback" mode) accepts any non-empty UTF-8 name,
    # as Prometheus 3 sends them (`service.name`); its classic mode would reject those.
    return name != "" and valid_utf8(name)


def printable(text: str) -> str:
    """`text` safe to put in an error message, lone surrogates escaped."""
    return text.encode(errors="backslashreplace").decode()


def describe(labels: Mapping[str, str]) -> str:
    """A label set as Prometheus prints it, to name an alert in messages."""
    pairs = ", ".join(f'{name}="{labels[name]}"' for name in sorted(labels))
    return printable("{" + pairs + "}")


def _label_set_problem(labels: Mapping[str, str]) -> str:
    for name, value in labels.items():
        if not valid_label_name(name):
            return f'invalid name "{printable(name)}"'
        if not valid_utf8(value):
            return f'invalid value "{printable(value)}"'
    return ""


def alert_problem(alert: Alert) -> str:
    """What makes an alert invalid for Alertmanager (`Alert.Validate`), or ""."""
    if alert.starts_at == 0.0:
        return "start time missing"
    if alert.ends_at != 0.0 and alert.ends_at < alert.starts_at:
        return "start time must be before end time"
    if not alert.labels:
        return "at least one label pair required"
    problem = _label_set_problem(alert.labels)
    if problem:
        return f"invalid label set: {problem}"
    problem = _label_set_problem(alert.annotations)
    return f"invalid annotations: {problem}" if problem else ""


def merge(older: _Stored, newer: _Stored, now: float) -> _Stored:
    """Alertmanager's `Alert.Merge`: the younger alert wins, with the earliest start."""
    if newer.alert.updated_at < older.alert.updated_at:
        older, newer = newer, older
    merged = newer.alert
    starts_at = min(older.alert.starts_at, merged.starts_at)
    ends_at, timeout = merged.ends_at, newer.timeout
    if merged.resolved(now):
        # Both resolved: the latest explicit end wins.
        if older.alert.resolved(now) and older.alert.ends_at > ends_at:
            ends_at, timeout = older.alert.ends_at, older.timeout
    elif older.alert.ends_at > ends_at and not older.timeout:
        # A later explicit end beats a younger timeout end.
        ends_at, timeout = older.alert.ends_at, False
    return _Stored(replace(merged, starts_at=starts_at, ends_at=ends_at), timeout)


def overlaps(old: Alert, new: Alert) -> bool:
    """Whether `new` falls inside `old`'s activity, the condition for merging the two."""
    ends_inside = old.starts_at < new.ends_at < old.ends_at
    starts_inside = old.starts_at < new.starts_at < old.ends_at
    return ends_inside or starts_inside


class AlertStore:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        resolve_timeout_seconds: float = DEFAULT_RESOLVE_TIMEOUT_SECONDS,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.clock = clock
        # Mutable: a configuration reload may change `global.resolve_timeout`.
        self.resolve_timeout_seconds = resolve_timeout_seconds
        self.retention_seconds = retention_seconds
        self._lock = threading.Lock()
        self._alerts: dict[str, _Stored] = {}
        self._subscribers: list[AlertCallback] = []

    def put(self, alerts: Sequence[Alert]) -> None:
        """Store the valid alerts, tell subscribers, then reject the invalid ones if any.

        As Alertmanager does, a batch with some invalid alerts still stores the valid ones;
        the BadRequestError names each invalid alert and what is wrong with it.
        """
        now = self.clock()
        prepared = [self._prepare(alert, now) for alert in alerts]
        problems = [(s, alert_problem(s.alert)) for s in prepared]
        valid = [stored for stored, problem in problems if not problem]
        with self._lock:
            merged = [self._store(stored, now) for stored in valid]
            subscribers = list(self._subscribers)
        if merged:
            for callback in subscribers:
                callback(merged)
        errors = [f"{describe(s.alert.labels)}: {problem}" for s, problem in problems if problem]
        if errors:
            raise BadRequestError("; ".join(errors))

    def all(self) -> list[Alert]:
        """Every stored alert, resolved ones included until the GC drops them."""
        with self._lock:
            return [stored.alert for stored in self._alerts.values()]

    def get(self, fingerprint: str) -> Alert | None:
        with self._lock:
            stored = self._alerts.get(fingerprint)
        return stored.alert if stored is not None else None

    def ends_by_timeout(self, fingerprint: str) -> bool:
        """Whether the alert's `ends_at` came from the resolve timeout, not from its sender.

        Alertmanager hides such an end (shows it unset) in notifications while the alert fires.
        """
        with self._lock:
            stored = self._alerts.get(fingerprint)
        return stored is not None and stored.timeout

    def subscribe(self, callback: AlertCallback) -> None:
        """Call `callback` after every put with the alerts as merged into the store.

        The callback runs in the caller's thread, inside `put`, so it must be quick and must not
        call back into `put`.
        """
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: AlertCallback) -> None:
        """Stop calling `callback` (a dispatcher or inhibitor replaced on a config reload)."""
        with self._lock:
            # `!=`, not `is not`: `obj.method` is a new bound method on every access, equal
            # (same object, same function) but not identical to the one subscribed.
            self._subscribers = [known for known in self._subscribers if known != callback]

    def gc(self) -> list[str]:
        """Drop alerts resolved longer than the retention ago; returns their fingerprints."""
        horizon = self.clock() - self.retention_seconds
        with self._lock:
            gone = [fp for fp, s in self._alerts.items() if s.alert.resolved(horizon)]
            for fingerprint in gone:
                del self._alerts[fingerprint]
        return gone

    def _prepare(self, alert: Alert, now: float) -> _Stored:
        # Empty label values mean "no such label" in Prometheus; Alertmanager drops them too.
        labels = {name: value for name, value in alert.labels.items() if value != ""}
        starts_at = alert.starts_at or alert.ends_at or now
        ends_at = alert.ends_at or now + self.resolve_timeout_seconds
        prepared = replace(
            alert,
            labels=labels,
            annotations=dict(alert.annotations),
            starts_at=starts_at,
            ends_at=ends_at,
            updated_at=now,
        )
        return _Stored(prepared, timeout=alert.ends_at == 0.0)

    def _store(self, incoming: _Stored, now: float) -> Alert:
        fingerprint = incoming.alert.fingerprint
        old = self._alerts.get(fingerprint)
        if old is not None and overlaps(old.alert, incoming.alert):
            incoming = merge(old, incoming, now)
        self._alerts[fingerprint] = incoming
        return incoming.alert
