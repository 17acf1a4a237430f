"""The notification log: what each receiver was last told about each alert group.

An entry per (receiver integration, group key) holds when the last successful notification
went out and which alerts it reported firing and resolved. Before sending, the pipeline asks
`needs_update` with Alertmanager's rules; after a successful send it calls `log`, which
writes the whole log to its file atomically, so after a restart (even a `kill -9`) the same
alerts are not notified again before the repeat interval, and nothing sent is forgotten.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Set
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from observatory.durable import write_atomically

DEFAULT_RETENTION_SECONDS = 120 * 3600.0
_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


class NotifyReason(StrEnum):
    """Why a group must (or need not) be notified; the names are Alertmanager's."""

    NONE = "none"
    FIRST = "first notification"
    NEW_ALERTS = "new alerts added"
    NEW_RESOLVED = "some alerts resolved"
    ALL_RESOLVED = "all alerts resolved"
    REPEAT = "repeat interval elapsed"

    @property
    def notify(self) -> bool:
        return self is not NotifyReason.NONE


@dataclass(frozen=True)
class NotificationEntry:
    receiver: str
    group_key: str
    timestamp: float
    firing: frozenset[str]
    resolved: frozenset[str]
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "timestamp": self.timestamp,
            "firing": sorted(self.firing),
            "resolved": sorted(self.resolved),
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NotificationEntry:
        return cls(
            receiver=str(raw["receiver"]),
            group_key=str(raw["group_key"]),
            timestamp=float(raw["timestamp"]),
            firing=frozenset(str(fp) for fp in raw["firing"]),
            resolved=frozenset(str(fp) for fp in raw["resolved"]),
            expires_at=float(raw["expires_at"]),
        )


def decide(
    entry: NotificationEntry | None,
    firing: Set[str],
    resolved: Set[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> NotifyReason:
    """Alertmanager's dedup rules for one receiver and one group flush."""
    if entry is None:
        return NotifyReason.FIRST if firing else NotifyReason.NONE
    if not firing <= entry.firing:
        # After a notification that resolved everything, new alerts start afresh.
        return NotifyReason.NEW_ALERTS if entry.firing else NotifyReason.FIRST
    if not firing:
        # Sent whatever send_resolved says, so the firing alerts leave the log; if the last
        # notification had none firing either, the receiver never heard of these alerts.
        return NotifyReason.ALL_RESOLVED if entry.firing else NotifyReason.NONE
    if send_resolved and not resolved <= entry.resolved:
        return NotifyReason.NEW_RESOLVED
    if entry.timestamp < now - repeat_interval:
        return NotifyReason.REPEAT
    return NotifyReason.NONE


class NotificationLog:
    """The log, kept in memory and in a JSON file at `path` (None: memory only)."""

    def __init__(
        self,
        path: Path | None,
        clock: Callable[[], float] = time.time,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.path = path
        self.clock = clock
        self.retention_seconds = retention_seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], NotificationEntry] = {}
        self._load()

    def query(self, receiver: str, group_key: str) -> NotificationEntry | None:
        entry = self._entries.get((receiver, group_key))
        if entry is None or entry.expires_at <= self.clock():
            return None
        return entry

    def entries(self) -> list[NotificationEntry]:
        now = self.clock()
        return [e for e in self._entries.values() if e.expires_at > now]

    def reason(
        self,
        receiver: str,
        group_key: str,
        firing: Set[str],
        resolved: Set[str],
        *,
        send_resolved: bool,
        repeat_interval: float,
    ) -> NotifyReason:
        entry = self.query(receiver, group_key)
        return decide(
            entry,
            firing,
            resolved,
            send_resolved=send_resolved,
            repeat_interval=repeat_interval,
            now=self.clock(),
        )

    def needs_update(
        self,
        receiver: str,
        group_key: str,
        firing: Set[str],
        resolved: Set[str],
        *,
        send_resolved: bool,
        repeat_interval: float,
    ) -> bool:
        return self.reason(
            receiver,
            group_key,
            firing,
            resolved,
            send_resolved=send_resolved,
            repeat_interval=repeat_interval,
        ).notify

    def log(
        self,
        receiver: str,
        group_key: str,
        firing: Set[str],
        resolved: Set[str],
        expiry_seconds: float = 0.0,
    ) -> None:
        """Records a successful notification and persists the log before returning.

        The entry lives for the retention, or for `expiry_seconds` when that is shorter
        (the pipeline passes twice the repeat interval, as Alertmanager does).
        """
        now = self.clock()
        lifetime = self.retention_seconds
        if 0 < expiry_seconds < lifetime:
            lifetime = expiry_seconds
        entry = NotificationEntry(
            receiver, group_key, now, frozenset(firing), frozenset(resolved), now + lifetime
        )
        with self._lock:
            self._entries[(receiver, group_key)] = entry
            self._save()

    def gc(self) -> int:
        """Drops expired entries; returns how many."""
        now = self.clock()
        with self._lock:
            expired = [key for key, e in self._entries.items() if e.expires_at <= now]
            for key in expired:
                del self._entries[key]
            if expired:
                self._save()
        return len(expired)

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = [NotificationEntry.from_json(item) for item in raw["entries"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Losing the log can at worst repeat notifications; refusing to start is worse.
            log.error("notification log %s is unreadable, starting empty: %s", self.path, exc)
            return
        now = self.clock()
        self._entries = {(e.receiver, e.group_key): e for e in entries if e.expires_at > now}

    def _save(self) -> None:
        if self.path is None:
            return
        body = {
            "version": _FORMAT_VERSION,
            "entries": [e.to_json() for e in self._entries.values()],
        }
        write_atomically(self.path, json.dumps(body, separators=(",", ":")).encode())
