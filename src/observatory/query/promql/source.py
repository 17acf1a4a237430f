"""Where the engine reads samples from: raw series, label matchers and the source protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from observatory.errors import QueryExecutionError

# Prometheus marks the end of a series with this exact NaN payload; any other NaN is a value.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = float(np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0])


@dataclass
class RawSeries:
    labels: dict[str, str]  # includes "__name__"
    timestamps: np.ndarray  # int64 milliseconds, ascending
    values: np.ndarray  # float64; stale markers are the NaN with bits 0x7ff0000000000002
    # Set by a source that also holds native-histogram samples for this series in the range;
    # the engine refuses such data rather than computing a wrong number from the floats alone.
    has_native_histograms: bool = False


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str


class SeriesSource(Protocol):
    def select(
        self, matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int
    ) -> list[RawSeries]:
        """Every series matching all matchers, with its samples in [start_ms, end_ms] inclusive."""
        ...


class NativeHistogramError(QueryExecutionError):
    """The query reached native-histogram samples, which this engine does not evaluate."""


def stale_mask(values: np.ndarray) -> np.ndarray:
    """True where a value is a Prometheus stale marker."""
    bits = np.asarray(values, dtype=np.float64).view(np.uint64)
    return np.asarray(bits == STALE_NAN_BITS, dtype=bool)
