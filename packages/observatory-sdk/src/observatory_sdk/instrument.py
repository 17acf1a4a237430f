"""Auto-instrumentation: the web app, the HTTP clients, and the `logging` module.

Every instrumentor gets the SDK's providers explicitly rather than reading the globals, so the
spans land in this setup's pipeline even when another provider was installed globally first.
Only what this module instrumented is uninstrumented on shutdown: an instrumentor the user
had already turned on stays on.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

_logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'observatory-sdk[{extra}]'"


class InstrumentationMissing(ImportError):
    """The app's framework is known but its OpenTelemetry instrumentation is not installed."""


@dataclass
class Instrumented:
    """What one setup instrumented, in the order to undo it."""

    undo: list[Callable[[], None]] = field(default_factory=list)
    app_ids: set[int] = field(default_factory=set)

    def uninstrument(self) -> None:
        while self.undo:
            step = self.undo.pop()
            try:
                step()
            except Exception:  # one failing step must not keep the others instrumented
                _logger.exception("uninstrumenting failed")
        self.app_ids.clear()


def instrument_app(
    app: object,
    done: Instrumented,
    tracer: TracerProvider,
    meter: MeterProvider,
    flush: Callable[[], object],
) -> None:
    """Server spans and HTTP server metrics for a FastAPI or Starlette app (once per app).

    The app's shutdown also flushes telemetry: uvicorn, after its graceful shutdown on SIGTERM,
    raises the signal again with the default handler, which ends the process without running
    exit hooks, so spans still in the batch queue would be lost.
    """
    if id(app) in done.app_ids:
        return
    kind = _app_kind(app)
    if kind == "fastapi":
        instrumentor = _load("opentelemetry.instrumentation.fastapi", "FastAPIInstrumentor", kind)
        # The ASGI middleware's per-message "http send"/"http receive" spans double the span
        # count of every request and say nothing a server span does not.
        instrumentor.instrument_app(
            app, tracer_provider=tracer, meter_provider=meter, exclude_spans=["receive", "send"]
        )
    else:
        instrumentor = _load(
            "opentelemetry.instrumentation.starlette", "StarletteInstrumentor", kind
        )
        instrumentor.instrument_app(app, tracer_provider=tracer, meter_provider=meter)
    done.app_ids.add(id(app))
    done.undo.append(lambda: instrumentor.uninstrument_app(app))
    _flush_on_shutdown(app, done, flush)


def _flush_on_shutdown(app: object, done: Instrumented, flush: Callable[[], object]) -> None:
    router = getattr(app, "router", None)
    original = getattr(router, "lifespan_context", None)
    if original is None:
        return

    @contextlib.asynccontextmanager
    async def lifespan(lifespan_app: Any) -> AsyncIterator[Any]:
        try:
            async with original(lifespan_app) as state:
                yield state
        finally:
            # Off the event loop: an export to a slow collector must not stall other apps.
            await asyncio.to_thread(flush)

    router.lifespan_context = lifespan  # type: ignore[union-attr]
    done.undo.append(lambda: setattr(router, "lifespan_context", original))


def _app_kind(app: object) -> str:
    # FastAPI subclasses Starlette, so it is checked first; neither is imported unless present.
    for kind, module, name in (
        ("fastapi", "fastapi", "FastAPI"),
        ("starlette", "starlette.applications", "Starlette"),
    ):
        if _installed(module.split(".")[0]):
            cls = getattr(importlib.import_module(module), name)
            if isinstance(app, cls):
                return kind
    raise TypeError(f"app must be a FastAPI or Starlette application, not {type(app).__name__}")


def _load(module: str, name: str, extra: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise InstrumentationMissing(
            f"instrumenting a {extra} app needs {module}: {INSTALL_HINT.format(extra=extra)}"
        ) from exc


def instrument_clients(
    done: Instrumented, tracer: TracerProvider, meter: MeterProvider, httpx: bool, requests: bool
) -> None:
    """Client spans and W3C headers on every httpx and requests call, if those are installed."""
    wanted = (
        (httpx, "httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
        (requests, "requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
    )
    for enabled, library, module, name in wanted:
        if enabled and _installed(library):
            instrumentor = getattr(importlib.import_module(module), name)()
            _instrument_once(instrumentor, done, tracer_provider=tracer, meter_provider=meter)


def instrument_logging(
    done: Instrumented, tracer: TracerProvider, logs: LoggerProvider | None
) -> None:
    """Trace and span ids on every log record; with `logs`, records exported as OTLP logs too.

    The ids are the attributes the logging instrumentation names (`otelTraceID`, `otelSpanID`,
    `otelServiceName`, `otelTraceSampled`), so a format string such as
    `%(otelTraceID)s` works. The exporting handler is this module's own, bound to this setup's
    LoggerProvider, and goes on the root logger.
    """
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    _instrument_once(
        LoggingInstrumentor(),
        done,
        tracer_provider=tracer,
        inject_trace_context=True,
        enable_log_auto_instrumentation=False,
    )
    if logs is None:
        return
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    handler: logging.Handler = LoggingHandler(logger_provider=logs)
    root = logging.getLogger()
    root.addHandler(handler)
    done.undo.append(lambda: root.removeHandler(handler))


def _instrument_once(instrumentor: BaseInstrumentor, done: Instrumented, **kwargs: Any) -> None:
    if instrumentor.is_instrumented_by_opentelemetry:
        _logger.info("%s was already on; leaving it as it is", type(instrumentor).__name__)
        return
    instrumentor.instrument(**kwargs)
    done.undo.append(instrumentor.uninstrument)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
