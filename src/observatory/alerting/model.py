"""What rule evaluation hands to notification: alerts, as Alertmanager models them.

Times are Unix seconds (float). An alert is resolved once `ends_at` is in the past; a firing
alert carries an `ends_at` in the future that the sender keeps pushing forward while the
alert fires (Prometheus sends 4 x the evaluation interval), so an alert whose sender
disappears resolves on its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class MatchType(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@lru_cache(maxsize=4096)
def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(f"(?:{pattern})\\Z", re.DOTALL)


@dataclass(frozen=True)
class Matcher:
    """A label matcher of routes, inhibit rules and silences; regexes are fully anchored."""

    name: str
    type: MatchType
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.type is MatchType.EQ:
            return actual == self.value
        if self.type is MatchType.NE:
            return actual != self.value
        found = _anchored(self.value).match(actual) is not None
        return found if self.type is MatchType.RE else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'


def matches_all(matchers: tuple[Matcher, ...] | list[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit id of a label set, as Alertmanager shows alert fingerprints."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()


@dataclass
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float = 0.0  # 0: not set (the receiver picks a resolve timeout)
    generator_url: str = ""
    updated_at: float = 0.0

    @property
    def fingerprint(self) -> str:
        return label_fingerprint(self.labels)

    def resolved(self, now: float) -> bool:
        return self.ends_at != 0.0 and self.ends_at <= now

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")
