"""Per-query state shared by every node's evaluation: source, limits, clock and annotations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from observatory.errors import QueryExecutionError, QueryTimeoutError
from observatory.query.promql.source import SeriesSource

# Subqueries without an explicit step use Prometheus's default evaluation interval.
DEFAULT_SUBQUERY_STEP_MS = 60_000
TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
TIMED_OUT = "query timed out in expression evaluation"


@dataclass
class QueryContext:
    source: SeriesSource
    lookback_ms: int
    start_ms: int
    end_ms: int
    step_ms: int  # 0 for an instant query
    max_samples: int
    deadline: float  # time.monotonic() value
    samples: int = 0
    annotations: list[str] = field(default_factory=list)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise QueryTimeoutError(TIMED_OUT)

    def charge(self, count: int) -> None:
        """Counts samples held by the query against the limit."""
        self.samples += count
        if self.samples > self.max_samples:
            raise QueryExecutionError(TOO_MANY_SAMPLES)

    def warn(self, message: str) -> None:
        self._note("PromQL warning: " + message)

    def info(self, message: str) -> None:
        self._note("PromQL info: " + message)

    def _note(self, text: str) -> None:
        if text not in self.annotations:
            self.annotations.append(text)


@dataclass(frozen=True)
class Grid:
    """The evaluation timestamps of one (sub)query, in milliseconds."""

    times: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.times)

    @staticmethod
    def span(start_ms: int, end_ms: int, step_ms: int) -> Grid:
        if end_ms < start_ms:
            return Grid(np.empty(0, dtype=np.int64))
        return Grid(np.arange(start_ms, end_ms + 1, max(step_ms, 1), dtype=np.int64))
