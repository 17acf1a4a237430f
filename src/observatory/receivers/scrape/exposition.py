"""The Prometheus text format and OpenMetrics as plain families of samples.

Parsing is prometheus_client's; this module only undoes what that parser changes on the way,
so samples come out named exactly as exposed: the text parser renames the samples of a
counter declared without `_total` (`# TYPE foo counter`, `foo 1`) to `foo_total`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Timestamp

OPENMETRICS = "application/openmetrics-text"
TOTAL = "_total"


class ExpositionError(ValueError):
    """The body is not valid in the format it claims (or falls back to)."""


@dataclass(frozen=True, slots=True)
class ExposedSample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int | None = None


@dataclass(slots=True)
class Family:
    """A metric family; `name` is the one its metadata is recorded under."""

    name: str
    type: str
    help: str = ""
    unit: str = ""
    samples: list[ExposedSample] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def parse_exposition(body: bytes, content_type: str | None) -> list[Family]:
    """OpenMetrics when the content type says so; the text format otherwise, as Prometheus."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExpositionError(f"exposition is not valid UTF-8: {exc}") from exc
    if media_type(content_type) == OPENMETRICS:
        return parse_openmetrics(text)
    return parse_text(text)


def parse_text(text: str) -> list[Family]:
    """The Prometheus text format (0.0.4)."""
    declared = _declared_counters(text)
    metrics = _parsed("text format", text_string_to_metric_families(text))
    return [_text_family(metric, declared) for metric in metrics]


def parse_openmetrics(text: str) -> list[Family]:
    families = openmetrics_parser.text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    metrics = _parsed("OpenMetrics", families)
    return [_family(metric, metric.name) for metric in metrics]


def _parsed(kind: str, metrics: Iterable[Metric]) -> list[Metric]:
    try:
        return list(metrics)
    # The parsers raise whatever their string handling trips on, not one error type.
    except Exception as exc:
        raise ExpositionError(f"invalid {kind} exposition: {exc or type(exc).__name__}") from exc


def _declared_counters(text: str) -> set[str]:
    """Names given on `# TYPE <name> counter` lines."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4 and parts[3] == "counter":
                names.add(parts[2].strip('"'))
    return names


def _text_family(metric: Metric, declared_counters: set[str]) -> Family:
    if metric.type != "counter":
        return _family(metric, metric.name)
    if metric.name in declared_counters:
        # Declared without `_total`: the parser appended it to every sample; take it off.
        family = _family(metric, metric.name)
        family.samples = [_without_total(sample) for sample in family.samples]
        return family
    return _family(metric, metric.name + TOTAL)


def _without_total(sample: ExposedSample) -> ExposedSample:
    return ExposedSample(
        sample.name.removesuffix(TOTAL), sample.labels, sample.value, sample.timestamp_ms
    )


def _family(metric: Metric, name: str) -> Family:
    samples = [
        ExposedSample(s.name, dict(s.labels), float(s.value), _timestamp_ms(s.timestamp))
        for s in metric.samples
        if s.value is not None and getattr(s, "native_histogram", None) is None
    ]
    return Family(name, metric.type, metric.documentation or "", metric.unit or "", samples)


def _timestamp_ms(timestamp: float | Timestamp | None) -> int | None:
    return None if timestamp is None else round(float(timestamp) * 1000)
