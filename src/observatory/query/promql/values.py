"""The values expressions evaluate to, over all evaluation steps at once.

An instant vector is dense: one row per series and one column per step, with a mask telling at
which steps the series has a sample. A range vector keeps each series' raw samples and, per step,
the right edge of the window `(end - range, end]` a range function looks at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from observatory.errors import QueryExecutionError
from observatory.query.promql.labels import Labels, drop_name

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


@dataclass
class InstantVector:
    labels: list[Labels]
    values: np.ndarray  # float64 (series, steps)
    present: np.ndarray  # bool (series, steps)
    # Per series: the node that produced it drops the metric name (evaluate() applies it).
    drop: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # Original sample times, only for the output of a vector selector: timestamp() reads them.
    sample_times: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.drop.shape[0] != len(self.labels):
            self.drop = np.zeros(len(self.labels), dtype=bool)

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    def take(self, rows: np.ndarray | list[int]) -> InstantVector:
        """The vector restricted to some rows, in the given order."""
        index = np.asarray(rows, dtype=np.int64)
        times = None if self.sample_times is None else self.sample_times[index]
        return InstantVector(
            [self.labels[i] for i in index],
            self.values[index],
            self.present[index],
            self.drop[index],
            times,
        )


def any_row(mask: np.ndarray) -> np.ndarray:
    """Per step: whether any row of a (rows, steps) mask is set."""
    return np.asarray(np.any(mask, axis=0), dtype=bool)


def empty_vector(steps: int) -> InstantVector:
    return InstantVector(
        [], np.zeros((0, steps)), np.zeros((0, steps), dtype=bool), np.zeros(0, dtype=bool)
    )


def stack(
    labels: list[Labels], rows: list[np.ndarray], masks: list[np.ndarray], steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of values and masks as (series, steps) arrays, also when there are none."""
    if not rows:
        return np.zeros((0, steps)), np.zeros((0, steps), dtype=bool)
    return np.vstack(rows), np.vstack(masks)


@dataclass
class RangeSeries:
    labels: Labels
    times: np.ndarray  # int64, ascending, stale markers removed
    values: np.ndarray  # float64
    drop: bool = False


@dataclass
class RangeVector:
    series: list[RangeSeries]
    ends: np.ndarray  # int64 (steps,): right edge of each step's window, inclusive
    range_ms: int

    def bounds(self, series: RangeSeries) -> tuple[np.ndarray, np.ndarray]:
        """Per step, the index range [lo, hi) of the series' samples inside the window."""
        lo = np.searchsorted(series.times, self.ends - self.range_ms, side="right")
        hi = np.searchsorted(series.times, self.ends, side="right")
        return lo, hi


Value = InstantVector | RangeVector | np.ndarray | str


def merge_same_labels(vec: InstantVector) -> InstantVector:
    """Rows with equal label sets become one; they may not both have a sample at one step."""
    groups: dict[Labels, list[int]] = {}
    for i, lbl in enumerate(vec.labels):
        groups.setdefault(lbl, []).append(i)
    if len(groups) == len(vec.labels):
        return vec
    values, present = vec.values.copy(), vec.present.copy()
    keep: list[int] = []
    for rows in groups.values():
        first = rows[0]
        for other in rows[1:]:
            if np.any(present[first] & present[other]):
                raise QueryExecutionError(DUPLICATE_LABELSET)
            values[first] = np.where(present[other], values[other], values[first])
            present[first] |= present[other]
        keep.append(first)
    merged = InstantVector(vec.labels, values, present, vec.drop)
    return merged.take(keep)


def finalize_names(vec: InstantVector) -> InstantVector:
    """Flagged rows lose __name__, then rows with equal label sets merge."""
    if not np.any(vec.drop):
        return vec
    labels = [drop_name(lbl) if d else lbl for lbl, d in zip(vec.labels, vec.drop, strict=True)]
    cleaned = InstantVector(labels, vec.values, vec.present, np.zeros(len(labels), dtype=bool))
    return merge_same_labels(cleaned)
