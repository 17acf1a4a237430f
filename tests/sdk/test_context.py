"""Context never mixes: concurrent asyncio requests and threads each keep their own trace.

The asyncio test runs a real uvicorn server in a thread and sends 100 concurrent requests,
each from its own client span, through the instrumented httpx client: every request must come
back as one trace of exactly its own five spans, chained client -> HTTP client -> server ->
GenAI call -> inner span. Starting an operation inside an active trace must make a child.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from observatory_sdk import Telemetry, bind_context, genai_span
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from tests.sdk.conftest import Sinks

REQUESTS = 100
THREADS = 16


def _by_trace(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        traces[span.context.trace_id].append(span)
    return traces


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _app() -> FastAPI:
    app = FastAPI()
    tracer = trace.get_tracer("tests.sdk.context")

    @app.get("/work/{n}")
    async def work(n: int) -> dict[str, str]:
        await asyncio.sleep((n % 5) * 0.002)  # interleave the requests
        with genai_span("chat", "m", attributes={"request.n": n}) as call:
            await asyncio.sleep((n % 3) * 0.002)
            with tracer.start_as_current_span("inner", attributes={"request.n": n}):
                await asyncio.sleep(0)
            call.record_response({"usage": {"prompt_tokens": n, "completion_tokens": 1}})
        trace_id = trace.get_current_span().get_span_context().trace_id
        return {"trace_id": format(trace_id, "032x")}

    return app


@pytest.fixture
def served(sinks: Sinks) -> Iterator[tuple[Telemetry, str]]:
    app = _app()
    telemetry = sinks.setup(app=app)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield telemetry, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


async def _one_request(telemetry: Telemetry, client: httpx.AsyncClient, n: int) -> tuple[int, str]:
    with telemetry.tracer.start_as_current_span(f"client-{n}") as root:
        response = await client.get(f"/work/{n}")
    return root.get_span_context().trace_id, response.json()["trace_id"]


async def _hundred_requests(telemetry: Telemetry, base_url: str) -> list[tuple[int, str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await asyncio.gather(*(_one_request(telemetry, client, n) for n in range(REQUESTS)))


def test_hundred_concurrent_requests_each_keep_their_own_trace(
    served: tuple[Telemetry, str], sinks: Sinks
) -> None:
    telemetry, base_url = served
    answers = asyncio.run(_hundred_requests(telemetry, base_url))
    traces = _by_trace(sinks.finished_spans())
    assert len({trace_id for trace_id, _ in answers}) == REQUESTS
    for n, (trace_id, server_seen) in enumerate(answers):
        assert server_seen == format(trace_id, "032x")
        spans = {span.name: span for span in traces[trace_id]}
        assert len(traces[trace_id]) == 5, sorted(spans)
        root, server, chat, inner = (
            spans[f"client-{n}"],
            spans["GET /work/{n}"],
            spans["chat m"],
            spans["inner"],
        )
        [http_client] = [s for s in traces[trace_id] if s.kind is SpanKind.CLIENT and s is not chat]
        assert _parent_id(root) is None
        assert _parent_id(http_client) == root.context.span_id
        assert _parent_id(server) == http_client.context.span_id
        assert _parent_id(chat) == server.context.span_id
        assert _parent_id(inner) == chat.context.span_id
        assert chat.attributes is not None and inner.attributes is not None
        assert chat.attributes["request.n"] == inner.attributes["request.n"] == n
        assert chat.attributes["gen_ai.usage.input_tokens"] == n


def test_concurrent_tasks_under_one_parent_are_its_children_and_not_each_others(
    sinks: Sinks,
) -> None:
    telemetry = sinks.setup()

    async def call(n: int) -> None:
        with genai_span("chat", f"m{n}"):
            await asyncio.sleep((n % 4) * 0.001)
            with telemetry.tracer.start_as_current_span(f"inner-{n}"):
                await asyncio.sleep(0)

    async def main() -> int:
        with telemetry.tracer.start_as_current_span("pipeline") as parent:
            await asyncio.gather(*(call(n) for n in range(REQUESTS)))
        return parent.get_span_context().span_id

    parent_id = asyncio.run(main())
    spans = {span.name: span for span in sinks.finished_spans()}
    assert len(spans) == 2 * REQUESTS + 1
    for n in range(REQUESTS):
        assert _parent_id(spans[f"chat m{n}"]) == parent_id
        assert _parent_id(spans[f"inner-{n}"]) == spans[f"chat m{n}"].context.span_id


def test_threads_keep_their_own_traces(sinks: Sinks) -> None:
    telemetry = sinks.setup()
    barrier = threading.Barrier(THREADS)

    def job(n: int) -> None:
        with telemetry.tracer.start_as_current_span(f"job-{n}"):
            barrier.wait()  # all threads inside their span at once
            with genai_span("chat", "m", attributes={"job": n}):
                time.sleep(0.001)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    traces = _by_trace(sinks.finished_spans())
    assert len(traces) == THREADS
    for spans in traces.values():
        by_name = {span.name: span for span in spans}
        [job_name] = [name for name in by_name if name.startswith("job-")]
        chat = by_name["chat m"]
        assert len(spans) == 2
        assert _parent_id(chat) == by_name[job_name].context.span_id
        assert chat.attributes is not None and f"job-{chat.attributes['job']!s}" == job_name


def test_bind_context_carries_the_trace_into_a_thread_pool(sinks: Sinks) -> None:
    telemetry = sinks.setup()

    def work(n: int) -> None:
        with genai_span("embeddings", f"e{n}"):
            pass

    with (
        ThreadPoolExecutor(max_workers=4) as pool,
        telemetry.tracer.start_as_current_span("batch") as batch,
    ):
        list(pool.map(bind_context(work), range(8)))
        pool.submit(work, 99).result()  # not bound: a thread starts a new trace
    spans = {span.name: span for span in sinks.finished_spans()}
    batch_id = batch.get_span_context()
    for n in range(8):
        assert spans[f"embeddings e{n}"].context.trace_id == batch_id.trace_id
        assert _parent_id(spans[f"embeddings e{n}"]) == batch_id.span_id
    assert spans["embeddings e99"].context.trace_id != batch_id.trace_id
    assert _parent_id(spans["embeddings e99"]) is None
