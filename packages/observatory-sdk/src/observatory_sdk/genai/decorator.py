"""`@trace_genai`: record every call of a function that calls a model, sync or async.

The function's keyword arguments are read as the OpenAI-style request (`model`, `messages`,
`temperature`, `stream`...), and its result as the response. A result that is a stream (an
iterator or async iterator, as `client.chat.completions.create(stream=True)` returns) is
handed back wrapped, so the call ends, and its duration and time to first chunk are measured,
when the stream is consumed, not when the function returns. Generator and async generator
functions are streams themselves.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry.util.types import AttributeValue

from observatory_sdk.genai.call import GenAICall, aiterate, iterate

P = ParamSpec("P")
R = TypeVar("R")


def trace_genai(
    operation: str = "chat",
    *,
    model: str | None = None,
    provider: str = "openai",
    server_address: str | None = None,
    server_port: int | None = None,
    capture_content: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that performs one LLM call; see the module docstring."""

    def start(kwargs: Mapping[str, object]) -> GenAICall:
        return GenAICall(
            operation,
            model,
            provider=provider,
            request=kwargs,
            server_address=server_address,
            server_port=server_port,
            capture_content=capture_content,
            attributes=attributes,
        )

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if inspect.isasyncgenfunction(function):
            wrapper: Callable[..., Any] = _async_generator(function, start)
        elif inspect.iscoroutinefunction(function):
            wrapper = _coroutine(function, start)
        elif inspect.isgeneratorfunction(function):
            wrapper = _generator(function, start)
        else:
            wrapper = _plain(function, start)
        return cast(Callable[P, R], functools.wraps(function)(wrapper))

    return decorate


Start = Callable[[Mapping[str, object]], GenAICall]


def _plain(function: Callable[..., Any], start: Start) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = start(kwargs)
        token = otel_context.attach(call.context)
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            otel_context.detach(token)
        if _is_stream(result):
            return iterate(call, result, ends=True)
        call.record_response(result)
        call.end()
        return result

    return wrapper


def _coroutine(function: Callable[..., Any], start: Start) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = start(kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await function(*args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            otel_context.detach(token)
        if _is_async_stream(result):
            return aiterate(call, result, ends=True)
        if _is_stream(result):
            return iterate(call, result, ends=True)
        call.record_response(result)
        call.end()
        return result

    return wrapper


def _generator(function: Callable[..., Iterator[Any]], start: Start) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        # The call starts at the first iteration, where the generator's own body starts; a
        # generator that is never iterated leaves no span open. `yield from` passes close()
        # and throw() through to `iterate`, which ends the call.
        yield from iterate(start(kwargs), function(*args, **kwargs), ends=True)

    return wrapper


def _async_generator(
    function: Callable[..., AsyncIterator[Any]], start: Start
) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        chunks = aiterate(start(kwargs), function(*args, **kwargs), ends=True)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            # Async generators have no `yield from`: close the inner one explicitly so the
            # call ends when the consumer stops early, not whenever the loop collects it.
            await chunks.aclose()

    return wrapper


def _is_stream(result: object) -> bool:
    # An iterator, not merely an iterable: lists, dicts, strings and pydantic models (which
    # iterate over their fields) are responses, not streams.
    return hasattr(result, "__next__") and not isinstance(result, str | bytes)


def _is_async_stream(result: object) -> bool:
    return hasattr(result, "__anext__")
