"""One scrape's samples as Prometheus stores them: target labels attached, metric relabeling
applied, stale markers for series that went away, and the scrape's own report series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from observatory.receivers.relabel import relabel
from observatory.receivers.scrape.discovery import Target
from observatory.receivers.scrape.exposition import ExposedSample, Family
from observatory.signals.metrics import STALE_NAN, MetricColumns

METRIC_NAME = "__name__"
EXPORTED_PREFIX = "exported_"
UP = "up"
REPORT_SERIES = (
    UP,
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)

Pairs = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Pairs]


@dataclass
class Scraped:
    """The samples kept from one exposition, and the series staleness is tracked for."""

    samples: list[tuple[str, dict[str, str], int, float]] = field(default_factory=list)
    metadata: list[Family] = field(default_factory=list)
    exposed: int = 0
    tracked: set[SeriesKey] = field(default_factory=set)


def with_target_labels(
    sample_labels: Mapping[str, str], target_labels: Mapping[str, str], honor: bool
) -> dict[str, str]:
    """The sample's labels with the target's, conflicts settled as Prometheus does.

    With `honor_labels` the exposed value wins, even an empty one (which then removes the
    label: how a Pushgateway's `instance=""` keeps the Pushgateway's own instance off).
    Without it the target's value wins and the exposed one moves to `exported_<name>`.
    """
    merged = dict(sample_labels)
    if honor:
        for name, value in target_labels.items():
            merged.setdefault(name, value)
        return merged
    conflicts = [(name, merged[name]) for name in target_labels if merged.get(name)]
    merged.update(target_labels)
    for name, value in conflicts:
        exported = EXPORTED_PREFIX + name
        while exported in merged:
            exported = EXPORTED_PREFIX + exported
        merged[exported] = value
    return merged


def convert(families: Iterable[Family], target: Target, scrape_ms: int) -> Scraped:
    """The stored form of an exposition scraped at `scrape_ms`."""
    scraped = Scraped()
    target_labels = target.label_map()
    seen: set[SeriesKey] = set()
    for family in families:
        scraped.metadata.append(family)
        for sample in family.samples:
            scraped.exposed += 1
            _add(scraped, seen, sample, target, target_labels, scrape_ms)
    return scraped


def _add(
    scraped: Scraped,
    seen: set[SeriesKey],
    sample: ExposedSample,
    target: Target,
    target_labels: dict[str, str],
    scrape_ms: int,
) -> None:
    series = series_of(sample, target, target_labels)
    if series is None:
        return
    key = (series[0], tuple(sorted(series[1].items())))
    # A series exposed twice is an error in the exposition; like Prometheus, keep the first.
    if key in seen:
        return
    seen.add(key)
    explicit = target.honor_timestamps and sample.timestamp_ms is not None
    timestamp = sample.timestamp_ms if explicit and sample.timestamp_ms is not None else scrape_ms
    scraped.samples.append((series[0], series[1], timestamp, sample.value))
    # Series with their own timestamps get no stale markers, as in Prometheus.
    if not explicit:
        scraped.tracked.add(key)


def series_of(
    sample: ExposedSample, target: Target, target_labels: dict[str, str]
) -> tuple[str, dict[str, str]] | None:
    """The sample's metric name and labels, or None when metric relabeling drops it."""
    merged = with_target_labels(sample.labels, target_labels, target.honor_labels)
    merged[METRIC_NAME] = sample.name
    labels = relabel(merged, target.metric_relabel) if target.metric_relabel else merged
    if labels is None:
        return None
    name = labels.pop(METRIC_NAME, "")
    if not name:
        return None
    return name, {k: v for k, v in labels.items() if v}


@dataclass(frozen=True)
class Report:
    up: bool
    duration_seconds: float
    exposed: int = 0
    kept: int = 0
    added: int = 0

    def values(self) -> tuple[float, ...]:
        return (1.0 if self.up else 0.0, self.duration_seconds, self.exposed, self.kept, self.added)


def add_scraped(columns: MetricColumns, scraped: Scraped) -> None:
    for name, labels, timestamp, value in scraped.samples:
        columns.add_sample(name, labels, timestamp, value)
    for family in scraped.metadata:
        columns.add_metadata(family.name, family.type, family.unit, family.help)


def add_stale(columns: MetricColumns, series: Iterable[SeriesKey], timestamp_ms: int) -> None:
    for name, pairs in series:
        columns.add_sample(name, dict(pairs), timestamp_ms, STALE_NAN)


def add_report(columns: MetricColumns, target: Target, timestamp_ms: int, report: Report) -> None:
    labels = target.label_map()
    for name, value in zip(REPORT_SERIES, report.values(), strict=True):
        columns.add_sample(name, labels, timestamp_ms, float(value))


def report_series(target: Target) -> list[SeriesKey]:
    return [(name, target.labels) for name in REPORT_SERIES]
