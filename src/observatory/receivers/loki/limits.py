"""Loki's ingest limits: per entry (line size, timestamps), per tenant (streams, rate).

Entry checks drop the entries that fail them and keep the rest, as Loki does, and the push is
answered 400 naming them. Tenant limits refuse a push whole with 429, before anything of it is
written, so the client's retry cannot store an entry twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from observatory.errors import RateLimitedError, StreamLimitError
from observatory.settings import MIB, Settings

NS = 1_000_000_000
DAY_NS = 86_400 * NS
# Loki's creation_grace_period: how far ahead of this clock a sender's clock may run.
CREATION_GRACE_NS = 10 * 60 * NS
ACTIVE_STREAM_SECONDS = 3600.0
# Pruning the active streams of a tenant walks all of them; once a minute is plenty.
_PRUNE_EVERY_SECONDS = 60.0

Clock = Callable[[], float]


def format_ns(timestamp: int) -> str:
    """A Unix time in nanoseconds as RFC 3339 (UTC), or the raw number when out of range."""
    try:
        moment = datetime.fromtimestamp(timestamp // NS, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{timestamp}ns"
    fraction = f".{timestamp % NS:09d}".rstrip("0").rstrip(".")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


@dataclass(frozen=True)
class EntryLimits:
    """What every entry is checked against; plain data, read in the decoding thread."""

    max_line_bytes: int
    max_labels: int
    error_days: int
    info_days: int
    debug_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EntryLimits:
        return cls(
            settings.logs_max_line_bytes,
            settings.logs_max_labels_per_stream,
            settings.retention_logs_error_days,
            settings.retention_logs_info_days,
            settings.retention_logs_debug_days,
        )

    def retention(self, severity_number: int) -> tuple[int, str]:
        """Days an entry of this severity is kept, and the setting that says so.

        The same tiers as the store's TTL: older entries would be dropped as they land.
        """
        if severity_number >= 17:
            return self.error_days, "retention_logs_error_days"
        if 1 <= severity_number <= 8:
            return self.debug_days, "retention_logs_debug_days"
        return self.info_days, "retention_logs_info_days"

    def check(
        self, stream: str, timestamp: int, severity_number: int, line_bytes: int, now: int
    ) -> tuple[str, str] | None:
        """(Loki's reason, message) when the entry cannot be stored, else None."""
        days, setting = self.retention(severity_number)
        oldest = now - days * DAY_NS
        if timestamp < oldest:
            return "greater_than_max_sample_age", (
                f"entry for stream '{stream}' has timestamp too old: {format_ns(timestamp)}, "
                f"oldest acceptable timestamp is: {format_ns(oldest)} ({days} days of "
                f"retention, setting {setting})"
            )
        if timestamp > now + CREATION_GRACE_NS:
            return "too_far_in_future", (
                f"entry for stream '{stream}' has timestamp too new: {format_ns(timestamp)} "
                "(more than 10m ahead of the server's clock)"
            )
        if line_bytes > self.max_line_bytes:
            return "line_too_long", (
                f"max entry size '{self.max_line_bytes}' bytes exceeded for stream '{stream}' "
                f"while adding an entry with length '{line_bytes}' bytes "
                "(setting logs_max_line_bytes)"
            )
        return None


@dataclass
class _TenantStreams:
    last_seen: dict[int, float] = field(default_factory=dict)
    pruned_at: float = 0.0


class StreamTracker:
    """The streams each tenant pushed to in the last hour, and their limit."""

    def __init__(
        self,
        max_streams: int,
        window_seconds: float = ACTIVE_STREAM_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.max_streams = max_streams
        self.window_seconds = window_seconds
        self.clock = clock
        self._tenants: dict[str, _TenantStreams] = {}

    def active(self, tenant: str) -> int:
        streams = self._tenants.get(tenant)
        return len(streams.last_seen) if streams is not None else 0

    def check(self, tenant: str, stream_ids: Iterable[int]) -> None:
        """429 when the streams new to the tenant would take it over the limit."""
        streams = self._prune(tenant)
        new = sum(1 for sid in stream_ids if sid not in streams.last_seen)
        if new and len(streams.last_seen) + new > self.max_streams:
            raise StreamLimitError(
                f"Maximum active stream limit exceeded: tenant '{tenant}' has "
                f"{len(streams.last_seen)} active streams and this push adds {new}, over the "
                f"limit of {self.max_streams} (setting logs_max_streams_per_tenant); reduce "
                "the number of streams (fewer labels or label values) or raise the limit"
            )

    def record(self, tenant: str, stream_ids: Iterable[int]) -> None:
        now = self.clock()
        last_seen = self._tenants.setdefault(tenant, _TenantStreams(pruned_at=now)).last_seen
        for sid in stream_ids:
            last_seen[sid] = now

    def _prune(self, tenant: str) -> _TenantStreams:
        now = self.clock()
        streams = self._tenants.setdefault(tenant, _TenantStreams(pruned_at=now))
        if now - streams.pruned_at >= _PRUNE_EVERY_SECONDS:
            cutoff = now - self.window_seconds
            streams.last_seen = {s: t for s, t in streams.last_seen.items() if t >= cutoff}
            streams.pruned_at = now
        return streams


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket of bytes per tenant: `rate` bytes a second, up to `burst` at once."""

    def __init__(self, rate_bytes: float, burst_bytes: float, clock: Clock = time.monotonic):
        self.rate = rate_bytes
        self.burst = burst_bytes
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.logs_ingestion_rate_mb * MIB, settings.logs_ingestion_burst_mb * MIB)

    def take(self, tenant: str, size: int, lines: int) -> None:
        """Spend `size` bytes of the tenant's bucket; 429 with the wait when it has too few."""
        now = self.clock()
        bucket = self._buckets.setdefault(tenant, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if size <= bucket.tokens:
            bucket.tokens -= size
            return
        wait = (min(size, self.burst) - bucket.tokens) / self.rate
        advice = (
            "this push alone is larger than the burst: send smaller pushes"
            if size > self.burst
            else "reduce log volume or raise the limit"
        )
        raise RateLimitedError(
            f"Ingestion rate limit exceeded for tenant '{tenant}' (limit: {int(self.rate)} "
            f"bytes/sec, burst {int(self.burst)} bytes) while attempting to ingest {lines} "
            f"lines totaling {size} bytes (settings logs_ingestion_rate_mb, "
            f"logs_ingestion_burst_mb); {advice}",
            retry_after=max(1, math.ceil(wait)),
        )
