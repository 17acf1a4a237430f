"""The pipeline as the receivers see it: admission, processors and one queue per signal."""

from __future__ import annotations

from observatory.errors import ObservatoryError
from observatory.pipeline.delta import DeltaToCumulative
from observatory.pipeline.group_commit import (
    CommitHooks,
    Committed,
    GroupCommitQueue,
    QueueLimits,
)
from observatory.pipeline.memory import MemoryGuard
from observatory.pipeline.series_cache import SeriesCache
from observatory.self_metrics import SelfMetrics
from observatory.settings import Settings
from observatory.signals.batch import Signal, SignalBatch
from observatory.store.protocol import Store


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: SelfMetrics,
        traces_committed: Committed | None = None,
    ) -> None:
        self.metrics = metrics
        self.memory = MemoryGuard(settings.memory_limit_bytes)
        self.deltas = DeltaToCumulative()
        queue_limits = QueueLimits(
            max_items=settings.queue_max_items,
            max_bytes=settings.queue_max_bytes,
            batch_max_items=settings.batch_max_items,
            batch_timeout=settings.batch_timeout_ms / 1000,
            retry_after=settings.retry_after_seconds,
        )
        series = SeriesCache()
        self.queues = {
            Signal.TRACES: GroupCommitQueue(
                "traces", store, queue_limits, metrics, CommitHooks(committed=traces_committed)
            ),
            Signal.METRICS: GroupCommitQueue(
                "metrics",
                store,
                queue_limits,
                metrics,
                CommitHooks(prepare=series.prepare, committed=series.committed),
            ),
            Signal.LOGS: GroupCommitQueue("logs", store, queue_limits, metrics),
        }

    async def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    async def close(self) -> None:
        for queue in self.queues.values():
            await queue.close()

    def admit(self, signal: Signal) -> None:
        """Refuse before decoding when the queue is full or memory is over its limit."""
        self.memory.check()
        self.queues[signal].check_capacity()

    async def write(self, batch: SignalBatch) -> None:
        """Commit a decoded batch; returns once it is durable."""
        if batch.items == 0:
            return
        try:
            self.memory.check()
            await self.queues[batch.signal].submit(batch)
        except ObservatoryError as exc:
            self.metrics.refused.labels(batch.signal.value, exc.reason).inc(batch.items)
            raise
