"""The memory limiter: refuse ingest while the process is above its memory limit."""

from __future__ import annotations

import time

import psutil

from observatory.errors import MemoryLimitError

CHILDREN_REFRESH_SECONDS = 5.0


class MemoryGuard:
    """Reads the resident set size at most every `interval` seconds; reading is cheap but not
    free, and memory cannot move far in that time at ingest rates."""

    def __init__(self, limit_bytes: int, interval: float = 0.1) -> None:
        self.limit_bytes = limit_bytes
        self._interval = interval
        self._process = psutil.Process()
        self._checked_at = 0.0
        self._rss = 0
        self._children_cache: list[psutil.Process] = []
        self._children_listed_at = -CHILDREN_REFRESH_SECONDS

    def rss(self) -> int:
        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            self._rss = self._resident_bytes()
            self._checked_at = now
        return self._rss

    def _resident_bytes(self) -> int:
        """This process and its worker processes: they all count against the limit."""
        total = self._process.memory_info().rss
        for child in self._children():
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue  # it exited since it was listed
        return total

    def _children(self) -> list[psutil.Process]:
        # Listing children scans every process on the machine; workers change rarely.
        now = time.monotonic()
        if now - self._children_listed_at >= CHILDREN_REFRESH_SECONDS:
            self._children_cache = self._process.children()
            self._children_listed_at = now
        return self._children_cache

    def check(self) -> None:
        rss = self.rss()
        if rss > self.limit_bytes:
            raise MemoryLimitError(
                f"memory limit reached: {rss // 2**20} MiB resident, limit "
                f"{self.limit_bytes // 2**20} MiB (setting memory_limit_bytes); retry later"
            )
