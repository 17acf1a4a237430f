"""observatory_sdk.genai.call: the span and the metrics of one LLM call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import observatory_sdk
import pytest
from observatory_sdk import genai_span
from observatory_sdk.genai import attributes as attr
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk.conftest import Sinks

RESPONSE = {
    "id": "r1",
    "model": "llama-3-8b-v2",
    "choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 1},
}
REQUEST = {
    "model": "llama-3-8b",
    "messages": [{"role": "user", "content": "2+2?"}],
    "temperature": 0.1,
    "max_tokens": 16,
    "stop": "\n",
}


def test_span_follows_the_conventions(sinks: Sinks) -> None:
    sinks.setup()
    with genai_span(
        "chat", request=REQUEST, provider="openai", server_address="vllm", server_port=8000
    ) as call:
        call.record_response(RESPONSE)
    span = sinks.span("chat llama-3-8b")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        attr.OPERATION_NAME: "chat",
        attr.PROVIDER_NAME: "openai",
        attr.REQUEST_MODEL: "llama-3-8b",
        attr.SERVER_ADDRESS: "vllm",
        attr.SERVER_PORT: 8000,
        "gen_ai.request.temperature": 0.1,
        "gen_ai.request.max_tokens": 16,
        "gen_ai.request.stop_sequences": ("\n",),
        attr.RESPONSE_MODEL: "llama-3-8b-v2",
        attr.RESPONSE_ID: "r1",
        attr.USAGE_INPUT_TOKENS: 7,
        attr.USAGE_OUTPUT_TOKENS: 1,
        attr.RESPONSE_FINISH_REASONS: ("stop",),
    }


def test_metrics_follow_the_conventions(sinks: Sinks) -> None:
    sinks.setup()
    with genai_span("chat", "llama-3-8b") as call:
        call.record_response(RESPONSE)
    tokens = {p.attributes[attr.TOKEN_TYPE]: p for p in sinks.points(attr.TOKEN_USAGE_METRIC)}
    assert (tokens["input"].sum, tokens["output"].sum) == (7, 1)
    assert tuple(tokens["input"].explicit_bounds) == attr.TOKEN_BUCKETS
    assert dict(tokens["input"].attributes) == {
        attr.OPERATION_NAME: "chat",
        attr.PROVIDER_NAME: "openai",
        attr.REQUEST_MODEL: "llama-3-8b",
        attr.RESPONSE_MODEL: "llama-3-8b-v2",
        attr.TOKEN_TYPE: "input",
    }
    [duration] = sinks.points(attr.OPERATION_DURATION_METRIC)
    assert duration.count == 1
    assert tuple(duration.explicit_bounds) == attr.SECONDS_BUCKETS
    assert sinks.points(attr.TIME_TO_FIRST_CHUNK_METRIC) == []  # not a stream


def test_an_exception_marks_span_and_duration_with_error_type(sinks: Sinks) -> None:
    sinks.setup()
    with pytest.raises(TimeoutError), genai_span("chat", "m"):
        raise TimeoutError("model too slow")
    span = sinks.span("chat m")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[attr.ERROR_TYPE] == "TimeoutError"
    assert [e.name for e in span.events] == ["exception"]
    [duration] = sinks.points(attr.OPERATION_DURATION_METRIC)
    assert duration.attributes[attr.ERROR_TYPE] == "TimeoutError"
    assert sinks.points(attr.TOKEN_USAGE_METRIC) == []  # no usage known: no token metric


def test_an_error_without_exception(sinks: Sinks) -> None:
    sinks.setup()
    with genai_span("chat", "m") as call:
        call.set_error("500", "upstream failed")
    assert (sinks.span("chat m").attributes or {})[attr.ERROR_TYPE] == "500"


def test_streamed_chunks_give_time_to_first_chunk(sinks: Sinks) -> None:
    sinks.setup()
    chunks = [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]},
        {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    ]
    with genai_span("chat", "m", request={"stream": True}) as call:
        assert list(call.wrap_stream(chunks)) == chunks
    span = sinks.span("chat m")
    attributes = span.attributes or {}
    assert attributes[attr.REQUEST_STREAM] is True
    first_chunk = attributes[attr.RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(first_chunk, float) and first_chunk > 0
    assert attributes[attr.USAGE_OUTPUT_TOKENS] == 1
    [first] = sinks.points(attr.TIME_TO_FIRST_CHUNK_METRIC)
    assert first.count == 1
    assert first.sum == attributes[attr.RESPONSE_TIME_TO_FIRST_CHUNK]


async def test_async_with_and_async_stream(sinks: Sinks) -> None:
    sinks.setup()

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for word in ("x", "y"):
            yield {"choices": [{"index": 0, "delta": {"content": word}}]}

    async with genai_span("chat", "m") as call:
        received = [chunk async for chunk in call.wrap_async_stream(chunks())]
    assert len(received) == 2
    assert attr.RESPONSE_TIME_TO_FIRST_CHUNK in (sinks.span("chat m").attributes or {})


def test_content_is_not_captured_by_default(sinks: Sinks) -> None:
    sinks.setup()
    with genai_span("chat", request=REQUEST) as call:
        call.record_response(RESPONSE)
    attributes = sinks.span("chat llama-3-8b").attributes or {}
    assert attr.INPUT_MESSAGES not in attributes
    assert attr.OUTPUT_MESSAGES not in attributes


@pytest.mark.parametrize("how", ["argument", "setup", "environment"])
def test_content_is_captured_when_asked(
    sinks: Sinks, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "environment":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    sinks.setup(capture_content=True if how == "setup" else None)
    with genai_span("chat", request=REQUEST, capture_content=how == "argument" or None) as call:
        call.record_response(RESPONSE)
    attributes = sinks.span("chat llama-3-8b").attributes or {}
    assert json.loads(str(attributes[attr.INPUT_MESSAGES]))[0]["parts"][0]["content"] == "2+2?"
    output = json.loads(str(attributes[attr.OUTPUT_MESSAGES]))
    assert output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}
    ]


def test_unsampled_calls_still_count_tokens(sinks: Sinks) -> None:
    sinks.setup(sample_rate=0.0)
    with genai_span("chat", "m") as call:
        call.record_response(RESPONSE)
    assert sinks.finished_spans() == []
    assert sum(p.sum for p in sinks.points(attr.TOKEN_USAGE_METRIC)) == 8


def test_helpers_work_without_setup_telemetry() -> None:
    assert observatory_sdk.current() is None
    with genai_span("chat", "m") as call:  # the API's no-op providers: nothing breaks
        call.record_response(RESPONSE)
