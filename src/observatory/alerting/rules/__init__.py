"""Rule evaluation: recording and alerting rules.

The vocabulary every module of the package shares lives here, so the rule kinds, the group and
the manager import it without importing each other: what a rule reads (an instant query), what
it writes (samples), how it expands templates, and the error a rule evaluation fails with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from observatory.errors import QueryExecutionError

# An instant vector as rules see it: labels (with `__name__` when the series has one) and value.
Vector: TypeAlias = list[tuple[dict[str, str], float]]
# An instant query: (expression, evaluation time in ms) -> vector; a scalar result is one
# sample without labels. Raises ObservatoryError when the query fails.
QueryFunc: TypeAlias = Callable[[str, int], Vector]
# A sample a rule writes: labels including `__name__`, timestamp in ms, value.
Sample: TypeAlias = tuple[dict[str, str], int, float]
# A label set as a hashable key, sorted by name.
LabelKey: TypeAlias = tuple[tuple[str, str], ...]


class ExpandFunc(Protocol):
    """Prometheus's alert template expansion (`templates.expand_template`)."""

    def __call__(
        self,
        text: str,
        *,
        name: str,
        labels: Mapping[str, str],
        value: float,
        external_labels: Mapping[str, str],
        external_url: str,
        timestamp_ms: int,
        query: QueryFunc | None,
    ) -> str: ...


class RuleEvaluationError(QueryExecutionError):
    """A rule's query ran but its result cannot be used: duplicate label sets, a limit."""

    reason = "rule_evaluation"


@dataclass(frozen=True)
class EvalContext:
    """What a rule needs from its group to evaluate once."""

    query: QueryFunc
    expand: ExpandFunc
    external_labels: Mapping[str, str]
    external_url: str
    query_offset_ms: int = 0
    limit: int = 0  # 0: no limit


def label_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


@dataclass
class RuleRun:
    """How a rule's last evaluation went, as the rules API shows it."""

    health: str = "unknown"  # "ok" | "err" | "unknown" (not evaluated yet)
    last_error: str = ""
    evaluation_seconds: float = 0.0
    last_evaluation: float | None = None  # wall-clock start of the last evaluation, seconds

    def record(self, started: float, finished: float, error: str | None) -> None:
        self.health = "ok" if error is None else "err"
        self.last_error = error or ""
        self.evaluation_seconds = max(0.0, finished - started)
        self.last_evaluation = started
