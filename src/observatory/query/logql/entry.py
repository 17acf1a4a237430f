"""The log entry a pipeline works on, and the shape of a compiled stage."""

from __future__ import annotations

from collections.abc import Callable

ERROR_LABEL = "__error__"
ERROR_DETAILS_LABEL = "__error_details__"


class Entry:
    """One log entry in flight: its time, its (rewritable) line and its labels.

    `original` holds the names the entry came with; parsers suffix an extracted name that
    collides with one of them with `_extracted`, as Loki does for stream labels.
    """

    __slots__ = ("labels", "line", "original", "timestamp_ns")

    def __init__(self, timestamp_ns: int, line: str, labels: dict[str, str]) -> None:
        self.timestamp_ns = timestamp_ns
        self.line = line
        self.labels = labels
        self.original = frozenset(labels)


# A stage mutates the entry and says whether it is kept.
Stage = Callable[[Entry], bool]
