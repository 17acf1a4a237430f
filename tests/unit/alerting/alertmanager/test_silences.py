"""Silences: Alertmanager's state, update and expiry rules, queries, muting and persistence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from observatory.alerting.alertmanager.silences import Silence, Silences
from observatory.alerting.model import Matcher, MatchType
from observatory.errors import BadRequestError, NotFoundError

T0 = 1_700_000_000.0
HOUR = 3600.0
TEST = (Matcher("alertname", MatchType.EQ, "Test"),)
OTHER = (Matcher("alertname", MatchType.EQ, "Other"),)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def silences(clock: Clock) -> Silences:
    return Silences(None, clock)


def silence(
    matchers: tuple[Matcher, ...] = TEST,
    starts: float = T0,
    ends: float = T0 + HOUR,
    silence_id: str = "",
    comment: str = "maintenance",
) -> Silence:
    return Silence(
        id=silence_id,
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by="me",
        comment=comment,
    )


# States.


def test_state_is_half_open_interval() -> None:
    s = silence(starts=T0, ends=T0 + 10)
    assert s.state(T0 - 0.001) == "pending"
    assert s.state(T0) == "active"
    assert s.state(T0 + 9.999) == "active"
    assert s.state(T0 + 10) == "expired"


# Creating.


def test_new_silence_gets_uuid_and_timestamps(silences: Silences) -> None:
    silence_id = silences.set(silence(starts=T0 - 50))
    stored = silences.get(silence_id)
    assert uuid.UUID(silence_id).version == 4
    # A start in the past is moved to now, as Alertmanager does for new silences.
    assert stored.starts_at == T0
    assert stored.updated_at == T0
    assert stored.state(T0) == "active"


def test_missing_start_means_now(silences: Silences) -> None:
    stored = silences.get(silences.set(silence(starts=0.0)))
    assert stored.starts_at == T0


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        (silence(matchers=()), "invalid silence: at least one matcher required"),
        (
            silence(matchers=(Matcher("a", MatchType.EQ, ""), Matcher("b", MatchType.RE, ".*"))),
            "invalid silence: at least one matcher must not match the empty string",
        ),
        (
            silence(matchers=(Matcher("a", MatchType.RE, "(x"),)),
            'invalid silence: invalid label matcher 0: invalid regular expression "(x"',
        ),
        (
            silence(matchers=(*TEST, Matcher("", MatchType.EQ, "x"))),
            'invalid silence: invalid label matcher 1: invalid label name ""',
        ),
        (
            silence(matchers=(Matcher("a", MatchType.EQ, "\udc00"),)),
            'invalid silence: invalid label matcher 0: invalid label value "\\udc00"',
        ),
        (silence(ends=0.0), "invalid silence: invalid zero end timestamp"),
        (silence(ends=T0 - 1), "invalid silence: end time must not be before start time"),
    ],
)
def test_validation(silences: Silences, candidate: Silence, message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        silences.set(candidate)
    assert caught.value.message.startswith(message)
    assert silences.query() == []


def test_negative_matcher_alone_is_valid(silences: Silences) -> None:
    # Alertmanager counts only `=` and `=~` matchers as matching the empty string.
    silences.set(silence(matchers=(Matcher("severity", MatchType.NE, "critical"),)))
    assert len(silences.query()) == 1


# Updating: Alertmanager's canUpdate.


def test_active_silence_extended_in_place(silences: Silences, clock: Clock) -> None:
    silence_id = silences.set(silence())
    clock.now += 60
    same = silences.set(
        silence(silence_id=silence_id, ends=T0 + 2 * HOUR, comment="longer", starts=T0 + 0.4)
    )
    assert same == silence_id
    stored = silences.get(silence_id)
    assert (stored.ends_at, stored.comment, stored.updated_at) == (T0 + 2 * HOUR, "longer", T0 + 60)
    assert len(silences.query()) == 1


def test_active_silence_with_new_matchers_is_replaced(silences: Silences, clock: Clock) -> None:
    old_id = silences.set(silence())
    clock.now += 60
    new_id = silences.set(silence(silence_id=old_id, matchers=OTHER))
    assert new_id != old_id
    old, new = silences.get(old_id), silences.get(new_id)
    assert old.state(clock.now) == "expired"
    assert old.ends_at == T0 + 60
    assert new.matchers == OTHER
    assert new.starts_at == T0 + 60


def test_active_silence_with_new_start_is_replaced(silences: Silences, clock: Clock) -> None:
    old_id = silences.set(silence())
    clock.now += 60
    new_id = silences.set(silence(silence_id=old_id, starts=T0 + 30))
    assert new_id != old_id
    assert silences.get(old_id).state(clock.now) == "expired"


def test_active_silence_ended_in_the_past_is_replaced(silences: Silences, clock: Clock) -> None:
    old_id = silences.set(silence())
    clock.now += 60
    new_id = silences.set(silence(silence_id=old_id, ends=T0 + 30))
    assert new_id != old_id


def test_pending_silence_moved_later_in_place(silences: Silences, clock: Clock) -> None:
    pending_id = silences.set(silence(starts=T0 + HOUR, ends=T0 + 2 * HOUR))
    same = silences.set(silence(silence_id=pending_id, starts=T0 + 1.5 * HOUR, ends=T0 + 3 * HOUR))
    assert same == pending_id
    assert silences.get(pending_id).starts_at == T0 + 1.5 * HOUR


def test_pending_silence_started_now_is_replaced(silences: Silences, clock: Clock) -> None:
    pending_id = silences.set(silence(starts=T0 + HOUR, ends=T0 + 2 * HOUR))
    clock.now += 10
    new_id = silences.set(silence(silence_id=pending_id, starts=T0, ends=T0 + 2 * HOUR))
    assert new_id != pending_id
    old = silences.get(pending_id)
    # An expired pending silence never muted anything: start and end both at now.
    assert (old.starts_at, old.ends_at) == (T0 + 10, T0 + 10)
    assert silences.get(new_id).starts_at == T0 + 10


def test_expired_silence_is_recreated_and_kept(silences: Silences, clock: Clock) -> None:
    old_id = silences.set(silence(ends=T0 + 10))
    clock.now += 20
    new_id = silences.set(silence(silence_id=old_id, starts=T0 + 20, ends=T0 + HOUR))
    assert new_id != old_id
    assert silences.get(old_id).ends_at == T0 + 10


def test_update_of_unknown_id(silences: Silences) -> None:
    with pytest.raises(NotFoundError):
        silences.set(silence(silence_id="5b5a5d45-1111-4a6d-9b9b-000000000000"))


# Expiring.


def test_expire_active(silences: Silences, clock: Clock) -> None:
    silence_id = silences.set(silence())
    clock.now += 5
    silences.expire(silence_id)
    stored = silences.get(silence_id)
    assert (stored.ends_at, stored.updated_at) == (T0 + 5, T0 + 5)
    assert stored.state(clock.now) == "expired"


def test_expire_pending(silences: Silences) -> None:
    silence_id = silences.set(silence(starts=T0 + HOUR, ends=T0 + 2 * HOUR))
    silences.expire(silence_id)
    stored = silences.get(silence_id)
    assert (stored.starts_at, stored.ends_at) == (T0, T0)


def test_expire_twice_and_unknown(silences: Silences) -> None:
    silence_id = silences.set(silence())
    silences.expire(silence_id)
    with pytest.raises(BadRequestError, match=f"silence {silence_id} already expired"):
        silences.expire(silence_id)
    with pytest.raises(NotFoundError):
        silences.expire("nope")
    with pytest.raises(NotFoundError):
        silences.get("nope")


# Muting and querying.


def test_mutes_only_while_active(silences: Silences, clock: Clock) -> None:
    regex = (Matcher("alertname", MatchType.RE, "Te.t"), Matcher("env", MatchType.NE, "dev"))
    active = silences.set(silence(matchers=regex))
    silences.set(silence(starts=T0 + HOUR, ends=T0 + 2 * HOUR))
    labels = {"alertname": "Test", "env": "prod"}
    assert silences.mutes(labels) == [active]
    # Regexes are anchored: "Te.t" does not match "Tests".
    assert silences.mutes({"alertname": "Tests"}) == []
    assert silences.mutes({"alertname": "Test", "env": "dev"}) == []
    clock.now = T0 + HOUR + 1
    assert len(silences.mutes(labels)) == 1  # the pending one now, the first one has ended
    assert active not in silences.mutes(labels)


def test_query_by_state_and_matchers_in_alertmanager_order(
    silences: Silences, clock: Clock
) -> None:
    late = silences.set(silence(ends=T0 + 3 * HOUR))
    soon = silences.set(silence(matchers=OTHER, ends=T0 + HOUR))
    pending = silences.set(silence(starts=T0 + HOUR, ends=T0 + 2 * HOUR))
    gone_early = silences.set(silence(ends=T0 + 10))
    gone_late = silences.set(silence(ends=T0 + 20))
    clock.now = T0 + 30
    assert [s.id for s in silences.query()] == [soon, late, pending, gone_late, gone_early]
    assert [s.id for s in silences.query(state="expired")] == [gone_late, gone_early]
    assert [s.id for s in silences.query(state="pending")] == [pending]
    # The filter compares matchers verbatim, as Alertmanager's API does.
    assert [s.id for s in silences.query(matchers=list(OTHER))] == [soon]
    regex = [Matcher("alertname", MatchType.RE, "Other")]
    assert silences.query(matchers=regex) == []


def test_gc_forgets_after_retention(clock: Clock) -> None:
    silences = Silences(None, clock, retention_seconds=100)
    silence_id = silences.set(silence(ends=T0 + 10))
    clock.now = T0 + 109
    assert silences.gc() == 0
    clock.now = T0 + 110
    assert silences.gc() == 1
    with pytest.raises(NotFoundError):
        silences.get(silence_id)


# Persistence.


def test_every_change_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "silences.json"
    first = Silences(path, clock)
    kept = first.set(silence())
    expired = first.set(silence(matchers=OTHER))
    first.expire(expired)
    again = Silences(path, clock)
    assert again.get(kept) == first.get(kept)
    assert again.get(expired).state(clock.now) == "expired"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silences.json"]


def test_load_drops_silences_past_retention(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "silences.json"
    Silences(path, clock, retention_seconds=100).set(silence(ends=T0 + 10))
    clock.now = T0 + 200
    assert Silences(path, clock, retention_seconds=100).query() == []
    assert json.loads(path.read_text())["silences"] == []


def test_unreadable_file_is_moved_aside(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "silences.json"
    path.write_text("{not json")
    silences = Silences(path, clock)
    assert silences.query() == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("silences.json.unreadable")]


CREATE_THEN_DIE = """
import os, signal, sys, time
from pathlib import Path
from observatory.alerting.alertmanager.silences import Silence, Silences
from observatory.alerting.model import Matcher, MatchType
silences = Silences(Path(sys.argv[1]))
matchers = (Matcher("alertname", MatchType.EQ, "Test"),)
now = time.time()
print(silences.set(Silence(matchers=matchers, starts_at=now, ends_at=now + 3600)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_acknowledged_silence_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "silences.json"
    done = subprocess.run(
        [sys.executable, "-c", CREATE_THEN_DIE, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[4] / "src")},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    silence_id = done.stdout.strip()
    assert Silences(path).get(silence_id).matchers == TEST
