"""The group-commit queue: requests wait together, one insert commits them all.

A request is acknowledged only when the batch holding its data is committed, so an
acknowledged write survives a crash; concurrent requests share one insert, which is what
makes that affordable (an insert has a fixed cost of tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from observatory.errors import QueueFullError, ShuttingDownError, StoreUnavailableError
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import SignalBatch
from observatory.store.protocol import Store

log = logging.getLogger(__name__)

# Tables a batch may touch, in the order they are written: series before their samples, so a
# sample is never committed without the series it points at.
TABLE_ORDER = ("series", "metric_metadata", "samples", "spans", "logs")

Prepare = Callable[[dict[str, pa.Table]], dict[str, pa.Table]]
Committed = Callable[[dict[str, pa.Table]], None]


@dataclass(frozen=True)
class QueueLimits:
    max_items: int
    max_bytes: int
    batch_max_items: int
    batch_timeout: float
    retry_after: int


@dataclass
class _Pending:
    batch: SignalBatch
    nbytes: int
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class CommitHooks:
    """Optional steps around an insert (e.g. leaving out series the store already has)."""

    prepare: Prepare | None = None
    committed: Committed | None = None


class GroupCommitQueue:
    """One signal's bounded queue and the writer task that commits it."""

    def __init__(
        self,
        signal: str,
        store: Store,
        limits: QueueLimits,
        metrics: SelfMetrics,
        hooks: CommitHooks | None = None,
    ) -> None:
        self.signal = signal
        self._store = store
        self._limits = limits
        self._metrics = metrics
        self._hooks = hooks or CommitHooks()
        self._pending: deque[_Pending] = deque()
        self._items = 0
        self._bytes = 0
        self._arrived = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(
            self._run(), name=f"commit-{self.signal}"
        )

    def check_capacity(self, items: int = 0, nbytes: int = 0) -> None:
        """Raise the refusal a request of this size would get now."""
        if self._closing:
            raise ShuttingDownError("shutting down: not accepting new data")
        limits = self._limits
        if self._items + items > limits.max_items or self._bytes + nbytes > limits.max_bytes:
            raise QueueFullError(
                f"{self.signal} queue full: {self._items} items and {self._bytes} bytes wait "
                f"for commit (settings queue_max_items={limits.max_items}, "
                f"queue_max_bytes={limits.max_bytes}); retry later",
                retry_after=limits.retry_after,
            )

    async def submit(self, batch: SignalBatch) -> None:
        """Queue a batch and return once it is committed; raise if it is refused or lost."""
        nbytes = batch.nbytes
        # A single request larger than the whole queue could never fit: admit it alone.
        if self._items or self._bytes:
            self.check_capacity(batch.items, nbytes)
        elif self._closing:
            raise ShuttingDownError("shutting down: not accepting new data")
        pending = _Pending(batch, nbytes)
        self._pending.append(pending)
        self._account(batch.items, nbytes)
        self._arrived.set()
        await asyncio.shield(pending.done)

    def _account(self, items: int, nbytes: int) -> None:
        self._items += items
        self._bytes += nbytes
        self._metrics.queue_items.labels(self.signal).set(self._items)
        self._metrics.queue_bytes.labels(self.signal).set(self._bytes)

    async def close(self) -> None:
        """Refuse new data, commit everything queued, stop the writer."""
        self._closing = True
        self._arrived.set()
        if self._writer is not None:
            await self._writer

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            # Linger briefly, even right after an insert: an insert has a fixed cost of tens
            # of milliseconds, and without this wait concurrent senders settle into groups
            # that take turns, each paying that cost.
            await self._linger()
            await self._commit(self._take())

    async def _linger(self) -> None:
        """Wait for company until the batch is full or `batch_timeout` has passed."""
        deadline = time.monotonic() + self._limits.batch_timeout
        while not self._closing and self._items < self._limits.batch_max_items:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        items = 0
        while self._pending and (not taken or items < self._limits.batch_max_items):
            pending = self._pending.popleft()
            taken.append(pending)
            items += pending.batch.items
        return taken

    async def _commit(self, taken: list[_Pending]) -> None:
        items = sum(p.batch.items for p in taken)
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._write, [p.batch for p in taken])
        except Exception as exc:
            self._fail(taken, exc)
        else:
            self._metrics.accepted.labels(self.signal).inc(items)
            self._metrics.commit_seconds.labels(self.signal).observe(time.perf_counter() - started)
            self._metrics.batch_items.labels(self.signal).observe(items)
            for pending in taken:
                if not pending.done.done():
                    pending.done.set_result(None)
        finally:
            self._account(-items, -sum(p.nbytes for p in taken))

    def _fail(self, taken: list[_Pending], exc: Exception) -> None:
        log.error("commit of %d %s requests failed: %s", len(taken), self.signal, exc)
        error = (
            exc
            if isinstance(exc, StoreUnavailableError)
            else StoreUnavailableError(f"store could not commit the batch: {exc}")
        )
        for pending in taken:
            if not pending.done.done():
                pending.done.set_exception(error)

    def _write(self, batches: list[SignalBatch]) -> None:
        tables = merge_tables(batches)
        if self._hooks.prepare is not None:
            tables = self._hooks.prepare(tables)
        for name in TABLE_ORDER:
            rows = tables.get(name)
            if rows is not None and rows.num_rows:
                self._store.insert(name, rows)
        if self._hooks.committed is not None:
            self._hooks.committed(tables)


def merge_tables(batches: list[SignalBatch]) -> dict[str, pa.Table]:
    by_name: dict[str, list[pa.Table]] = {}
    for batch in batches:
        for name, rows in batch.tables.items():
            by_name.setdefault(name, []).append(rows)
    return {name: pa.concat_tables(parts) for name, parts in by_name.items()}
