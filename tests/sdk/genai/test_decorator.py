"""observatory_sdk.genai.decorator: sync, async and streaming functions, recorded the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest
from observatory_sdk import trace_genai
from observatory_sdk.genai import attributes as attr
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from tests.sdk.conftest import Sinks


def _response(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }


def _chunks(count: int) -> list[dict[str, Any]]:
    words = [{"choices": [{"index": 0, "delta": {"content": "w"}}]} for _ in range(count)]
    return [*words, {"choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]}]


def test_sync_function_reads_model_from_its_kwargs(sinks: Sinks) -> None:
    sinks.setup()
    tracer = trace.get_tracer("t")

    @trace_genai(provider="vllm")
    def create(**request: Any) -> dict[str, Any]:
        with tracer.start_as_current_span("http"):  # a child of the GenAI span
            return _response("served-model")

    assert create(model="asked-model", messages=[])["model"] == "served-model"
    span = sinks.span("chat asked-model")
    attributes = span.attributes or {}
    assert attributes[attr.PROVIDER_NAME] == "vllm"
    assert attributes[attr.RESPONSE_MODEL] == "served-model"
    assert attributes[attr.USAGE_INPUT_TOKENS] == 5
    assert sinks.span("http").parent.span_id == span.context.span_id  # type: ignore[union-attr]


async def test_async_function(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai("text_completion", model="fixed")
    async def complete(prompt: str) -> dict[str, Any]:
        return _response("fixed")

    await complete("hi")
    assert (sinks.span("text_completion fixed").attributes or {})[attr.USAGE_OUTPUT_TOKENS] == 2


def test_exception_is_recorded_and_raised(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai(model="m")
    def broken() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        broken()
    span = sinks.span("chat m")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[attr.ERROR_TYPE] == "ConnectionError"


def test_a_returned_stream_ends_the_call_when_consumed(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai(model="m")
    def create(**request: Any) -> Iterator[dict[str, Any]]:
        return iter(_chunks(3))

    stream = create(stream=True)
    assert sinks.finished_spans() == []  # still streaming
    assert len(list(stream)) == 4
    attributes = sinks.span("chat m").attributes or {}
    assert attributes[attr.RESPONSE_FINISH_REASONS] == ("stop",)
    assert isinstance(attributes[attr.RESPONSE_TIME_TO_FIRST_CHUNK], float)


async def test_an_awaited_async_stream(sinks: Sinks) -> None:
    sinks.setup()

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for chunk in _chunks(2):
            yield chunk

    @trace_genai(model="m")
    async def create(**request: Any) -> AsyncIterator[dict[str, Any]]:
        return chunks()

    received = [chunk async for chunk in await create(stream=True)]
    assert len(received) == 3
    assert len(sinks.points(attr.TIME_TO_FIRST_CHUNK_METRIC)) == 1


def test_generator_function_and_early_close(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai(model="m")
    def generate(**request: Any) -> Iterator[dict[str, Any]]:
        yield from _chunks(10)

    never_started = generate()
    del never_started  # never iterated: no span was opened
    stream = generate()
    assert isinstance(stream, Generator)
    next(stream)
    stream.close()  # the consumer stops early: the call ends, without an error
    [span] = sinks.finished_spans()
    assert span.status.status_code is StatusCode.UNSET


async def test_async_generator_function_with_error_midway(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai(model="m")
    async def generate(**request: Any) -> AsyncIterator[dict[str, Any]]:
        yield _chunks(1)[0]
        raise RuntimeError("stream cut")

    with pytest.raises(RuntimeError):
        async for _ in generate():
            pass
    span = sinks.span("chat m")
    assert (span.attributes or {})[attr.ERROR_TYPE] == "RuntimeError"
    assert attr.RESPONSE_TIME_TO_FIRST_CHUNK in (span.attributes or {})


def test_the_span_is_not_left_current_between_chunks(sinks: Sinks) -> None:
    sinks.setup()

    @trace_genai(model="m")
    def generate() -> Iterator[int]:
        yield 1
        yield 2

    for _ in generate():
        # The consumer's own work is not a child of the GenAI call.
        assert not trace.get_current_span().get_span_context().is_valid
