"""GenAI helpers: record LLM calls as the OpenTelemetry GenAI semantic conventions say."""

from observatory_sdk.genai.call import GenAICall, GenAISpan, genai_span
from observatory_sdk.genai.decorator import trace_genai

__all__ = ["GenAICall", "GenAISpan", "genai_span", "trace_genai"]
