"""A fake OpenAI-compatible model server: `/v1/chat/completions` (plain and streamed), `/v1/models`.

It stands in for vLLM so the example runs anywhere: the answer is the prompt's words in
reverse, one "token" per word, and the usage counts are those words. `FAKE_MODEL_TOKEN_DELAY_MS`
makes each streamed token take that long, so the time to first chunk is visible.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

MODEL = "fake-llama-3-8b"


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = MODEL
    messages: list[Message]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = None


def create_app() -> FastAPI:
    app = FastAPI(title="fake model server")
    delay = float(os.environ.get("FAKE_MODEL_TOKEN_DELAY_MS", "0")) / 1000

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: ChatRequest) -> dict[str, Any] | StreamingResponse:
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        words = answer(request.messages[-1].content if request.messages else "")
        if request.max_tokens is not None:
            words = words[: request.max_tokens]
        finish = (
            "length"
            if request.max_tokens is not None and len(words) == request.max_tokens
            else "stop"
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        if request.stream:
            include_usage = bool((request.stream_options or {}).get("include_usage"))
            chunks = stream(request.model, words, finish, usage if include_usage else None, delay)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return completion(request.model, words, finish, usage)

    return app


def answer(prompt: str) -> list[str]:
    return list(reversed(prompt.split())) or ["..."]


def completion(model: str, words: list[str], finish: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(words)},
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }


async def stream(
    model: str, words: list[str], finish: str, usage: dict[str, int] | None, delay: float
) -> AsyncIterator[str]:
    """Server-sent events as OpenAI streams them: deltas, a finish, optional usage, [DONE]."""
    base: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "model": model}
    base |= {"object": "chat.completion.chunk", "created": int(time.time())}
    for position, word in enumerate(words):
        if delay:
            await asyncio.sleep(delay)
        delta = {"content": word if position == 0 else f" {word}"}
        yield _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage is not None:
        yield _event({**base, "choices": [], "usage": usage})
    yield "data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"
