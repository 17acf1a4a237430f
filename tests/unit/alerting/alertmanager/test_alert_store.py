"""The alert store: Alertmanager's merge by fingerprint, resolve timeout, validation and GC."""

from __future__ import annotations

import pytest

from observatory.alerting.alertmanager.alert_store import AlertStore
from observatory.alerting.model import Alert, label_fingerprint
from observatory.errors import BadRequestError

T0 = 1_700_000_000.0
LABELS = {"alertname": "HighLatency", "service": "api"}
FP = label_fingerprint(LABELS)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> AlertStore:
    return AlertStore(clock, resolve_timeout_seconds=300)


def alert(starts: float = 0.0, ends: float = 0.0, summary: str = "", **labels: str) -> Alert:
    return Alert(
        labels=labels or dict(LABELS),
        annotations={"summary": summary} if summary else {},
        starts_at=starts,
        ends_at=ends,
    )


def stored(store: AlertStore) -> Alert:
    found = store.get(FP)
    assert found is not None
    return found


def test_missing_times_are_filled_in(store: AlertStore) -> None:
    store.put([alert()])
    got = stored(store)
    assert (got.starts_at, got.ends_at, got.updated_at) == (T0, T0 + 300, T0)
    assert store.ends_by_timeout(FP)


def test_resolved_without_start_starts_at_its_end(store: AlertStore) -> None:
    store.put([alert(ends=T0 - 10)])
    got = stored(store)
    assert (got.starts_at, got.ends_at) == (T0 - 10, T0 - 10)
    assert got.resolved(T0)
    assert not store.ends_by_timeout(FP)


def test_resent_firing_alert_keeps_earliest_start(store: AlertStore, clock: Clock) -> None:
    # As amtool and curl users do: no times at all, posted again a minute later.
    store.put([alert(summary="first")])
    clock.now += 60
    store.put([alert(summary="second")])
    got = stored(store)
    assert (got.starts_at, got.ends_at, got.updated_at) == (T0, T0 + 360, T0 + 60)
    assert got.annotations == {"summary": "second"}
    assert len(store.all()) == 1


def test_prometheus_style_fire_then_resolve(store: AlertStore, clock: Clock) -> None:
    store.put([alert(starts=T0 - 120, ends=T0 + 240)])
    clock.now += 15
    store.put([alert(starts=T0 - 120, ends=T0 + 255)])
    assert stored(store).ends_at == T0 + 255
    clock.now += 15
    store.put([alert(starts=T0 - 120, ends=T0 + 30)])
    got = stored(store)
    assert (got.starts_at, got.ends_at) == (T0 - 120, T0 + 30)
    assert got.resolved(clock.now)


def test_new_incident_after_resolution_replaces(store: AlertStore, clock: Clock) -> None:
    store.put([alert(starts=T0 - 100, ends=T0 - 50)])
    store.put([alert(starts=T0 - 10, ends=T0 + 200)])
    got = stored(store)
    assert (got.starts_at, got.ends_at) == (T0 - 10, T0 + 200)


def test_timeout_end_never_overrides_an_explicit_later_end(store: AlertStore, clock: Clock) -> None:
    store.put([alert(starts=T0, ends=T0 + 1000)])
    clock.now += 60
    store.put([alert()])  # its end would be the timeout, T0 + 360
    got = stored(store)
    assert (got.starts_at, got.ends_at) == (T0, T0 + 1000)
    assert not store.ends_by_timeout(FP)


def test_explicit_resolution_beats_timeout(store: AlertStore, clock: Clock) -> None:
    store.put([alert()])
    clock.now += 60
    store.put([alert(ends=T0 + 60)])
    got = stored(store)
    assert (got.starts_at, got.ends_at) == (T0, T0 + 60)
    assert got.resolved(clock.now)


def test_empty_label_values_are_dropped(store: AlertStore) -> None:
    store.put([alert(alertname="X", instance="")])
    assert [a.labels for a in store.all()] == [{"alertname": "X"}]


def test_invalid_alerts_are_named_and_valid_ones_kept(store: AlertStore) -> None:
    batch = [
        alert(alertname="Good"),
        Alert(labels={}),
        Alert(labels={"only": ""}),
        Alert(labels={"alertname": "NoName", "": "x"}),
        Alert(labels={"alertname": "HalfChar", "half": "\ud800"}),
        Alert(labels={"alertname": "Dotted", "service.name": "api"}, annotations={"a-b": "c"}),
        alert(starts=T0, ends=T0 - 1, alertname="Backwards"),
        Alert(labels={"alertname": "Note"}, annotations={"": "x"}),
    ]
    with pytest.raises(BadRequestError) as caught:
        store.put(batch)
    assert caught.value.message.split("; ") == [
        "{}: at least one label pair required",
        "{}: at least one label pair required",
        '{="x", alertname="NoName"}: invalid label set: invalid name ""',
        '{alertname="HalfChar", half="\\ud800"}: invalid label set: invalid value "\\ud800"',
        '{alertname="Backwards"}: start time must be before end time',
        '{alertname="Note"}: invalid annotations: invalid name ""',
    ]
    # UTF-8 names are valid, as in Alertmanager's default mode since 0.27.
    assert [a.name for a in store.all()] == ["Good", "Dotted"]


def test_subscribers_get_merged_alerts(store: AlertStore, clock: Clock) -> None:
    seen: list[list[Alert]] = []
    store.subscribe(seen.append)
    store.put([alert()])
    clock.now += 30
    store.put([alert(), alert(alertname="Other")])
    assert [[a.name for a in batch] for batch in seen] == [
        ["HighLatency"],
        ["HighLatency", "Other"],
    ]
    assert seen[1][0].starts_at == T0  # the merged alert, not the one as posted


def test_unsubscribed_callbacks_are_not_called(store: AlertStore) -> None:
    kept: list[list[Alert]] = []
    dropped: list[list[Alert]] = []
    store.subscribe(kept.append)
    store.subscribe(dropped.append)
    store.unsubscribe(dropped.append)
    store.put([alert()])
    assert (len(kept), dropped) == (1, [])


def test_subscribers_not_called_for_an_all_invalid_batch(store: AlertStore) -> None:
    seen: list[list[Alert]] = []
    store.subscribe(seen.append)
    with pytest.raises(BadRequestError):
        store.put([Alert(labels={})])
    assert seen == []


def test_stored_alerts_are_copies(store: AlertStore) -> None:
    posted = alert()
    store.put([posted])
    posted.labels["service"] = "changed"
    assert stored(store).labels == LABELS


def test_gc_drops_alerts_resolved_past_retention(clock: Clock) -> None:
    store = AlertStore(clock, resolve_timeout_seconds=300, retention_seconds=600)
    store.put([alert(starts=T0 - 100, ends=T0 - 10), alert(alertname="Firing")])
    clock.now = T0 + 589
    assert store.gc() == []
    clock.now = T0 + 590
    assert store.gc() == [FP]
    assert [a.name for a in store.all()] == ["Firing"]


def test_resolve_timeout_can_change(store: AlertStore) -> None:
    store.resolve_timeout_seconds = 60
    store.put([alert()])
    assert stored(store).ends_at == T0 + 60
