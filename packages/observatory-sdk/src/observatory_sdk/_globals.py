"""Installing the SDK's providers as OpenTelemetry's globals, and taking them back out.

The OpenTelemetry API lets a process set each global provider once. `shutdown()` has to undo
that so `setup_telemetry` can run again in the same process (tests, notebooks, a service that
reconfigures); the API has no public way to, so this module resets the API's own module state,
the way OpenTelemetry's test utilities do. It is the one place that touches private names,
and it checks they exist: if a future API renames them, reset is skipped with a warning and a
later setup keeps the first providers (the API's own behaviour) instead of failing.
"""

from __future__ import annotations

import logging
from types import ModuleType

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util._once import Once

_logger = logging.getLogger(__name__)

# (module, the "set once" guard, the provider slot) for each signal.
_SLOTS: tuple[tuple[ModuleType, str, str], ...] = (
    (trace, "_TRACER_PROVIDER_SET_ONCE", "_TRACER_PROVIDER"),
    (metrics_internal, "_METER_PROVIDER_SET_ONCE", "_METER_PROVIDER"),
    (logs_internal, "_LOGGER_PROVIDER_SET_ONCE", "_LOGGER_PROVIDER"),
)


def foreign_tracer_provider() -> object | None:
    """A real global TracerProvider someone else installed (`opentelemetry-instrument`, say)."""
    current = trace.get_tracer_provider()
    return None if isinstance(current, trace.ProxyTracerProvider) else current


def install(tracer: TracerProvider, meter: MeterProvider, logger: LoggerProvider | None) -> None:
    trace.set_tracer_provider(tracer)
    metrics.set_meter_provider(meter)
    if logger is not None:
        _logs.set_logger_provider(logger)


def reset(installed: tuple[object, ...]) -> None:
    """Empty each global slot that still holds one of `installed`, so it can be set again."""
    for module, once_name, slot_name in _SLOTS:
        if not (hasattr(module, once_name) and hasattr(module, slot_name)):
            _logger.warning(
                "cannot reset OpenTelemetry's global %s: the API changed; a second "
                "setup_telemetry in this process keeps the first provider",
                slot_name,
            )
            continue
        if any(getattr(module, slot_name) is provider for provider in installed):
            setattr(module, slot_name, None)
            setattr(module, once_name, Once())
