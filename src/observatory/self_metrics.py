"""Observatory's own metrics (`observatory_*`), exposed on `GET /metrics`.

Every component counts into one registry; every refusal and drop is counted by signal and
reason so an operator can tell what was turned away and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

StoreSizes = Callable[[], dict[str, int]]

# `_created` series double the exposition for a figure no dashboard here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _StoreSizeCollector(Collector):
    def __init__(self, sizes: StoreSizes) -> None:
        self._sizes = sizes

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "observatory_store_bytes", "Bytes on disk per store table.", labels=["table"]
        )
        try:
            sizes = self._sizes()
        except Exception:
            sizes = {}
        for table, size in sorted(sizes.items()):
            family.add_metric([table], size)
        yield family


class SelfMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.received = Counter(
            "observatory_received_items",
            "Items received, before any check.",
            ["signal", "protocol"],
            registry=reg,
        )
        self.accepted = Counter(
            "observatory_accepted_items",
            "Items committed to the store and acknowledged.",
            ["signal"],
            registry=reg,
        )
        self.refused = Counter(
            "observatory_refused_items",
            "Items refused, by reason.",
            ["signal", "reason"],
            registry=reg,
        )
        self.refused_requests = Counter(
            "observatory_refused_requests",
            "Requests refused, by reason.",
            ["signal", "reason"],
            registry=reg,
        )
        self.dropped = Counter(
            "observatory_dropped_items",
            "Parts of accepted items dropped by limits (e.g. attributes), by reason.",
            ["signal", "reason"],
            registry=reg,
        )
        self.queue_items = Gauge(
            "observatory_queue_items", "Items waiting for commit.", ["signal"], registry=reg
        )
        self.queue_bytes = Gauge(
            "observatory_queue_bytes", "Bytes waiting for commit.", ["signal"], registry=reg
        )
        self.commit_seconds = Histogram(
            "observatory_batch_commit_seconds",
            "Time to commit one batch to the store.",
            ["signal"],
            registry=reg,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_items = Histogram(
            "observatory_batch_items",
            "Items per committed batch.",
            ["signal"],
            registry=reg,
            buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000),
        )
        self.rss = Gauge(
            "observatory_memory_rss_bytes", "Resident memory of the process.", registry=reg
        )
        self.rss.set_function(lambda: psutil.Process().memory_info().rss)

    def watch_store(self, sizes: StoreSizes) -> None:
        self.registry.register(_StoreSizeCollector(sizes))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
