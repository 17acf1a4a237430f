"""In-memory sinks for the SDK's three signals, and a clean slate around every test.

Every test starts with no OTEL_* or OBSERVATORY_* variable set and ends with `shutdown()`, so
the process-wide OpenTelemetry globals never leak from one test into the next.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import observatory_sdk
import pytest
from observatory_sdk import Telemetry
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Sinks:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def setup(self, service: str = "svc", **kwargs: Any) -> Telemetry:
        return observatory_sdk.setup_telemetry(
            service,
            span_exporter=self.spans,
            metric_reader=self.metrics,
            log_exporter=self.logs,
            **kwargs,
        )

    def finished_spans(self) -> list[ReadableSpan]:
        telemetry = observatory_sdk.current()
        if telemetry is not None:
            telemetry.tracer_provider.force_flush()
        return list(self.spans.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        matching = [s for s in self.finished_spans() if s.name == name]
        assert len(matching) == 1, [s.name for s in self.finished_spans()]
        return matching[0]

    def finished_logs(self) -> list[ReadableLogRecord]:
        telemetry = observatory_sdk.current()
        if telemetry is not None and telemetry.logger_provider is not None:
            telemetry.logger_provider.force_flush()
        return list(self.logs.get_finished_logs())

    def points(self, name: str) -> list[Any]:
        """Every data point of the metric `name` collected so far."""
        found: list[Any] = []
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "OBSERVATORY_")):
            monkeypatch.delenv(name)
    yield
    observatory_sdk.shutdown()


@pytest.fixture
def sinks() -> Sinks:
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    return Sinks(InMemorySpanExporter(), InMemoryMetricReader(), logs)
