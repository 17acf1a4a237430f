"""Whether GenAI helpers capture prompt and completion content: off unless asked for.

Prompts and completions can hold personal data and are large, so the semantic conventions make
them opt-in. The first answer found wins: the helper's own `capture_content` argument, then
`setup_telemetry(capture_content=...)`, then the variable the OpenTelemetry GenAI
instrumentations read, `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
"""

from __future__ import annotations

import os

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_from_setup: bool | None = None


def set_capture_content(value: bool | None) -> None:
    """Called by setup_telemetry (its argument) and shutdown (None)."""
    global _from_setup
    _from_setup = value


def capture_content(override: bool | None = None) -> bool:
    if override is not None:
        return override
    if _from_setup is not None:
        return _from_setup
    return os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"
