"""Runs query work off the event loop within a concurrency limit and a time limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from observatory.errors import QueryTimeoutError, TooManyQueriesError

T = TypeVar("T")


class QueryRunner:
    def __init__(self, max_concurrency: int, timeout_seconds: float) -> None:
        self.max_concurrency = max_concurrency
        self.timeout_seconds = timeout_seconds
        self._slots = asyncio.Semaphore(max_concurrency)

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a thread; 503 when all slots are busy or it runs past the limit."""
        if self._slots.locked():
            raise TooManyQueriesError(
                f"too many concurrent queries (limit {self.max_concurrency}, "
                "setting query_max_concurrency); retry later"
            )
        async with self._slots:
            try:
                return await asyncio.wait_for(asyncio.to_thread(work), self.timeout_seconds)
            except TimeoutError:
                raise QueryTimeoutError(
                    "query timed out in expression evaluation (limit "
                    f"{self.timeout_seconds:g}s, setting query_timeout_seconds)"
                ) from None
