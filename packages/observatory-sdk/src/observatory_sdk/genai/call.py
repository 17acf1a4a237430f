"""One LLM call as the GenAI conventions record it: a CLIENT span and the client metrics.

The span is named `{gen_ai.operation.name} {gen_ai.request.model}` and carries the request
attributes from its start (samplers see them) and the response attributes at its end. Metrics
are recorded for every call, sampled or not, so a 10 % trace sample still counts 100 % of the
tokens. Durations use the monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from contextvars import Token
from types import TracebackType
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from observatory_sdk.genai import attributes as attr
from observatory_sdk.genai import instruments, settings
from observatory_sdk.genai.response import (
    ResponseFacts,
    as_str,
    input_messages_json,
    read_chunk,
    read_response,
)

T = TypeVar("T")


class GenAICall:
    """A started LLM call. Feed it the response (or the chunks), then `end()` it once."""

    def __init__(
        self,
        operation: str = "chat",
        model: str | None = None,
        *,
        provider: str = "openai",
        request: Mapping[str, object] | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        capture_content: bool | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        request = request or {}
        model = model or as_str(request.get("model"))
        self._capture = settings.capture_content(capture_content)
        self._facts = ResponseFacts()
        self._first_chunk_seconds: float | None = None
        self._error_type: str | None = None
        self._ended = False
        self._metric_attributes = _metric_attributes(
            operation, provider, model, server_address, server_port
        )
        start = {**self._metric_attributes, **_request_attributes(request), **(attributes or {})}
        if self._capture and (messages := input_messages_json(request)):
            start[attr.INPUT_MESSAGES] = messages
        name = f"{operation} {model}" if model else operation
        self.span: Span = instruments.tracer().start_span(
            name, kind=SpanKind.CLIENT, attributes=start
        )
        self._context = trace.set_span_in_context(self.span)
        self._started = time.perf_counter()

    @property
    def context(self) -> Context:
        """A context with this call's span current, for work done on the call's behalf."""
        return self._context

    def record_response(self, response: object) -> None:
        """Read usage, response model and id, finish reasons (and content if captured)."""
        read_response(self._facts, response, self._capture)

    def record_chunk(self, chunk: object) -> None:
        """Read one stream chunk; the first one marks the time to first chunk."""
        if self._first_chunk_seconds is None:
            self._first_chunk_seconds = time.perf_counter() - self._started
        read_chunk(self._facts, chunk, self._capture)

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        """Token counts from elsewhere (a tokenizer, response headers); None leaves one as is."""
        if input_tokens is not None:
            self._facts.input_tokens = input_tokens
        if output_tokens is not None:
            self._facts.output_tokens = output_tokens

    def set_error(self, error_type: str, description: str | None = None) -> None:
        """Mark the call failed without an exception (an HTTP 500 handled by the caller, say)."""
        self._error_type = error_type
        self.span.set_status(Status(StatusCode.ERROR, description))

    def end(self, error: BaseException | None = None) -> None:
        """Finish the span and record the metrics; later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        elapsed = time.perf_counter() - self._started
        if error is not None and not isinstance(error, GeneratorExit):
            self._error_type = type(error).__qualname__
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, f"{self._error_type}: {error}"))
        if self.span.is_recording():
            self.span.set_attributes(self._response_attributes())
        self.span.end()
        self._record_metrics(elapsed)

    def _response_attributes(self) -> dict[str, AttributeValue]:
        facts = self._facts
        found: dict[str, AttributeValue | None] = {
            attr.RESPONSE_MODEL: facts.model,
            attr.RESPONSE_ID: facts.response_id,
            attr.USAGE_INPUT_TOKENS: facts.input_tokens,
            attr.USAGE_OUTPUT_TOKENS: facts.output_tokens,
            attr.RESPONSE_FINISH_REASONS: facts.ordered_finish_reasons() or None,
            attr.RESPONSE_TIME_TO_FIRST_CHUNK: self._first_chunk_seconds,
            attr.ERROR_TYPE: self._error_type,
        }
        if self._capture and (facts.texts or facts.finish_reasons):
            found[attr.OUTPUT_MESSAGES] = facts.output_messages_json()
        return {key: value for key, value in found.items() if value is not None}

    def _record_metrics(self, elapsed: float) -> None:
        tools = instruments.instruments()
        labels = dict(self._metric_attributes)
        if self._facts.model:
            labels[attr.RESPONSE_MODEL] = self._facts.model
        for token_type, count in (
            ("input", self._facts.input_tokens),
            ("output", self._facts.output_tokens),
        ):
            if count is not None:
                tools.tokens.record(count, {**labels, attr.TOKEN_TYPE: token_type})
        if self._first_chunk_seconds is not None:
            tools.first_chunk.record(self._first_chunk_seconds, labels)
        if self._error_type is not None:
            labels[attr.ERROR_TYPE] = self._error_type
        tools.duration.record(elapsed, labels)

    def wrap_stream(self, stream: Iterable[T]) -> Iterator[T]:
        """The stream's chunks, each recorded; the call still ends where its `with` block ends."""
        return iterate(self, stream, ends=False)

    def wrap_async_stream(self, stream: AsyncIterable[T]) -> AsyncIterator[T]:
        return aiterate(self, stream, ends=False)


def _metric_attributes(
    operation: str,
    provider: str,
    model: str | None,
    server_address: str | None,
    server_port: int | None,
) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {
        attr.OPERATION_NAME: operation,
        attr.PROVIDER_NAME: provider,
    }
    if model:
        found[attr.REQUEST_MODEL] = model
    if server_address:
        found[attr.SERVER_ADDRESS] = server_address
        if server_port is not None:
            found[attr.SERVER_PORT] = server_port
    return found


def _request_attributes(request: Mapping[str, object]) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {}
    if isinstance(stream := request.get("stream"), bool):
        found[attr.REQUEST_STREAM] = stream
    for key, name in attr.REQUEST_PARAMETERS.items():
        value = request.get(key)
        if isinstance(value, str) and key == "stop":
            found[name] = [value]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            found[name] = list(value)
    return found


class GenAISpan:
    """`with genai_span(...) as call:` (or `async with`): the call's span is current inside."""

    def __init__(self, start: Callable[[], GenAICall]) -> None:
        self._start = start
        self._call: GenAICall | None = None
        self._token: Token[Context] | None = None

    def __enter__(self) -> GenAICall:
        self._call = self._start()
        self._token = otel_context.attach(self._call.context)
        return self._call

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._call is not None and self._token is not None
        otel_context.detach(self._token)
        self._call.end(exc)

    async def __aenter__(self) -> GenAICall:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def genai_span(
    operation: str = "chat",
    model: str | None = None,
    *,
    provider: str = "openai",
    request: Mapping[str, object] | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    capture_content: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> GenAISpan:
    """Record one LLM call; `request` is the OpenAI-style body (model, messages, parameters)."""
    return GenAISpan(
        lambda: GenAICall(
            operation,
            model,
            provider=provider,
            request=request,
            server_address=server_address,
            server_port=server_port,
            capture_content=capture_content,
            attributes=attributes,
        )
    )


def iterate(call: GenAICall, stream: Iterable[T], *, ends: bool) -> Generator[T, None, None]:
    """Yield the chunks, recording each; with `ends`, end the call when the stream does.

    The call's span is made current only while the next chunk is being produced, never
    across a `yield`: generators share their consumer's context, and a span left attached
    there would become the parent of whatever the consumer does next.
    """
    iterator = iter(stream)
    error: BaseException | None = None
    try:
        while True:
            token = otel_context.attach(call.context)
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            finally:
                otel_context.detach(token)
            call.record_chunk(chunk)
            yield chunk
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close(iterator)
        if ends:
            call.end(error)


async def aiterate(
    call: GenAICall, stream: AsyncIterable[T], *, ends: bool
) -> AsyncGenerator[T, None]:
    """`iterate` for async streams."""
    iterator = aiter(stream)
    error: BaseException | None = None
    try:
        while True:
            token = otel_context.attach(call.context)
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            finally:
                otel_context.detach(token)
            call.record_chunk(chunk)
            yield chunk
    except BaseException as exc:
        error = exc
        raise
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
        if ends:
            call.end(error)


def _close(iterator: Iterator[object]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
