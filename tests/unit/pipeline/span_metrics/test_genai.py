"""GenAI metrics from GenAI spans: token histograms, duration, time to first token."""

from __future__ import annotations

from collections.abc import Sequence

from observatory.pipeline.span_metrics import SpanMetricsGenerator, SpanMetricsSettings
from observatory.signals.attributes import Attributes
from tests.unit.pipeline.span_metrics.helpers import SeriesKey, Span, key, latest, table

NOW_MS = 1_800_000_000_000
CHAT = {
    "service": "team-api",
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4",
    "gen_ai_response_model": "gpt-4-0613",
    "source": "spans",
}
CHAT_ATTRIBUTES: Attributes = [
    ("gen_ai.operation.name", "chat"),
    ("gen_ai.provider.name", "openai"),
    ("gen_ai.request.model", "gpt-4"),
    ("gen_ai.response.model", "gpt-4-0613"),
]
TOKEN_BOUNDS = [str(4**power) for power in range(14)]


def _genai(spans: list[Span]) -> dict[SeriesKey, float]:
    generator = SpanMetricsGenerator(SpanMetricsSettings(), clock=lambda: NOW_MS / 1000)
    generator.observe(table(spans))
    [batch] = generator.flush(NOW_MS)
    return {k: v for k, v in latest(batch).items() if k[0].startswith("gen_ai_")}


def _chat(
    duration_ms: float = 2000,
    status: int = 0,
    extra: Attributes = (),
    events: Sequence[tuple[float, str]] = (),
) -> Span:
    attributes = [*CHAT_ATTRIBUTES, *extra]
    return Span(
        "team-api",
        "chat gpt-4",
        3,
        duration_ms=duration_ms,
        status=status,
        attributes=attributes,
        events=events,
    )


def test_token_usage_histograms_by_token_type() -> None:
    values = _genai(
        [
            _chat(extra=[("gen_ai.usage.input_tokens", 42), ("gen_ai.usage.output_tokens", 300)]),
            _chat(extra=[("gen_ai.usage.input_tokens", 5.0)]),
        ]
    )
    usage = "gen_ai_client_token_usage"
    inputs = {**CHAT, "gen_ai_token_type": "input"}
    outputs = {**CHAT, "gen_ai_token_type": "output"}
    assert values[key(usage + "_count", **inputs)] == 2
    assert values[key(usage + "_sum", **inputs)] == 47
    assert values[key(usage + "_count", **outputs)] == 1
    assert values[key(usage + "_sum", **outputs)] == 300
    input_buckets = [values[key(usage + "_bucket", **inputs, le=le)] for le in TOKEN_BOUNDS]
    assert input_buckets == [0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    assert values[key(usage + "_bucket", **outputs, le="256")] == 0
    assert values[key(usage + "_bucket", **outputs, le="1024")] == 1
    assert values[key(usage + "_bucket", **outputs, le="+Inf")] == 1


def test_operation_duration_with_error_type_when_failed() -> None:
    values = _genai(
        [
            _chat(1500),
            _chat(500, status=2),
            _chat(700, status=2, extra=[("error.type", "timeout")]),
        ]
    )
    duration = "gen_ai_client_operation_duration_seconds"
    assert values[key(duration + "_sum", **CHAT)] == 1.5
    assert values[key(duration + "_bucket", **CHAT, le="1.28")] == 0
    assert values[key(duration + "_bucket", **CHAT, le="2.56")] == 1
    assert values[key(duration + "_count", **CHAT, error_type="_OTHER")] == 1
    assert values[key(duration + "_sum", **CHAT, error_type="timeout")] == 0.7


def test_time_to_first_token_from_attribute_then_first_matching_event() -> None:
    values = _genai(
        [
            # The attribute wins over events.
            _chat(extra=[("gen_ai.response.time_to_first_chunk", 0.03)], events=[(900, "x")]),
            # The earliest matching event; others are ignored.
            _chat(
                events=[
                    (10, "gen_ai.content.prompt"),
                    (400, "gen_ai.choice"),
                    (250, "llm.first_token"),
                ]
            ),
            _chat(events=[(600, "gen_ai.content.completion")]),
            # No attribute, no matching event: no value.
            _chat(events=[(5, "gen_ai.content.prompt")]),
            # Failed responses have no time to first token.
            _chat(status=2, extra=[("gen_ai.response.time_to_first_chunk", 0.01)]),
        ]
    )
    ttft = "gen_ai_server_time_to_first_token_seconds"
    assert values[key(ttft + "_count", **CHAT)] == 3
    assert round(values[key(ttft + "_sum", **CHAT)], 9) == 0.88
    assert values[key(ttft + "_bucket", **CHAT, le="0.04")] == 1
    assert values[key(ttft + "_bucket", **CHAT, le="0.25")] == 2
    assert values[key(ttft + "_bucket", **CHAT, le="0.75")] == 3


def test_provider_falls_back_to_gen_ai_system_and_absent_labels_are_left_out() -> None:
    span = Span(
        "agent",
        "chat",
        attributes=[("gen_ai.operation.name", "chat"), ("gen_ai.system", "anthropic")],
    )
    values = _genai([span])
    labels = {
        "service": "agent",
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "anthropic",
        "source": "spans",
    }
    assert values[key("gen_ai_client_operation_duration_seconds_count", **labels)] == 1
    assert not any(k[0].startswith("gen_ai_client_token_usage") for k in values)


def test_spans_without_an_operation_name_make_no_genai_metrics() -> None:
    values = _genai([Span("api", "chat", attributes=[("gen_ai.usage.input_tokens", 10)])])
    assert values == {}
