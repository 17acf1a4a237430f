"""A team's prediction service: `POST /predict` asks the model server and answers with its text.

The model call is recorded with `genai_span`: the GenAI span is the parent of the httpx call
to the model server, whose server span continues the trace there. With `"stream": true` the
service streams from the model and records every chunk, so the span and the metrics get the
time to first chunk. The correlation id comes from the caller through W3C baggage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, HTTPException
from observatory_sdk import GenAICall, genai_span
from opentelemetry import baggage, trace
from pydantic import BaseModel

logger = logging.getLogger("team")


class Prediction(BaseModel):
    prompt: str
    stream: bool = False
    max_tokens: int | None = None


def create_app(team: str, model_url: str, model: str) -> FastAPI:
    clients: dict[str, httpx.AsyncClient] = {}
    target = urlsplit(model_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=model_url, timeout=30) as client:
            clients["model"] = client
            yield

    app = FastAPI(title=f"team {team}", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(body: Prediction) -> dict[str, Any]:
        correlation_id = baggage.get_baggage("correlation_id")
        trace.get_current_span().set_attributes(
            {"team": team, "correlation_id": str(correlation_id or "")}
        )
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": body.prompt}],
            "stream": body.stream,
        }
        if body.max_tokens is not None:
            request["max_tokens"] = body.max_tokens
        async with genai_span(
            "chat",
            request=request,
            server_address=target.hostname,
            server_port=target.port,
            attributes={"team": team},
        ) as call:
            if body.stream:
                request["stream_options"] = {"include_usage": True}
                text = await _streamed(clients["model"], request, call)
            else:
                text = await _complete(clients["model"], request, call)
        logger.info("team %s answered %d characters", team, len(text))
        return {"team": team, "model": model, "output": text}

    return app


async def _complete(client: httpx.AsyncClient, request: dict[str, Any], call: GenAICall) -> str:
    response = await client.post("/v1/chat/completions", json=request)
    _raise_for_status(response)
    completion = response.json()
    call.record_response(completion)
    return str(completion["choices"][0]["message"]["content"])


async def _streamed(client: httpx.AsyncClient, request: dict[str, Any], call: GenAICall) -> str:
    parts: list[str] = []
    async with client.stream("POST", "/v1/chat/completions", json=request) as response:
        _raise_for_status(response)
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            call.record_chunk(chunk)
            parts.extend(c["delta"].get("content", "") for c in chunk.get("choices", []))
    return "".join(parts)


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise HTTPException(502, f"model server answered {response.status_code}")
