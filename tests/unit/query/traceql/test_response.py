"""The Tempo search response: trace fields from trace_summaries, spans, bounds and tenancy."""

from __future__ import annotations

from typing import Any

from observatory.query.traceql.legacy import tags_query
from observatory.query.traceql.search import ROOT_NOT_YET_RECEIVED, TraceSearch
from observatory.store.embedded import EmbeddedStore
from tests.unit.query.traceql.conftest import (
    BASE_NS,
    OTHER_TENANT,
    TRACES,
    bounds,
    names_by_trace,
    search,
    span_id,
)

MS = 10**6


def _letters(result: dict[str, Any]) -> list[str]:
    letters = {trace_id.hex(): letter for letter, trace_id in TRACES.items()}
    return [letters[trace["traceID"]] for trace in result["traces"]]


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in span["attributes"]}


def test_trace_fields_come_from_the_whole_trace(traces: EmbeddedStore) -> None:
    result = search(traces, '{ name = "decode" }')
    (trace,) = result["traces"]
    assert trace["traceID"] == TRACES["A"].hex()
    assert trace["rootServiceName"] == "gateway"
    assert trace["rootTraceName"] == "POST /v1/chat"
    assert trace["startTimeUnixNano"] == str(BASE_NS)
    assert trace["durationMs"] == 3000
    assert trace["spanSets"] == [trace["spanSet"]]
    assert trace["spanSet"]["matched"] == 1
    (span,) = trace["spanSet"]["spans"]
    assert span == {
        "spanID": span_id("decode").hex(),
        "name": "decode",
        "startTimeUnixNano": str(BASE_NS + 400 * MS),
        "durationNanos": str(1500 * MS),
        "attributes": [{"key": "service.name", "value": {"stringValue": "vllm"}}],
    }
    assert result["metrics"]["inspectedTraces"] >= 1
    assert result["metrics"]["inspectedBytes"] == "0"


def test_a_trace_without_its_root_says_so(traces: EmbeddedStore) -> None:
    (trace,) = search(traces, '{ name = "consume" }')["traces"]
    assert trace["rootServiceName"] == ROOT_NOT_YET_RECEIVED
    assert "rootTraceName" not in trace


def test_spans_carry_the_attributes_the_query_reads_and_selects(traces: EmbeddedStore) -> None:
    query = (
        "{ span.gen_ai.usage.input_tokens > 100 && status = unset && kind = server } "
        "| select(resource.deployment.environment, span.gen_ai.request.model, .missing, "
        "statusMessage, duration)"
    )
    (trace,) = search(traces, query)["traces"]
    (span,) = trace["spanSet"]["spans"]
    assert _attributes(span) == {
        "gen_ai.usage.input_tokens": {"intValue": "300"},
        "status": {"stringValue": "unset"},
        "kind": {"stringValue": "server"},
        "gen_ai.request.model": {"stringValue": "llama-3-8b"},
        "statusMessage": {"stringValue": ""},
        "service.name": {"stringValue": "vllm"},
    }


def test_typed_values_keep_their_types(traces: EmbeddedStore) -> None:
    query = (
        "{ span.sampled.ratio = 0.5 } | select(span.cache.hit, span.gen_ai.response.finish_reasons)"
    )
    (trace,) = search(traces, query)["traces"]
    attributes = _attributes(trace["spanSet"]["spans"][0])
    assert attributes["sampled.ratio"] == {"doubleValue": 0.5}
    assert attributes["cache.hit"] == {"boolValue": False}
    reasons = attributes["gen_ai.response.finish_reasons"]["arrayValue"]["values"]
    assert reasons == [{"stringValue": "stop"}, {"stringValue": "length"}]


def test_unscoped_attributes_show_the_spans_value_first(traces: EmbeddedStore) -> None:
    result = search(traces, '{ .env != nil && resource.service.name = "chat-svc" }')
    span = result["traces"][0]["spanSet"]["spans"][0]
    assert _attributes(span)["env"] == {"stringValue": "span-level"}


def test_newest_traces_first_within_the_limit(traces: EmbeddedStore) -> None:
    assert _letters(search(traces, "{ }")) == ["A", "B", "C", "D"]
    assert _letters(search(traces, "{ }", limit=2)) == ["A", "B"]
    assert _letters(search(traces, "{ } >> { }", limit=1)) == ["A"]


def test_spans_per_spanset_are_the_first_matched_and_matched_counts_all(
    traces: EmbeddedStore,
) -> None:
    for query in ("{ }", "{ } && { kind = server }"):
        trace = search(traces, query, spss=2)["traces"][0]
        assert [s["name"] for s in trace["spanSet"]["spans"]] == [
            "POST /v1/chat",
            "chat llama-3-8b",
        ]
        assert trace["spanSet"]["matched"] == 5


def test_the_time_window_bounds_the_spans_searched(traces: EmbeddedStore) -> None:
    before_a = BASE_NS - 1
    assert _letters(search(traces, "{ }", end_ns=before_a)) == ["B", "C", "D"]
    assert _letters(search(traces, "{ }", start_ns=BASE_NS + 15 * MS)) == ["A"]
    only_a = search(traces, "{ }", start_ns=BASE_NS + 15 * MS)["traces"][0]
    assert only_a["spanSet"]["matched"] == 3  # retrieve, generate, decode started in the window
    assert only_a["startTimeUnixNano"] == str(BASE_NS)  # the trace's own start


def test_min_and_max_duration_bound_the_trace_duration(traces: EmbeddedStore) -> None:
    assert _letters(search(traces, "{ }", min_duration_ns=2000 * MS)) == ["A"]
    assert _letters(search(traces, "{ }", max_duration_ns=100 * MS)) == ["B", "D"]
    between = search(traces, "{ } >> { }", min_duration_ns=500 * MS, max_duration_ns=2000 * MS)
    assert _letters(between) == ["C"]


def test_tenants_see_only_their_own_traces(traces: EmbeddedStore) -> None:
    result = search(traces, '{ name = "POST /v1/chat" }', tenant=OTHER_TENANT)
    assert len(result["traces"]) == 1
    assert result["traces"][0]["spanSet"]["matched"] == 1
    assert search(traces, "{ }", tenant="nobody-here")["traces"] == []


def _tags(store: EmbeddedStore, tags: str, **changes: Any) -> dict[str, set[str]]:
    return names_by_trace(TraceSearch(store).search(tags_query(tags), bounds(**changes)))


def test_tag_search_matches_each_tag_somewhere_in_the_trace(traces: EmbeddedStore) -> None:
    assert _tags(traces, "service.name=embed http.status_code=500") == {
        "C": {"POST /v1/embed", "embed", "tokenize"}
    }
    assert _tags(traces, 'http.status_code="500"') == {"C": {"POST /v1/embed"}, "D": {"consume"}}
    assert _tags(traces, "name=retrieve") == {"A": {"retrieve"}}
    assert set(_tags(traces, "error=true")) == {"A", "C"}
    assert set(_tags(traces, "status.code=ok")) == {"B"}
    assert set(_tags(traces, "cache.hit=true sampled.ratio=1.5")) == {"C"}
    assert set(_tags(traces, "", min_duration_ns=2000 * MS)) == {"A"}
