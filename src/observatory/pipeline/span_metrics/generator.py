"""The span-metrics generator: committed spans in, METRICS batches out every interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pyarrow as pa

from observatory.pipeline.span_metrics.config import SpanMetricsSettings
from observatory.pipeline.span_metrics.genai import GenAiMetrics
from observatory.pipeline.span_metrics.registry import SeriesRegistry
from observatory.pipeline.span_metrics.servicegraph import ServiceGraph, edge_spans
from observatory.pipeline.span_metrics.spanmetrics import SpanMetrics
from observatory.signals.batch import Signal, SignalBatch

log = logging.getLogger(__name__)

Write = Callable[[SignalBatch], Awaitable[None]]


@dataclass
class SpanMetricsStats:
    """Counts for self-monitoring; service-graph counts are also written as metrics."""

    spans: int = 0
    failed_observations: int = 0
    failed_writes: int = 0
    series_evicted: int = 0
    edges_paired: int = 0
    edges_expired: int = 0
    edges_dropped: int = 0
    edges_evicted: int = 0
    edges_pending: int = 0


class SpanMetricsGenerator:
    """Span metrics, service graph and GenAI metrics from every committed span.

    `observe` runs on the commit thread of the traces queue and `flush` on another, hence the
    lock; the column work of `observe` is done before taking it, so a flush only waits for
    the updates themselves.
    """

    def __init__(
        self, settings: SpanMetricsSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._registry = SeriesRegistry(settings.max_series)
        self._span_metrics = SpanMetrics(settings.dimensions)
        self._graph = ServiceGraph(settings.edge_wait_seconds, settings.max_pending_edges)
        self._genai = GenAiMetrics()
        self._spans = 0
        self._failed_observations = 0
        self._failed_writes = 0

    def observe(self, spans: pa.Table) -> None:
        """Fold a committed span table (any number of tenants) into the series."""
        if not spans.num_rows:
            return
        increments = self._span_metrics.increments(spans) + self._genai.increments(spans)
        edges = edge_spans(spans)
        now_ms = self._now_ms()
        with self._lock:
            self._registry.apply(increments)
            self._graph.observe(edges, self._registry, now_ms)
            self._spans += spans.num_rows

    def committed(self, tables: dict[str, pa.Table]) -> None:
        """A `CommitHooks.committed` hook: observe the spans of a committed batch.

        It never raises: the batch is already committed, and an error here would make the
        queue answer its senders with a failure, so they would send the spans again.
        """
        spans = tables.get("spans")
        if spans is None:
            return
        try:
            self.observe(spans)
        except Exception:
            self._failed_observations += 1
            log.exception("span metrics: could not observe %d spans", spans.num_rows)

    def flush(self, now_ms: int) -> list[SignalBatch]:
        """One METRICS batch per tenant with the series changed since the last flush."""
        zero_ms = now_ms - max(1, int(self.settings.interval_seconds * 1000))
        with self._lock:
            self._graph.expire(self._registry, now_ms)
            columns = self._registry.flush(now_ms, zero_ms)
        return [
            SignalBatch(Signal.METRICS, tenant, c.tables(), items=c.samples)
            for tenant, c in columns.items()
        ]

    @property
    def stats(self) -> SpanMetricsStats:
        with self._lock:
            graph = self._graph
            return SpanMetricsStats(
                spans=self._spans,
                failed_observations=self._failed_observations,
                failed_writes=self._failed_writes,
                series_evicted=self._registry.evicted,
                edges_paired=graph.paired,
                edges_expired=graph.expired,
                edges_dropped=graph.dropped,
                edges_evicted=graph.evicted,
                edges_pending=graph.pending,
            )

    async def run(self, write: Write, stop: asyncio.Event) -> None:
        """Flush every interval until `stop` is set, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_seconds)
            await self._flush_and_write(write)

    @contextlib.asynccontextmanager
    async def running(self, write: Write) -> AsyncIterator[SpanMetricsGenerator]:
        """`run` as a task for the life of the context; leaving it writes a last flush."""
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.run(write, stop), name="span-metrics")
        try:
            yield self
        finally:
            stop.set()
            await task

    async def _flush_and_write(self, write: Write) -> None:
        # Off the event loop: a flush of many series builds its tables in Python.
        batches = await asyncio.to_thread(self.flush, self._now_ms())
        for batch in batches:
            try:
                await write(batch)
            except Exception as exc:
                # Totals stay in memory; the series' next flush writes them again.
                self._failed_writes += 1
                log.warning(
                    "span metrics: %d samples of tenant %s not written: %s",
                    batch.items,
                    batch.tenant,
                    exc,
                )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
