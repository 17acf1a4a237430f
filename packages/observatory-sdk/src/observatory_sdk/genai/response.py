"""Reading what a model call returned, from OpenAI-compatible responses and stream chunks.

Accepts the OpenAI client's objects (attribute access), plain dicts parsed from JSON (vLLM,
Llama Stack, any OpenAI-compatible server called over raw HTTP), and the few field names other
APIs use for the same facts (`input_tokens`/`output_tokens`, `stop_reason`). A field that is
missing or of the wrong type is skipped, never an error: telemetry must not break the call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


def get(obj: object, name: str) -> object:
    """`obj[name]` for mappings, `obj.name` otherwise; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_int(value: object) -> int | None:
    # bool is an int in Python, and never a token count.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class ResponseFacts:
    """What the response (or the chunks so far) said about the call."""

    response_id: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reasons: dict[int, str] = field(default_factory=dict)
    texts: dict[int, list[str]] = field(default_factory=dict)

    def ordered_finish_reasons(self) -> list[str]:
        return [self.finish_reasons[index] for index in sorted(self.finish_reasons)]

    def output_messages_json(self) -> str:
        """`gen_ai.output.messages` in the conventions' parts format, one message per choice."""
        messages = []
        for index in sorted(self.texts.keys() | self.finish_reasons.keys()):
            message: dict[str, object] = {
                "role": "assistant",
                "parts": [{"type": "text", "content": "".join(self.texts.get(index, []))}],
            }
            if index in self.finish_reasons:
                message["finish_reason"] = self.finish_reasons[index]
            messages.append(message)
        return json.dumps(messages, ensure_ascii=False)


def read_response(facts: ResponseFacts, response: object, capture: bool) -> None:
    """Update `facts` from a complete (non-streamed) response."""
    _read_common(facts, response)
    choices = get(response, "choices")
    if isinstance(choices, list | tuple):
        for position, choice in enumerate(choices):
            index = as_int(get(choice, "index"))
            index = position if index is None else index
            _read_finish(facts, index, get(choice, "finish_reason"))
            if capture:
                _append_text(facts, index, _choice_text(get(choice, "message"), choice))
    else:
        _read_finish(facts, 0, get(response, "stop_reason"))
        if capture:
            _append_text(facts, 0, _content_text(get(response, "content")))


def read_chunk(facts: ResponseFacts, chunk: object, capture: bool) -> None:
    """Update `facts` from one stream chunk: deltas add up, the last usage seen counts."""
    _read_common(facts, chunk)
    choices = get(chunk, "choices")
    if not isinstance(choices, list | tuple):
        return
    for position, choice in enumerate(choices):
        index = as_int(get(choice, "index"))
        index = position if index is None else index
        _read_finish(facts, index, get(choice, "finish_reason"))
        if capture:
            _append_text(facts, index, _choice_text(get(choice, "delta"), choice))


def _read_common(facts: ResponseFacts, obj: object) -> None:
    facts.response_id = as_str(get(obj, "id")) or facts.response_id
    facts.model = as_str(get(obj, "model")) or facts.model
    usage = get(obj, "usage")
    if usage is not None:
        inputs = as_int(get(usage, "prompt_tokens"))
        outputs = as_int(get(usage, "completion_tokens"))
        inputs = as_int(get(usage, "input_tokens")) if inputs is None else inputs
        outputs = as_int(get(usage, "output_tokens")) if outputs is None else outputs
        facts.input_tokens = facts.input_tokens if inputs is None else inputs
        facts.output_tokens = facts.output_tokens if outputs is None else outputs


def _read_finish(facts: ResponseFacts, index: int, reason: object) -> None:
    text = as_str(reason)
    if text is not None:
        facts.finish_reasons[index] = text


def _choice_text(message: object, choice: object) -> str | None:
    # Chat: choices[i].message.content (or .delta.content); completions: choices[i].text.
    return as_str(get(message, "content")) or as_str(get(choice, "text"))


def _content_text(content: object) -> str | None:
    # Block-style content: a list of {"type": "text", "text": ...}.
    if isinstance(content, str):
        return content or None
    if isinstance(content, list | tuple):
        texts = [t for block in content if (t := as_str(get(block, "text")))]
        return "".join(texts) or None
    return None


def _append_text(facts: ResponseFacts, index: int, text: str | None) -> None:
    if text:
        facts.texts.setdefault(index, []).append(text)


def input_messages_json(request: Mapping[str, object]) -> str | None:
    """`gen_ai.input.messages` from an OpenAI-style request's `messages` or `prompt`."""
    messages = request.get("messages")
    if isinstance(messages, list | tuple):
        return json.dumps([_input_message(m) for m in messages], ensure_ascii=False, default=str)
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        return json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": prompt}]}], ensure_ascii=False
        )
    return None


def _input_message(message: object) -> dict[str, object]:
    role = as_str(get(message, "role")) or "user"
    content = get(message, "content")
    if isinstance(content, str):
        return {"role": role, "parts": [{"type": "text", "content": content}]}
    return {"role": role, "parts": [{"type": "unknown", "content": content}]}
