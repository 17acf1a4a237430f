"""A stand-in for the pipeline that records what it is given, and helpers to read it back."""

from __future__ import annotations

import struct
from typing import Any

import httpx
import pyarrow as pa
from starlette.applications import Starlette
from starlette.routing import Route

from observatory.errors import ObservatoryError
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch

Row = tuple[str, dict[str, str], int, float]


class RecordingPipeline:
    def __init__(self) -> None:
        self.metrics = SelfMetrics()
        self.batches: list[SignalBatch] = []
        self.admitted: list[Signal] = []
        self.refuse_admit: ObservatoryError | None = None
        self.refuse_write: ObservatoryError | None = None

    def admit(self, signal: Signal) -> None:
        if self.refuse_admit is not None:
            raise self.refuse_admit
        self.admitted.append(signal)

    async def write(self, batch: SignalBatch) -> None:
        if self.refuse_write is not None:
            raise self.refuse_write
        self.batches.append(batch)

    def rows(self) -> list[Row]:
        return [row for batch in self.batches for row in batch_rows(batch)]

    def metadata(self) -> dict[str, tuple[str, str, str]]:
        found: dict[str, tuple[str, str, str]] = {}
        for batch in self.batches:
            table = batch.tables.get("metric_metadata")
            for row in table.to_pylist() if table is not None else []:
                found[row["metric_name"]] = (row["type"], row["unit"], row["help"])
        return found

    def clear(self) -> None:
        self.batches.clear()


def batch_rows(batch: SignalBatch) -> list[Row]:
    """(metric name, labels, timestamp ms, value) of every sample, in order."""
    series = batch.tables["series"].to_pylist()
    labels = {row["fingerprint"]: dict(row["labels"]) for row in series}
    samples = batch.tables["samples"]
    timestamps = samples.column("timestamp").cast(pa.int64()).to_pylist()
    return [
        (name, labels[fingerprint], timestamp, value)
        for name, fingerprint, timestamp, value in zip(
            samples.column("metric_name").to_pylist(),
            samples.column("fingerprint").to_pylist(),
            timestamps,
            samples.column("value").to_pylist(),
            strict=True,
        )
    ]


def float_bits(value: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


def client_for(routes: list[Route]) -> httpx.AsyncClient:
    app = Starlette(routes=routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def counter_value(metrics: SelfMetrics, name: str, labels: dict[str, str]) -> float:
    value: Any = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)
