"""The generator's loop, commit hook and settings."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from observatory.pipeline.span_metrics import SpanMetricsGenerator, SpanMetricsSettings
from observatory.settings import Settings
from observatory.signals.batch import Signal, SignalBatch
from tests.unit.pipeline.span_metrics.helpers import Span, table


async def test_run_writes_every_interval_and_once_more_at_stop() -> None:
    generator = SpanMetricsGenerator(SpanMetricsSettings(interval_seconds=0.05))
    written: list[SignalBatch] = []

    async def write(batch: SignalBatch) -> None:
        written.append(batch)

    async with generator.running(write):
        generator.observe(table([Span("api", "a")]))
        for _ in range(100):
            if written:
                break
            await asyncio.sleep(0.01)
        assert [b.signal for b in written] == [Signal.METRICS]
        generator.observe(table([Span("api", "a")]))
    assert len(written) == 2


async def test_a_failed_write_is_logged_and_the_loop_goes_on() -> None:
    generator = SpanMetricsGenerator(SpanMetricsSettings(interval_seconds=0.01))
    calls = 0

    async def write(batch: SignalBatch) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("queue full")

    stop = asyncio.Event()
    task = asyncio.create_task(generator.run(write, stop))
    generator.observe(table([Span("api", "a")]))
    await asyncio.sleep(0.05)
    generator.observe(table([Span("api", "a")]))
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert calls == 2
    assert generator.stats.failed_writes == 2


def test_the_commit_hook_never_raises() -> None:
    generator = SpanMetricsGenerator(SpanMetricsSettings())
    generator.committed({"spans": pa.table({"unexpected": [1]})})
    generator.committed({"series": pa.table({"x": [1]})})
    assert generator.stats.failed_observations == 1
    generator.committed({"spans": table([Span("api", "a")])})
    assert generator.stats.spans == 1


def test_settings_from_observatory_settings_keep_defaults_of_missing_ones() -> None:
    settings = Settings({"span_metrics_dimensions": ["http.route"], "span_metrics_max_series": 5})
    derived = SpanMetricsSettings.from_settings(settings)
    assert derived == SpanMetricsSettings(dimensions=("http.route",), max_series=5)


@pytest.mark.parametrize(
    "bad", [{"interval_seconds": 0}, {"max_series": 0}, {"max_pending_edges": 0}]
)
def test_settings_refuse_values_that_cannot_work(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SpanMetricsSettings(**bad)  # type: ignore[arg-type]


def test_a_merged_table_of_many_chunks_and_tenants_is_observed() -> None:
    # The commit hook gets the concatenation of every request of a group commit.
    generator = SpanMetricsGenerator(SpanMetricsSettings(dimensions=("http.route",)))
    client = Span("gateway", "call", kind=3, parent_span_id=b"\x01" * 8)
    parts = [
        table([client], tenant="a"),
        table([client.child("api", 2, attributes=[("http.route", "/x")])], tenant="a"),
        table([Span("api", "chat", attributes=[("gen_ai.operation.name", "chat")])], "b"),
    ]
    generator.committed({"spans": pa.concat_tables(parts)})
    assert generator.stats.failed_observations == 0
    assert generator.stats.edges_paired == 1
    assert {batch.tenant for batch in generator.flush(0)} == {"a", "b"}
