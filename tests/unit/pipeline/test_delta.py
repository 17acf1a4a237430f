from __future__ import annotations

import threading

import pytest

from observatory.pipeline.delta import DeltaToCumulative

T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


def test_deltas_add_up_per_key() -> None:
    deltas = DeltaToCumulative()
    assert deltas.accumulate("acme", 1, T0, {"count": 2.0, "sum": 0.5}) == {
        "count": 2.0,
        "sum": 0.5,
    }
    assert deltas.accumulate("acme", 1, T0 + SECOND, {"count": 3.0, "sum": 1.0}) == {
        "count": 5.0,
        "sum": 1.5,
    }


def test_only_the_keys_given_are_returned() -> None:
    deltas = DeltaToCumulative()
    deltas.accumulate("acme", 1, T0, {"a": 1.0, "b": 1.0})
    assert deltas.accumulate("acme", 1, T0 + SECOND, {"b": 2.0}) == {"b": 3.0}
    assert deltas.accumulate("acme", 1, T0 + 2 * SECOND, {"a": 1.0}) == {"a": 2.0}


def test_tenants_and_series_are_separate() -> None:
    deltas = DeltaToCumulative()
    deltas.accumulate("acme", 1, T0, {"": 1.0})
    assert deltas.accumulate("other", 1, T0, {"": 10.0}) == {"": 10.0}
    assert deltas.accumulate("acme", 2, T0, {"": 100.0}) == {"": 100.0}
    assert deltas.accumulate("acme", 1, T0 + SECOND, {"": 1.0}) == {"": 2.0}
    assert deltas.series == 3


def test_an_older_point_is_refused_and_leaves_the_total_alone() -> None:
    deltas = DeltaToCumulative()
    deltas.accumulate("acme", 1, T0 + 10 * SECOND, {"": 4.0})
    assert deltas.accumulate("acme", 1, T0 + 5 * SECOND, {"": 100.0}) is None
    assert deltas.out_of_order == 1
    assert deltas.accumulate("acme", 1, T0 + 10 * SECOND, {"": 1.0}) == {"": 5.0}


def test_the_least_recently_updated_series_is_evicted() -> None:
    deltas = DeltaToCumulative(max_series=2)
    deltas.accumulate("acme", 1, T0, {"": 1.0})
    deltas.accumulate("acme", 2, T0, {"": 1.0})
    deltas.accumulate("acme", 1, T0 + SECOND, {"": 1.0})
    deltas.accumulate("acme", 3, T0, {"": 1.0})
    assert deltas.series == 2
    assert deltas.evicted == 1
    assert deltas.accumulate("acme", 1, T0 + 2 * SECOND, {"": 1.0}) == {"": 3.0}
    # Series 2 was forgotten, so it starts again from its new delta.
    assert deltas.accumulate("acme", 2, T0 + 2 * SECOND, {"": 1.0}) == {"": 1.0}


def test_concurrent_updates_are_not_lost() -> None:
    deltas = DeltaToCumulative()

    def add() -> None:
        for _ in range(1000):
            deltas.accumulate("acme", 1, T0, {"": 1.0})

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert deltas.accumulate("acme", 1, T0, {"": 0.0}) == {"": 8000.0}


def test_max_series_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_series"):
        DeltaToCumulative(max_series=0)
