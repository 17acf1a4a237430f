"""A small, known set of LLM traces in the shared store, and helpers to search them.

Trace A (newest) is a chat request: gateway -> chat -> (retrieve [error], generate -> decode).
Trace B is a health check. Trace C is a failed embedding: gateway [error] -> (embed [error],
tokenize). Trace D (oldest) lost its root: one consumer span whose parent never arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from observatory.query.traceql.parser import parse
from observatory.query.traceql.search import TraceSearch
from observatory.query.traceql.search_sql import SearchBounds
from observatory.signals.columns import ScopeContext
from observatory.signals.spans import NO_SPAN_ID, SpanColumns, SpanRow, event_row
from observatory.store.embedded import EmbeddedStore

TENANT = "traceql-tests"
OTHER_TENANT = "traceql-other"
BASE_NS = (time.time_ns() // 10**9 - 600) * 10**9
TRACES = {name: bytes.fromhex(name.lower() * 32) for name in "ABCD"}
MS = 10**6


@dataclass(frozen=True)
class Span:
    trace: str
    name: str
    parent: str | None
    service: str
    offset_ms: int
    duration_ms: int
    kind: int = 1
    status: int = 0
    message: str = ""
    attributes: tuple[tuple[str, Any], ...] = ()
    resource: tuple[tuple[str, Any], ...] = ()
    events: tuple[str, ...] = ()


TRACE_START_MS = {"A": 0, "B": -60_000, "C": -120_000, "D": -180_000}
SPANS = (
    Span("A", "POST /v1/chat", None, "gateway", 0, 3000, kind=2,
         attributes=(("http.status_code", 200), ("http.method", "POST"))),
    Span("A", "chat llama-3-8b", "POST /v1/chat", "chat-svc", 10, 2500, kind=3,
         attributes=(("gen_ai.request.model", "llama-3-8b"), ("gen_ai.usage.input_tokens", 42),
                     ("sampled.ratio", 0.5), ("cache.hit", False),
                     ("gen_ai.response.finish_reasons", ["stop", "length"]), ("env", "span-level")),
         resource=(("deployment.environment", "prod"), ("env", "resource-level"))),
    Span("A", "retrieve", "chat llama-3-8b", "rag", 20, 200, status=2, message="index offline",
         attributes=(("db.system", "qdrant"), ("a b", "spaced"), ("retries", 3))),
    Span("A", "generate", "chat llama-3-8b", "vllm", 300, 2000, kind=2,
         attributes=(("gen_ai.usage.input_tokens", 300), ("gen_ai.request.model", "llama-3-8b")),
         events=("gen_ai.content.prompt",)),
    Span("A", "decode", "generate", "vllm", 400, 1500,
         attributes=(("gen_ai.usage.output_tokens", 120),)),
    Span("B", "GET /health", None, "gateway", 0, 5, kind=2, status=1,
         attributes=(("http.status_code", 200), ("http.method", "GET"))),
    Span("C", "POST /v1/embed", None, "gateway", 0, 1000, kind=2, status=2,
         attributes=(("http.status_code", 500), ("http.method", "POST"))),
    Span("C", "embed", "POST /v1/embed", "embed", 5, 800, kind=3, status=2, message="timeout",
         attributes=(("gen_ai.request.model", "mistral-7b"), ("sampled.ratio", 1.5)),
         resource=(("env", "resource-level"),)),
    Span("C", "tokenize", "POST /v1/embed", "embed", 900, 10,
         attributes=(("cache.hit", True),), resource=(("env", "resource-level"),)),
    Span("D", "consume", "missing-parent", "worker", 0, 50, kind=5,
         attributes=(("http.status_code", "500"), ("messaging.system", "kafka"))),
)  # fmt: skip


def span_id(span_name: str) -> bytes:
    """A readable span id: the first 8 bytes of the name, zero-padded."""
    return span_name.encode()[:8].ljust(8, b"\0")


def _append(columns: SpanColumns, span: Span) -> None:
    resource = [("service.name", span.service), *span.resource]
    scope = columns.add_scope(ScopeContext(span.service, resource, "tests.traceql", "1.0"))
    start = BASE_NS + (TRACE_START_MS[span.trace] + span.offset_ms) * MS
    parent = NO_SPAN_ID if span.parent is None else span_id(span.parent)
    events = [event_row(start + MS, name, "[]", 0) for name in span.events]
    row = SpanRow(
        trace_id=TRACES[span.trace],
        span_id=span_id(span.name),
        parent_span_id=parent,
        trace_state="",
        flags=0,
        name=span.name,
        kind=span.kind,
        start_time=start,
        duration_ns=span.duration_ms * MS,
        status_code=span.status,
        status_message=span.message,
        dropped_attributes_count=0,
        events=events,
        dropped_events_count=0,
        links=[],
        dropped_links_count=0,
    )
    columns.append(scope, list(span.attributes), row)


@pytest.fixture(scope="session")
def traces(store: EmbeddedStore) -> EmbeddedStore:
    """The store, holding the traces above under TENANT and one decoy under OTHER_TENANT."""
    columns = SpanColumns(TENANT)
    for span in SPANS:
        _append(columns, span)
    store.insert("spans", columns.table())
    other = SpanColumns(OTHER_TENANT)
    _append(other, Span("A", "POST /v1/chat", None, "gateway", 0, 3000))
    store.insert("spans", other.table())
    return store


def bounds(**changes: Any) -> SearchBounds:
    window = {"start_ns": BASE_NS - 3600 * 10**9, "end_ns": BASE_NS + 60 * 10**9}
    return SearchBounds(**{"tenant": TENANT, **window, "limit": 20, "spss": 10, **changes})


def search(store: EmbeddedStore, query: str, **changes: Any) -> dict[str, Any]:
    return TraceSearch(store).search(parse(query), bounds(**changes))


def names_by_trace(result: dict[str, Any]) -> dict[str, set[str]]:
    """Each found trace by its letter, with the names of its returned spans."""
    letters = {trace_id.hex(): letter for letter, trace_id in TRACES.items()}
    return {
        letters[trace["traceID"]]: {span["name"] for span in trace["spanSet"]["spans"]}
        for trace in result["traces"]
    }
