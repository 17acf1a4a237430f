"""Carrying the current trace into threads.

asyncio tasks copy the context they are created in, so a task started inside a span is traced
as its child without help. Threads start with an empty context: work handed to a thread pool
starts a new trace unless it is bound to the caller's context, which is what `bind_context`
does. (`asyncio.to_thread` copies the context itself; `loop.run_in_executor` does not.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from opentelemetry import context as otel_context

P = ParamSpec("P")
R = TypeVar("R")


def bind_context(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run in the OpenTelemetry context (span and baggage) current now.

    `executor.submit(bind_context(work), item)` makes the spans of `work` children of the span
    that submitted it, whichever thread runs it.
    """
    captured = otel_context.get_current()

    @functools.wraps(function)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        token = otel_context.attach(captured)
        try:
            return function(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return bound
