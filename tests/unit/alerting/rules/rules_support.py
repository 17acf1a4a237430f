"""Shared pieces of the rule tests: a PromQL query function over series in memory, a stand-in
template expander, and a fake clock whose sleeps the test releases."""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Mapping
from typing import Any

from observatory.alerting.rules import QueryFunc, Sample
from observatory.alerting.rules.group import RuleGroup, engine_query
from observatory.alerting.rules.loader import GroupSpec, parse_rule_file
from observatory.query.promql.engine import PromqlEngine
from observatory.query.promql.memory import InMemorySource

T0 = 1_700_000_040_000  # a whole minute, in ms
MINUTE = 60_000
_ACTION = re.compile(r"\{\{\s*(\$labels\.(\w+)|\$value)\s*\}\}")


def fake_expand(
    text: str,
    *,
    name: str,
    labels: Mapping[str, str],
    value: float,
    external_labels: Mapping[str, str],
    external_url: str,
    timestamp_ms: int,
    query: QueryFunc | None,
) -> str:
    """Enough of Prometheus's templates for these tests: `{{ $labels.x }}` and `{{ $value }}`."""

    def one(found: re.Match[str]) -> str:
        return labels.get(found.group(2), "") if found.group(2) else f"{value:g}"

    return _ACTION.sub(one, text)


def no_check(text: str, name: str) -> None:
    pass


def specs(text: str, file: str = "rules.yml") -> list[GroupSpec]:
    groups, errors = parse_rule_file(text, file, check_template=no_check)
    assert not errors, errors
    return groups


def query_over(source: InMemorySource) -> QueryFunc:
    return engine_query(PromqlEngine(source))


def series(
    source: InMemorySource, labels: dict[str, str], values: list[float], start_ms: int = T0
) -> None:
    """One sample per minute from `start_ms`."""
    source.add(labels, [start_ms + i * MINUTE for i in range(len(values))], values)


def make_group(text: str, source: InMemorySource, **options: Any) -> RuleGroup:
    (spec,) = specs(text)
    return RuleGroup(spec, query_over(source), expand=fake_expand, **options)


def named(samples: list[Sample], name: str) -> list[Sample]:
    return sorted(
        (s for s in samples if s[0]["__name__"] == name), key=lambda s: sorted(s[0].items())
    )


class FakeTime:
    """A wall clock that only moves when the test says, with sleeps it releases in order."""

    def __init__(self, now: float) -> None:
        self.now = now
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (self.now + max(0.0, delay), self._seq, future))
        await future

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    async def settle(self, sleepers: int) -> None:
        """Lets tasks run (evaluations run in threads) until `sleepers` of them sleep."""
        for _ in range(2000):
            if self.sleepers >= sleepers:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"only {self.sleepers} of {sleepers} tasks went to sleep")

    async def advance(self, until: float, sleepers: int = 1) -> None:
        """Moves the clock to `until`, waking each sleep that ends by then, in order."""
        await self.settle(sleepers)
        while self._waiters and self._waiters[0][0] <= until:
            when, _, future = heapq.heappop(self._waiters)
            self.now = max(self.now, when)
            if not future.done():
                future.set_result(None)
            await self.settle(sleepers)
        self.now = max(self.now, until)
