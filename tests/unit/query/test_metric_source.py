"""Label matchers pushed down to SQL against the real store."""

from __future__ import annotations

import time

from observatory.query.metric_catalog import MetricCatalog
from observatory.query.metric_source import StoreSeriesSource
from observatory.query.promql.source import LabelMatcher
from observatory.signals.metrics import STALE_NAN, MetricColumns
from observatory.store.embedded import EmbeddedStore

TENANT = "metric-source-tests"
NOW = int(time.time() * 1000) // 1000 * 1000


def _load(store: EmbeddedStore) -> None:
    columns = MetricColumns(TENANT)
    for i in range(3):
        columns.add_sample("vllm:num_requests_running", {"model_name": "llama"}, NOW + i, i)
        columns.add_sample("vllm:num_requests_running", {"model_name": "qwen-7b"}, NOW + i, 10)
    columns.add_sample("vllm:num_requests_running", {"model_name": "llama"}, NOW + 1, 1)
    columns.add_sample("vllm:num_requests_running", {"model_name": "llama"}, NOW + 5, STALE_NAN)
    columns.add_sample("up", {"job": "vllm"}, NOW, 1)
    columns.add_metadata("up", "gauge", "", "Whether the target answered.")
    for name, rows in columns.tables().items():
        store.insert(name, rows)


def _labels(source: StoreSeriesSource, *matchers: LabelMatcher) -> list[dict[str, str]]:
    found = source.select(list(matchers), NOW - 1000, NOW + 1000)
    return sorted((s.labels for s in found), key=lambda labels: sorted(labels.items()))


def test_matchers_regexes_are_anchored_and_missing_labels_read_empty(
    store: EmbeddedStore,
) -> None:
    _load(store)
    source = StoreSeriesSource(store, TENANT)
    name = LabelMatcher("__name__", "=", "vllm:num_requests_running")
    assert len(_labels(source, name)) == 2
    assert _labels(source, name, LabelMatcher("model_name", "=~", "qwen")) == []
    assert _labels(source, name, LabelMatcher("model_name", "=~", "qwen.*")) == [
        {"__name__": "vllm:num_requests_running", "model_name": "qwen-7b"}
    ]
    assert len(_labels(source, LabelMatcher("job", "=", ""))) == 2
    assert _labels(source, LabelMatcher("__name__", "!~", "vllm.*"), LabelMatcher("job", "!=", ""))
    assert _labels(StoreSeriesSource(store, "another-tenant"), name) == []


def test_samples_are_ordered_deduplicated_and_keep_stale_markers(store: EmbeddedStore) -> None:
    source = StoreSeriesSource(store, TENANT)
    found = source.select([LabelMatcher("model_name", "=", "llama")], NOW - 1000, NOW + 1000)
    assert len(found) == 1
    series = found[0]
    assert series.timestamps.tolist() == [NOW, NOW + 1, NOW + 2, NOW + 5]
    assert series.values[:3].tolist() == [0, 1, 2]
    assert str(series.values[3]) == "nan"


def test_catalog_labels_values_and_metadata(store: EmbeddedStore) -> None:
    catalog = MetricCatalog(store, TENANT)
    assert catalog.label_names([], NOW - 1000) == ["__name__", "job", "model_name"]
    assert catalog.label_values("model_name", [], NOW - 1000) == ["llama", "qwen-7b"]
    assert catalog.label_values("__name__", [], NOW - 1000) == ["up", "vllm:num_requests_running"]
    up = [LabelMatcher("__name__", "=", "up")]
    assert catalog.label_names([up], NOW - 1000) == ["__name__", "job"]
    assert catalog.metadata("up", None) == {
        "up": [{"type": "gauge", "help": "Whether the target answered.", "unit": ""}]
    }
