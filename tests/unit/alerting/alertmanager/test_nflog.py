from __future__ import annotations

import json
from pathlib import Path

import pytest

from observatory.alerting.alertmanager.nflog import (
    NotificationEntry,
    NotificationLog,
    NotifyReason,
    decide,
)
from observatory.durable import write_atomically
from tests.unit.alerting.alertmanager.core_fakes import FakeClock

NOW = 1_000_000.0
REPEAT = 3600.0


def entry(
    firing: set[str], resolved: frozenset[str] = frozenset(), age: float = 60.0
) -> NotificationEntry:
    return NotificationEntry(
        "r/webhook/0", "{}:{}", NOW - age, frozenset(firing), frozenset(resolved), NOW + 1e6
    )


# Alertmanager's DedupStage rules (notify.go, needsUpdate), case by case.
@pytest.mark.parametrize(
    ("previous", "firing", "resolved", "send_resolved", "expected"),
    [
        (None, {"a"}, set(), True, NotifyReason.FIRST),
        (None, set(), {"a"}, True, NotifyReason.NONE),  # never told: no resolve either
        (entry({"a"}), {"a", "b"}, set(), True, NotifyReason.NEW_ALERTS),
        (entry(set(), frozenset({"a"})), {"b"}, set(), True, NotifyReason.FIRST),
        (entry({"a", "b"}), {"a"}, set(), False, NotifyReason.NONE),  # one resolved, not sent
        (entry({"a", "b"}), {"a"}, {"b"}, True, NotifyReason.NEW_RESOLVED),
        (entry({"a", "b"}, frozenset({"b"})), {"a"}, {"b"}, True, NotifyReason.NONE),
        # All resolved: notified even without send_resolved, to clear the log's firing set.
        (entry({"a"}), set(), {"a"}, False, NotifyReason.ALL_RESOLVED),
        (entry(set(), frozenset({"a"})), set(), {"a"}, True, NotifyReason.NONE),
        (entry({"a"}, age=REPEAT + 1), {"a"}, set(), True, NotifyReason.REPEAT),
        (entry({"a"}, age=REPEAT), {"a"}, set(), True, NotifyReason.NONE),  # strictly before
        (entry({"a"}, age=REPEAT - 1), {"a"}, set(), True, NotifyReason.NONE),
    ],
)
def test_decide(
    previous: NotificationEntry | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    expected: NotifyReason,
) -> None:
    reason = decide(
        previous, firing, resolved, send_resolved=send_resolved, repeat_interval=REPEAT, now=NOW
    )
    assert reason is expected
    assert reason.notify is (expected is not NotifyReason.NONE)


def test_log_then_query_in_memory() -> None:
    clock = FakeClock(NOW)
    nflog = NotificationLog(None, clock)
    assert nflog.needs_update("r", "g", {"a"}, set(), send_resolved=True, repeat_interval=REPEAT)
    nflog.log("r", "g", {"a"}, set(), expiry_seconds=2 * REPEAT)
    assert not nflog.needs_update(
        "r", "g", {"a"}, set(), send_resolved=True, repeat_interval=REPEAT
    )
    logged = nflog.query("r", "g")
    assert logged is not None and logged.firing == {"a"} and logged.timestamp == NOW
    assert nflog.query("other", "g") is None


def test_entries_expire_after_expiry_or_retention() -> None:
    clock = FakeClock(NOW)
    nflog = NotificationLog(None, clock, retention_seconds=100.0)
    nflog.log("r", "short", {"a"}, set(), expiry_seconds=10.0)
    nflog.log("r", "long", {"a"}, set(), expiry_seconds=1000.0)  # capped by the retention
    clock.advance(10)
    assert nflog.query("r", "short") is None
    assert nflog.query("r", "long") is not None
    clock.advance(90)
    assert nflog.query("r", "long") is None
    assert nflog.gc() == 2
    assert nflog.entries() == []


def test_persisted_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "am" / "nflog.json"
    clock = FakeClock(NOW)
    first = NotificationLog(path, clock)
    first.log("team/webhook/0", '{}:{alertname="X"}', {"a", "b"}, {"c"}, 2 * REPEAT)
    # A new process on the same file: the same alerts are not notified again...
    clock.advance(60)
    second = NotificationLog(path, clock)
    args = ("team/webhook/0", '{}:{alertname="X"}', {"a", "b"}, {"c"})
    assert not second.needs_update(*args, send_resolved=True, repeat_interval=REPEAT)
    # ...until the repeat interval has passed.
    clock.advance(REPEAT)
    assert second.reason(*args, send_resolved=True, repeat_interval=REPEAT) is NotifyReason.REPEAT
    assert [p.name for p in path.parent.iterdir()] == ["nflog.json"]  # no temp files left


def test_expired_entries_are_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "nflog.json"
    clock = FakeClock(NOW)
    NotificationLog(path, clock).log("r", "g", {"a"}, set(), expiry_seconds=10.0)
    clock.advance(11)
    assert NotificationLog(path, clock).entries() == []


def test_gc_persists(tmp_path: Path) -> None:
    path = tmp_path / "nflog.json"
    clock = FakeClock(NOW)
    nflog = NotificationLog(path, clock)
    nflog.log("r", "g", {"a"}, set(), expiry_seconds=10.0)
    clock.advance(11)
    assert nflog.gc() == 1
    assert json.loads(path.read_text())["entries"] == []


def test_unreadable_file_starts_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "nflog.json"
    path.write_text("{not json")
    nflog = NotificationLog(path, FakeClock(NOW))
    assert nflog.entries() == []
    assert "unreadable" in caplog.text
    nflog.log("r", "g", {"a"}, set())
    assert NotificationLog(path, FakeClock(NOW)).query("r", "g") is not None


def test_write_atomically_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
