"""observatory-sdk: instrument a Python LLM service in one call.

```python
from observatory_sdk import genai_span, setup_telemetry

telemetry = setup_telemetry("rag-api", app=app)  # traces, metrics, logs over OTLP
with genai_span("chat", request=body) as call:
    call.record_response(client.chat.completions.create(**body))
```
"""

from observatory_sdk.config import ConfigError, TelemetryConfig
from observatory_sdk.context import bind_context
from observatory_sdk.genai import GenAICall, GenAISpan, genai_span, trace_genai
from observatory_sdk.instrument import InstrumentationMissing
from observatory_sdk.setup import (
    AlreadyConfigured,
    Telemetry,
    current,
    setup_telemetry,
    shutdown,
)
from observatory_sdk.version import __version__

__all__ = [
    "AlreadyConfigured",
    "ConfigError",
    "GenAICall",
    "GenAISpan",
    "InstrumentationMissing",
    "Telemetry",
    "TelemetryConfig",
    "__version__",
    "bind_context",
    "current",
    "genai_span",
    "setup_telemetry",
    "shutdown",
    "trace_genai",
]
