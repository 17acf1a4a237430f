"""Silences with Alertmanager's semantics, persisted so a `kill -9` loses none.

A silence mutes every alert whose labels match all of its matchers while it is active, that is
from `starts_at` (inclusive) to `ends_at` (exclusive). Changing a silence in a way that would
rewrite history (other matchers, a new start of an active silence, an end in the past) expires
the old silence and creates a new one with a new id, as Alertmanager's `canUpdate` decides, so
the list of silences stays a truthful record of what was muted when.

Every change is written to a JSON file before the call returns (temporary file, fsync, rename,
fsync of the directory): an acknowledged silence survives a crash. Methods never await, so one
event loop can share the object; a lock makes calls from worker threads safe as well.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from observatory.alerting.alertmanager.alert_store import printable, valid_label_name, valid_utf8
from observatory.alerting.model import Matcher, MatchType
from observatory.durable import write_atomically
from observatory.errors import BadRequestError, NotFoundError

log = logging.getLogger(__name__)

SilenceState = Literal["pending", "active", "expired"]
DEFAULT_RETENTION_SECONDS = 120 * 3600
FILE_VERSION = 1
# Alertmanager lists active silences first, then pending, then expired.
STATE_ORDER: dict[str, int] = {"active": 0, "pending": 1, "expired": 2}


@dataclass(frozen=True, kw_only=True)
class Silence:
    id: str = ""
    matchers: tuple[Matcher, ...]
    starts_at: float = 0.0
    ends_at: float = 0.0
    created_by: str = ""
    comment: str = ""
    updated_at: float = 0.0

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)


def validate_silence(silence: Silence) -> None:
    """Alertmanager's `validateSilence`: a silence must select something and end after it starts."""
    if not silence.matchers:
        raise _invalid("at least one matcher required")
    for index, matcher in enumerate(silence.matchers):
        problem = _matcher_problem(matcher)
        if problem:
            raise _invalid(f"invalid label matcher {index}: {problem}")
    if all(_matches_empty(matcher) for matcher in silence.matchers):
        raise _invalid("at least one matcher must not match the empty string")
    if silence.ends_at == 0.0:
        raise _invalid("invalid zero end timestamp")
    if silence.ends_at < silence.starts_at:
        raise _invalid("end time must not be before start time")


def _invalid(reason: str) -> BadRequestError:
    return BadRequestError(f"invalid silence: {reason}")


def _matcher_problem(matcher: Matcher) -> str:
    if not valid_label_name(matcher.name):
        return f'invalid label name "{printable(matcher.name)}"'
    if not valid_utf8(matcher.value):
        return f'invalid label value "{printable(matcher.value)}"'
    if matcher.type in (MatchType.RE, MatchType.NRE):
        try:
            re.compile(matcher.value)
        except re.error as exc:
            return f'invalid regular expression "{printable(matcher.value)}": {exc}'
    return ""


def _matches_empty(matcher: Matcher) -> bool:
    # As Alertmanager decides it: only `=` and `=~` count; a negative matcher never does.
    if matcher.type is MatchType.EQ:
        return matcher.value == ""
    if matcher.type is MatchType.RE:
        return matcher.matches({})
    return False


def can_update(old: Silence, new: Silence, now: float) -> bool:
    """Whether `old` may be changed into `new` in place without rewriting what was muted."""
    if old.matchers != new.matchers:
        return False
    state = old.state(now)
    if state == "active":
        # Alertmanager compares whole seconds: clients round-trip times with less precision.
        return int(new.starts_at) == int(old.starts_at) and new.ends_at >= now
    if state == "pending":
        return new.starts_at >= now
    return False


def filter_matches(silence: Silence, matchers: Sequence[Matcher]) -> bool:
    """The API's silence filter: every filter matcher appears verbatim among the silence's."""
    return all(wanted in silence.matchers for wanted in matchers)


def sort_key(silence: Silence, now: float) -> tuple[int, float]:
    """Alertmanager's order: active by soonest end, pending by soonest start, expired newest."""
    state = silence.state(now)
    if state == "active":
        return (STATE_ORDER[state], silence.ends_at)
    if state == "pending":
        return (STATE_ORDER[state], silence.starts_at)
    return (STATE_ORDER[state], -silence.ends_at)


class Silences:
    def __init__(
        self,
        path: Path | None,
        clock: Callable[[], float] = time.time,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.path = path
        self.clock = clock
        self.retention_seconds = retention_seconds
        self._lock = threading.RLock()
        self._by_id: dict[str, Silence] = {}
        if path is not None:
            self._by_id = {s.id: s for s in load_silences(path)}
        self.gc()

    def set(self, silence: Silence) -> str:
        """Create or update a silence; returns its id, a new one when history would change."""
        with self._lock:
            now = self.clock()
            if silence.starts_at == 0.0:
                silence = replace(silence, starts_at=now)
            validate_silence(silence)
            previous = self._by_id.get(silence.id) if silence.id else None
            if silence.id and previous is None:
                raise NotFoundError(f"silence {silence.id} not found")
            if previous is not None and can_update(previous, silence, now):
                self._by_id[silence.id] = replace(silence, updated_at=now)
                self._persist()
                return silence.id
            created = replace(
                silence, id=str(uuid.uuid4()), starts_at=max(silence.starts_at, now), updated_at=now
            )
            if previous is not None and previous.state(now) != "expired":
                self._by_id[previous.id] = _expired(previous, now)
            self._by_id[created.id] = created
            self._persist()
            return created.id

    def expire(self, silence_id: str) -> None:
        with self._lock:
            now = self.clock()
            silence = self.get(silence_id)
            if silence.state(now) == "expired":
                raise BadRequestError(f"silence {silence_id} already expired")
            self._by_id[silence_id] = _expired(silence, now)
            self._persist()

    def get(self, silence_id: str) -> Silence:
        with self._lock:
            silence = self._by_id.get(silence_id)
        if silence is None:
            raise NotFoundError(f"silence {silence_id} not found")
        return silence

    def query(
        self, state: SilenceState | None = None, matchers: Sequence[Matcher] | None = None
    ) -> list[Silence]:
        """Silences in `state` (all when None) that carry every one of `matchers`, in AM's order."""
        now = self.clock()
        with self._lock:
            found = [
                silence
                for silence in self._by_id.values()
                if (state is None or silence.state(now) == state)
                and filter_matches(silence, matchers or ())
            ]
        return sorted(found, key=lambda silence: sort_key(silence, now))

    def mutes(self, labels: Mapping[str, str]) -> list[str]:
        """Ids of the active silences that mute `labels`, sorted."""
        now = self.clock()
        with self._lock:
            silences = list(self._by_id.values())
        return sorted(s.id for s in silences if s.state(now) == "active" and s.matches(labels))

    def gc(self) -> int:
        """Forget silences that ended more than the retention ago; returns how many."""
        with self._lock:
            horizon = self.clock() - self.retention_seconds
            old = [sid for sid, s in self._by_id.items() if s.ends_at <= horizon]
            for silence_id in old:
                del self._by_id[silence_id]
            if old:
                self._persist()
            return len(old)

    def _persist(self) -> None:
        if self.path is not None:
            write_atomically(self.path, dump_silences(list(self._by_id.values())))


def _expired(silence: Silence, now: float) -> Silence:
    if silence.state(now) == "pending":
        return replace(silence, starts_at=now, ends_at=now, updated_at=now)
    return replace(silence, ends_at=now, updated_at=now)


# ------------------------------------------------------------------ persistence


def dump_silences(silences: list[Silence]) -> bytes:
    document = {"version": FILE_VERSION, "silences": [_to_json(s) for s in silences]}
    return json.dumps(document, indent=1, sort_keys=True).encode()


def load_silences(path: Path) -> list[Silence]:
    """The silences saved at `path`; an unreadable file is moved aside, never silently reused."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    try:
        document = json.loads(text)
        return [_from_json(item) for item in document["silences"]]
    except (ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        log.error("cannot load silences from %s (%s); moved it to %s", path, exc, aside)
        with contextlib.suppress(OSError):
            path.rename(aside)
        return []


def _to_json(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": [
            {"name": m.name, "type": m.type.value, "value": m.value} for m in silence.matchers
        ],
        "startsAt": silence.starts_at,
        "endsAt": silence.ends_at,
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "updatedAt": silence.updated_at,
    }


def _from_json(item: dict[str, Any]) -> Silence:
    return Silence(
        id=str(item["id"]),
        matchers=tuple(
            Matcher(str(m["name"]), MatchType(m["type"]), str(m["value"])) for m in item["matchers"]
        ),
        starts_at=float(item["startsAt"]),
        ends_at=float(item["endsAt"]),
        created_by=str(item["createdBy"]),
        comment=str(item["comment"]),
        updated_at=float(item["updatedAt"]),
    )
