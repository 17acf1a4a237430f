"""Loki's ingest limits: entry checks by retention tier, active streams, the rate bucket."""

from __future__ import annotations

import pytest

from observatory.errors import RateLimitedError, StreamLimitError
from observatory.receivers.loki.limits import (
    DAY_NS,
    NS,
    EntryLimits,
    RateLimiter,
    StreamTracker,
    format_ns,
)

NOW = 1_714_564_800 * NS  # 2024-05-01T12:00:00Z
LIMITS = EntryLimits(max_line_bytes=100, max_labels=15, error_days=90, info_days=30, debug_days=7)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def check(timestamp: int, severity: int = 9, size: int = 10) -> str | None:
    problem = LIMITS.check('{app="x"}', timestamp, severity, size, NOW)
    return problem[0] if problem else None


def test_entries_within_limits_pass() -> None:
    assert check(NOW) is None
    assert check(NOW - 29 * DAY_NS) is None
    assert check(NOW + 9 * 60 * NS) is None
    assert check(NOW, size=100) is None


@pytest.mark.parametrize(
    ("severity", "days"),
    [(0, 30), (9, 30), (13, 30), (1, 7), (5, 7), (17, 90), (21, 90)],
)
def test_too_old_follows_the_retention_tier_of_the_severity(severity: int, days: int) -> None:
    assert check(NOW - days * DAY_NS + NS, severity) is None
    assert check(NOW - days * DAY_NS - NS, severity) == "greater_than_max_sample_age"


def test_messages_name_stream_times_and_settings() -> None:
    _, old = LIMITS.check('{app="x"}', NOW - 8 * DAY_NS, 5, 1, NOW) or ("", "")
    assert old == (
        "entry for stream '{app=\"x\"}' has timestamp too old: 2024-04-23T12:00:00Z, oldest "
        "acceptable timestamp is: 2024-04-24T12:00:00Z (7 days of retention, setting "
        "retention_logs_debug_days)"
    )
    reason, new = LIMITS.check("s", NOW + 11 * 60 * NS, 9, 1, NOW) or ("", "")
    assert reason == "too_far_in_future"
    assert "has timestamp too new: 2024-05-01T12:11:00Z" in new
    reason, long = LIMITS.check("s", NOW, 9, 101, NOW) or ("", "")
    assert reason == "line_too_long"
    assert "'100' bytes exceeded" in long and "length '101' bytes" in long
    assert "logs_max_line_bytes" in long


def test_format_ns() -> None:
    assert format_ns(NOW + 123_000_000) == "2024-05-01T12:00:00.123Z"
    assert format_ns(0) == "1970-01-01T00:00:00Z"
    assert format_ns(10**30) == f"{10**30}ns"


def test_stream_limit_counts_only_new_streams() -> None:
    tracker = StreamTracker(3, clock=FakeClock())
    tracker.check("t", {1, 2})
    tracker.record("t", {1, 2})
    tracker.check("t", {1, 2, 3})  # one new: 3 of 3
    tracker.record("t", {3})
    tracker.check("t", {1, 2, 3})  # none new
    with pytest.raises(StreamLimitError, match="3 active streams and this push adds 1") as caught:
        tracker.check("t", {3, 4})
    assert caught.value.http_status == 429
    assert caught.value.reason == "stream_limit"
    assert caught.value.retry_after_seconds > 0
    # Limits are per tenant.
    tracker.check("other", {4, 5, 6})


def test_streams_idle_for_an_hour_stop_counting() -> None:
    clock = FakeClock()
    tracker = StreamTracker(2, clock=clock)
    tracker.record("t", {1, 2})
    clock.now += 1800
    tracker.record("t", {2})
    clock.now += 1801  # stream 1 idle for over an hour, stream 2 for half an hour
    tracker.check("t", {3})
    assert tracker.active("t") == 1
    tracker.record("t", {3})
    with pytest.raises(StreamLimitError):
        tracker.check("t", {4})


def test_rate_limit_bucket_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_bytes=100, burst_bytes=300, clock=clock)
    limiter.take("t", 300, 3)
    with pytest.raises(RateLimitedError) as caught:
        limiter.take("t", 150, 2)
    assert caught.value.http_status == 429 and caught.value.reason == "rate_limited"
    assert caught.value.retry_after_seconds == 2  # 150 bytes at 100 bytes/s
    assert "attempting to ingest 2 lines totaling 150 bytes" in caught.value.message
    clock.now += 1.5
    limiter.take("t", 150, 2)
    limiter.take("other", 300, 1)  # buckets are per tenant


def test_a_push_over_the_burst_is_told_to_shrink() -> None:
    limiter = RateLimiter(rate_bytes=100, burst_bytes=300, clock=FakeClock())
    with pytest.raises(RateLimitedError, match="larger than the burst"):
        limiter.take("t", 301, 1)
