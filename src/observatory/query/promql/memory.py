"""A series source held in memory, for tests and the conformance runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from observatory.query.promql.labels import Labels, from_mapping, get
from observatory.query.promql.regex import full_match
from observatory.query.promql.source import LabelMatcher, RawSeries


@dataclass
class _Stored:
    timestamps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    histogram_times: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def matches(labels: Labels, matcher: LabelMatcher) -> bool:
    """Whether a label set satisfies one matcher; a missing label has the empty value."""
    value = get(labels, matcher.name)
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = full_match(matcher.value, value)
    return found if matcher.op == "=~" else not found


def _merge(old_t: np.ndarray, old_v: np.ndarray, t: np.ndarray, v: np.ndarray) -> _Stored:
    times = np.concatenate([old_t, t])
    values = np.concatenate([old_v, v])
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    # On a repeated timestamp the sample added last wins.
    last = np.append(times[1:] != times[:-1], True)
    return _Stored(times[last], values[last])


class InMemorySource:
    """Implements SeriesSource over series added with `add`."""

    def __init__(self) -> None:
        self._series: dict[Labels, _Stored] = {}

    def add(
        self, labels: dict[str, str], timestamps_ms: Sequence[int], values: Sequence[float]
    ) -> None:
        key = from_mapping(labels)
        stored = self._series.get(key, _Stored())
        merged = _merge(
            stored.timestamps,
            stored.values,
            np.asarray(timestamps_ms, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
        )
        merged.histogram_times = stored.histogram_times
        self._series[key] = merged

    def add_native_histograms(self, labels: dict[str, str], timestamps_ms: Sequence[int]) -> None:
        """Records that a series holds native-histogram samples at these times (values unknown)."""
        key = from_mapping(labels)
        stored = self._series.setdefault(key, _Stored())
        extra = np.asarray(timestamps_ms, dtype=np.int64)
        stored.histogram_times = np.union1d(stored.histogram_times, extra)

    def clear(self) -> None:
        self._series.clear()

    def select(
        self, matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int
    ) -> list[RawSeries]:
        out: list[RawSeries] = []
        for key in sorted(self._series):
            if all(matches(key, m) for m in matchers):
                out.append(self._window(key, self._series[key], start_ms, end_ms))
        return out

    @staticmethod
    def _window(key: Labels, stored: _Stored, start_ms: int, end_ms: int) -> RawSeries:
        lo, hi = np.searchsorted(stored.timestamps, [start_ms, end_ms + 1], side="left")
        hist = stored.histogram_times
        in_range = bool(np.any((hist >= start_ms) & (hist <= end_ms)))
        return RawSeries(
            dict(key),
            stored.timestamps[lo:hi],
            stored.values[lo:hi],
            has_native_histograms=in_range,
        )
