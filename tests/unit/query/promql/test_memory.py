from __future__ import annotations

import numpy as np

from observatory.query.promql import InMemorySource, LabelMatcher


def _source() -> InMemorySource:
    source = InMemorySource()
    source.add({"__name__": "up", "job": "api"}, [0, 10, 20], [1, 2, 3])
    source.add({"__name__": "up", "job": "db"}, [0, 10], [5, 6])
    source.add({"__name__": "down"}, [0], [1])
    return source


def test_select_by_each_matcher_type() -> None:
    source = _source()

    def jobs(*matchers: LabelMatcher) -> list[str]:
        return [s.labels.get("job", "") for s in source.select(matchers, 0, 100)]

    name = LabelMatcher("__name__", "=", "up")
    assert jobs(name) == ["api", "db"]
    assert jobs(name, LabelMatcher("job", "!=", "api")) == ["db"]
    assert jobs(LabelMatcher("job", "=~", "a.*")) == ["api"]
    assert jobs(name, LabelMatcher("job", "!~", "a.*")) == ["db"]
    # A missing label has the empty value.
    assert jobs(LabelMatcher("job", "=", "")) == [""]


def test_select_returns_samples_in_inclusive_window() -> None:
    [series] = _source().select([LabelMatcher("job", "=", "api")], 10, 20)
    assert series.timestamps.tolist() == [10, 20]
    assert series.values.tolist() == [2.0, 3.0]


def test_add_merges_and_later_sample_wins() -> None:
    source = InMemorySource()
    source.add({"__name__": "x"}, [10, 0], [1, 0])
    source.add({"__name__": "x"}, [10, 20], [9, 2])
    [series] = source.select([LabelMatcher("__name__", "=", "x")], 0, 100)
    assert series.timestamps.tolist() == [0, 10, 20]
    assert np.array_equal(series.values, [0.0, 9.0, 2.0])


def test_native_histogram_flag_only_within_range() -> None:
    source = InMemorySource()
    source.add({"__name__": "h"}, [0], [1])
    source.add_native_histograms({"__name__": "h"}, [60_000])
    matcher = [LabelMatcher("__name__", "=", "h")]
    assert not source.select(matcher, 0, 59_999)[0].has_native_histograms
    assert source.select(matcher, 0, 60_000)[0].has_native_histograms


def test_clear() -> None:
    source = _source()
    source.clear()
    assert source.select([LabelMatcher("__name__", "=~", ".+")], 0, 100) == []
