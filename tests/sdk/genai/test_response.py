"""observatory_sdk.genai.response: facts from OpenAI-compatible objects, dicts and chunks."""

from __future__ import annotations

import json
from types import SimpleNamespace

from observatory_sdk.genai.response import (
    ResponseFacts,
    input_messages_json,
    read_chunk,
    read_response,
)

CHAT = {
    "id": "chatcmpl-1",
    "model": "llama-3-8b-0613",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"},
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Lyon"},
            "finish_reason": "length",
        },
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


def _as_objects(value: object) -> object:
    """The dict as the OpenAI client's attribute-access objects."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _as_objects(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_objects(v) for v in value]
    return value


def test_dict_and_object_responses_give_the_same_facts() -> None:
    for response in (CHAT, _as_objects(CHAT)):
        facts = ResponseFacts()
        read_response(facts, response, capture=True)
        assert (facts.response_id, facts.model) == ("chatcmpl-1", "llama-3-8b-0613")
        assert (facts.input_tokens, facts.output_tokens) == (12, 3)
        assert facts.ordered_finish_reasons() == ["stop", "length"]
        messages = json.loads(facts.output_messages_json())
        assert [m["parts"][0]["content"] for m in messages] == ["Paris", "Lyon"]


def test_content_is_read_only_when_captured() -> None:
    facts = ResponseFacts()
    read_response(facts, CHAT, capture=False)
    assert facts.texts == {}


def test_stream_chunks_add_up() -> None:
    chunks = [
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
    ]
    facts = ResponseFacts()
    for chunk in chunks:
        read_chunk(facts, _as_objects(chunk), capture=True)
    assert (facts.model, facts.input_tokens, facts.output_tokens) == ("m", 4, 2)
    assert facts.ordered_finish_reasons() == ["stop"]
    assert json.loads(facts.output_messages_json())[0]["parts"][0]["content"] == "Hello"


def test_other_apis_field_names() -> None:
    facts = ResponseFacts()
    message = {
        "id": "msg_1",
        "model": "claude",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    read_response(facts, message, capture=True)
    assert (facts.input_tokens, facts.output_tokens) == (9, 1)
    assert facts.ordered_finish_reasons() == ["end_turn"]
    assert facts.texts == {0: ["hi"]}


def test_wrong_types_are_skipped_not_raised() -> None:
    facts = ResponseFacts()
    read_response(facts, {"model": 3, "usage": {"prompt_tokens": True}, "choices": "x"}, True)
    read_response(facts, None, True)
    read_chunk(facts, "not a chunk", True)
    assert facts == ResponseFacts()


def test_input_messages_in_parts_format() -> None:
    request = {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    }
    assert json.loads(input_messages_json(request) or "") == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert json.loads(input_messages_json({"prompt": "once"}) or "")[0]["role"] == "user"
    assert input_messages_json({}) is None
