"""The queue's contract, against a store that records or fails its inserts."""

from __future__ import annotations

import asyncio
import threading
import time

import pyarrow as pa
import pytest

from observatory.errors import QueueFullError, ShuttingDownError, StoreUnavailableError
from observatory.pipeline.group_commit import GroupCommitQueue, QueueLimits
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch


class RecordingStore:
    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.inserts: list[tuple[str, int]] = []
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()

    def insert(self, table: str, rows: pa.Table) -> None:
        time.sleep(self.delay)
        if self.fail:
            raise StoreUnavailableError("disk full")
        with self.lock:
            self.inserts.append((table, rows.num_rows))

    def query(self, sql: str, params: object = None) -> pa.Table:
        return pa.table({})

    def execute(self, sql: str, params: object = None) -> None:
        pass

    def close(self) -> None:
        pass


def _batch(rows: int) -> SignalBatch:
    table = pa.table({"x": list(range(rows))})
    return SignalBatch(Signal.TRACES, "t", {"spans": table}, items=rows)


def _limits(max_items: int = 1000, timeout: float = 0.05) -> QueueLimits:
    return QueueLimits(max_items, 10**9, batch_max_items=500, batch_timeout=timeout, retry_after=2)


async def test_concurrent_requests_share_one_insert() -> None:
    store = RecordingStore()
    queue = GroupCommitQueue("traces", store, _limits(), SelfMetrics())
    queue.start()
    await asyncio.gather(*(queue.submit(_batch(10)) for _ in range(5)))
    await queue.close()
    assert store.inserts == [("spans", 50)]


async def test_full_queue_refuses_with_retry_after() -> None:
    store = RecordingStore(delay=0.2)
    queue = GroupCommitQueue("traces", store, _limits(max_items=25), SelfMetrics())
    queue.start()
    first = asyncio.create_task(queue.submit(_batch(20)))
    await asyncio.sleep(0)
    with pytest.raises(QueueFullError) as refused:
        await queue.submit(_batch(10))
    assert refused.value.retry_after_seconds == 2
    assert "queue_max_items=25" in refused.value.message
    await first
    await queue.close()
    assert store.inserts == [("spans", 20)]


async def test_failed_insert_fails_every_waiting_request() -> None:
    queue = GroupCommitQueue("traces", RecordingStore(fail=True), _limits(), SelfMetrics())
    queue.start()
    results = await asyncio.gather(
        queue.submit(_batch(1)), queue.submit(_batch(1)), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailableError) for r in results)
    await queue.close()


async def test_close_commits_what_is_queued_then_refuses() -> None:
    store = RecordingStore()
    queue = GroupCommitQueue("traces", store, _limits(timeout=5.0), SelfMetrics())
    queue.start()
    waiting = asyncio.create_task(queue.submit(_batch(3)))
    await asyncio.sleep(0.01)
    await queue.close()
    await waiting
    assert store.inserts == [("spans", 3)]
    with pytest.raises(ShuttingDownError):
        await queue.submit(_batch(1))
