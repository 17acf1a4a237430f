"""Dense values of LogQL metric expressions, over all evaluation steps at once.

A vector holds one row per series and one column per step, with a mask telling at which steps
the series has a value; a scalar holds one value per step. Label sets are sorted tuples of
(name, value) pairs, so they hash, compare and sort the way Prometheus orders series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from observatory.errors import QueryExecutionError

Labels = tuple[tuple[str, str], ...]

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """A label set; empty values are dropped, as a label with an empty value does not exist."""
    return tuple(sorted((k, v) for k, v in mapping.items() if v != ""))


def get_label(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def keep_labels(labels: Labels, names: Iterable[str]) -> Labels:
    wanted = set(names)
    return tuple(pair for pair in labels if pair[0] in wanted)


def drop_labels(labels: Labels, names: Iterable[str]) -> Labels:
    unwanted = set(names)
    return tuple(pair for pair in labels if pair[0] not in unwanted)


def set_label(labels: Labels, name: str, value: str) -> Labels:
    rest = {k: v for k, v in labels if k != name}
    rest[name] = value
    return labels_of(rest)


@dataclass
class Vector:
    labels: list[Labels]
    values: np.ndarray  # float64 (series, steps)
    present: np.ndarray  # bool (series, steps)

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    def take(self, rows: np.ndarray | list[int]) -> Vector:
        """The vector restricted to some rows, in the given order."""
        index = np.asarray(rows, dtype=np.int64)
        return Vector(
            [self.labels[i] for i in index.tolist()], self.values[index], self.present[index]
        )

    def live_rows(self) -> int:
        """How many series have a value at one step at least."""
        return int(np.count_nonzero(self.present.any(axis=1))) if self.labels else 0


@dataclass
class Scalar:
    values: np.ndarray  # float64 (steps,)


Value = Vector | Scalar


def empty_vector(steps: int) -> Vector:
    return Vector([], np.zeros((0, steps)), np.zeros((0, steps), dtype=bool))


def stack_rows(
    labels: list[Labels], values: list[np.ndarray], masks: list[np.ndarray], steps: int
) -> Vector:
    """Rows of values and masks as one vector, also when there are none."""
    if not labels:
        return empty_vector(steps)
    return Vector(labels, np.vstack(values), np.vstack(masks))


def merge_same_labels(vec: Vector, message: str = DUPLICATE_LABELSET) -> Vector:
    """Rows with equal label sets become one; they may not both have a value at one step."""
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
                raise QueryExecutionError(message)
            values[first] = np.where(present[other], values[other], values[first])
            present[first] |= present[other]
        keep.append(first)
    return Vector(vec.labels, values, present).take(keep)


def drop_empty_rows(vec: Vector) -> Vector:
    """The vector without the series that have no value at any step."""
    if not vec.labels:
        return vec
    live = np.flatnonzero(vec.present.any(axis=1))
    return vec if len(live) == len(vec.labels) else vec.take(live)


def sorted_by_labels(vec: Vector) -> Vector:
    order = sorted(range(len(vec.labels)), key=vec.labels.__getitem__)
    return vec.take(order)
