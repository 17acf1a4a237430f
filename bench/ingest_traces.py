"""Ingest benchmark: LLM-shaped spans over OTLP/HTTP protobuf.

Each request carries `--batch` spans of agent traces (an `invoke_agent` root and three `chat`
calls), about a dozen GenAI attributes per span. Every span has an id of its own, so after
the run the store is checked for every acknowledged span, once.

    .venv/bin/python bench/ingest_traces.py --duration 20
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Row,
    StoreReader,
    Template,
    add_common_args,
    compare_ids,
    consecutive_ids,
    fmt_int,
    get_json,
    run_benchmark,
    unique_placeholder,
)
from _otlp import AttributeValue, key_values, read_attributes, resource, scope

SPANS_PER_TRACE = 4  # an agent root and three model calls
RESOURCES_PER_PAYLOAD = 4
TEMPLATES = 16

SERVICES = (
    "support-agent", "chat-api", "rag-worker", "summarizer",
    "code-assistant", "eval-runner", "search-agent", "batch-inference",
)  # fmt: skip
# provider, requested model, model that answered, server address
MODELS = (
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com"),
    ("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514", "api.anthropic.com"),
    ("aws.bedrock", "meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0",
     "bedrock-runtime.us-east-1.amazonaws.com"),
    ("gcp.vertex_ai", "gemini-2.0-flash", "gemini-2.0-flash-001", "aiplatform.googleapis.com"),
    ("mistral_ai", "mistral-large-latest", "mistral-large-2411", "api.mistral.ai"),
)  # fmt: skip
FINISH_REASONS = ("stop", "stop", "stop", "length", "tool_calls")


class TraceWorkload:
    path = "/v1/traces"
    item = "spans"

    def __init__(self, batch: int, seed: int = 20240601) -> None:
        self.batch = batch
        self.traces_per_payload = -(-batch // SPANS_PER_TRACE)
        rng = np.random.default_rng(seed)
        # Run-specific high bits keep this run's ids apart from any other data.
        self.span_id_base = int(rng.integers(1, 2**23)) << 40
        self.trace_id_prefix = rng.bytes(8)
        self.now_ns = time.time_ns()
        taken: set[bytes] = set()
        self.templates = [self._template(rng, t, taken) for t in range(TEMPLATES)]

    # --- generation ---------------------------------------------------------------------

    def _template(self, rng: np.random.Generator, number: int, taken: set[bytes]) -> Template:
        span_ids = [unique_placeholder(rng, 8, taken) for _ in range(self.batch)]
        trace_ids = [unique_placeholder(rng, 16, taken) for _ in range(self.traces_per_payload)]
        groups: list[list[Span]] = [[] for _ in range(RESOURCES_PER_PAYLOAD)]
        for trace in range(self.traces_per_payload):
            first = trace * SPANS_PER_TRACE
            members = span_ids[first : first + SPANS_PER_TRACE]
            groups[trace % RESOURCES_PER_PAYLOAD] += _trace(
                rng, trace_ids[trace], members, self.now_ns
            )
        request = ExportTraceServiceRequest(resource_spans=[
            ResourceSpans(
                resource=resource(_resource_attributes(rng, SERVICES[(number + r) % 8], number)),
                scope_spans=[ScopeSpans(scope=scope("llm.client", "0.9.0"), spans=spans)],
            )
            for r, spans in enumerate(groups) if spans
        ])  # fmt: skip
        return Template(request.SerializeToString(), [*span_ids, *trace_ids])

    def payload(self, index: int) -> bytes:
        first = index * self.batch
        span_ids = (
            (np.arange(first, first + self.batch, dtype=np.uint64) + np.uint64(self.span_id_base))
            .astype(">u8")
            .tobytes()
        )
        trace_first = index * self.traces_per_payload
        values = [span_ids[i : i + 8] for i in range(0, len(span_ids), 8)]
        values += [
            self.trace_id_prefix + (trace_first + k).to_bytes(8, "big")
            for k in range(self.traces_per_payload)
        ]
        return self.templates[index % TEMPLATES].render(values)

    def items(self, index: int) -> int:
        return self.batch

    def self_test(self) -> None:
        request = ExportTraceServiceRequest.FromString(self.payload(1))
        spans = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
        ids = sorted(int.from_bytes(s.span_id, "big") for s in spans)
        first = self.span_id_base + self.batch
        parents = {s.parent_span_id for s in spans} - {b""}
        traces = {s.trace_id for s in spans}
        if (
            ids != list(range(first, first + self.batch))
            or not parents <= {s.span_id for s in spans}
            or len(traces) != self.traces_per_payload
        ):
            raise RuntimeError("stamped trace payloads do not carry the expected ids")

    # --- measuring ----------------------------------------------------------------------

    def parse_only(self, payload: bytes) -> int:
        request = ExportTraceServiceRequest.FromString(payload)
        count = 0
        for resource_spans in request.resource_spans:
            read_attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    _read_span(span)
                    count += 1
        return count

    def load_rows(self, acked: Sequence[int], elapsed: float) -> list[Row]:
        return []

    def api_check(self, port: int, acked: Sequence[int]) -> list[Row]:
        """The first trace of the first, middle and last acknowledged request, via the API."""
        if not acked:
            return []
        samples = sorted({acked[0], acked[len(acked) // 2], acked[-1]})
        outcomes = [self._read_back(port, index) for index in samples]
        problems = [p for p in outcomes if p]
        rows: list[Row] = [(
            "traces read back via /api/traces",
            f"{len(samples) - len(problems)} of {len(samples)} complete",
        )]  # fmt: skip
        rows += [(f"  problem {n}", p) for n, p in enumerate(problems, start=1)]
        return rows

    def _read_back(self, port: int, index: int) -> str:
        """'' when the trace came back with every span and attribute sent, else what differs."""
        sent = self._sent_trace(index)
        trace_id = self.trace_id_prefix + (index * self.traces_per_payload).to_bytes(8, "big")
        try:
            status, body = get_json(port, f"/api/traces/{trace_id.hex()}")
        except (OSError, http.client.HTTPException) as exc:
            return f"trace {trace_id.hex()}: {exc!r}"
        if status != 200 or not isinstance(body, dict):
            return f"trace {trace_id.hex()}: HTTP {status} {str(body)[:80]}"
        got = {
            span.get("spanId", ""): len(span.get("attributes", []))
            for batch in body.get("batches", []) for scoped in batch.get("scopeSpans", [])
            for span in scoped.get("spans", [])
        }  # fmt: skip
        if got != sent:
            return f"trace {trace_id.hex()}: sent {sent}, read back {got}"
        return ""

    def _sent_trace(self, index: int) -> dict[str, int]:
        """Span id (hex) to attribute count of the first trace of the index-th payload."""
        request = ExportTraceServiceRequest.FromString(self.payload(index))
        first = self.span_id_base + index * self.batch
        wanted = {(first + j).to_bytes(8, "big") for j in range(min(SPANS_PER_TRACE, self.batch))}
        return {
            span.span_id.hex(): len(span.attributes)
            for r in request.resource_spans for ss in r.scope_spans for span in ss.spans
            if span.span_id in wanted
        }  # fmt: skip

    def check(self, store: StoreReader, acked: Sequence[int]) -> list[Row]:
        stored = np.frombuffer(store.raw("SELECT span_id FROM spans"), dtype=">u8")
        expected = consecutive_ids(acked, self.batch, self.span_id_base)
        rows = compare_ids(expected, stored.astype(np.uint64)).rows("spans")
        return [*rows, ("spans whose trace id is not theirs", fmt_int(self._misfiled(store)))]

    def _misfiled(self, store: StoreReader) -> int:
        """Spans stored with a trace id other than the one they were sent with."""
        sequence = f"(reinterpretAsUInt64(reverse(span_id)) - {self.span_id_base})"
        expected_trace = (
            f"intDiv({sequence}, {self.batch}) * {self.traces_per_payload}"
            f" + intDiv({sequence} % {self.batch}, {SPANS_PER_TRACE})"
        )
        return int(store.scalar(
            "SELECT count() FROM spans WHERE "
            f"substring(trace_id, 1, 8) != unhex('{self.trace_id_prefix.hex()}') "
            f"OR reinterpretAsUInt64(reverse(substring(trace_id, 9, 8))) != {expected_trace}"
        ))  # fmt: skip


def _read_span(span: Span) -> tuple[object, ...]:
    return (
        span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
        span.start_time_unix_nano, span.end_time_unix_nano, span.status.code,
        read_attributes(span.attributes),
        [(e.name, read_attributes(e.attributes)) for e in span.events],
    )  # fmt: skip


def _resource_attributes(
    rng: np.random.Generator, service: str, number: int
) -> dict[str, AttributeValue]:
    return {
        "service.name": service,
        "service.namespace": "llm-platform",
        "service.version": f"2.{number % 5}.{int(rng.integers(0, 20))}",
        "service.instance.id": rng.bytes(16).hex(),
        "deployment.environment.name": "production",
        "host.name": f"ip-10-0-{int(rng.integers(0, 255))}-{int(rng.integers(0, 255))}",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.38.0",
    }


def _trace(
    rng: np.random.Generator, trace_id: bytes, span_ids: list[bytes], now_ns: int
) -> list[Span]:
    """An agent invocation: a root span and up to three model calls under it."""
    model = MODELS[int(rng.integers(0, len(MODELS)))]
    start = now_ns - int(rng.integers(5, 60)) * 1_000_000_000
    calls = []
    cursor = start + int(rng.integers(1, 20)) * 1_000_000
    for span_id in span_ids[1:]:
        duration = int(rng.lognormal(21, 0.8))  # around a second, with a long tail
        calls.append(_chat_span(rng, trace_id, span_id, span_ids[0], model, cursor, duration))
        cursor += duration + int(rng.integers(1, 50)) * 1_000_000
    root = _root_span(rng, trace_id, span_ids[0], model, start, cursor, calls)
    return [root, *calls]


def _chat_span(
    rng: np.random.Generator,
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes,
    model: tuple[str, str, str, str],
    start: int,
    duration: int,
) -> Span:
    provider, requested, answered, address = model
    status_code = int(rng.choice([200] * 97 + [429, 429, 500]))
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": requested,
        "gen_ai.response.model": answered,
        "gen_ai.request.temperature": float(rng.choice([0.0, 0.2, 0.7, 1.0])),
        "gen_ai.response.id": f"resp_{rng.bytes(12).hex()}",
        "gen_ai.usage.input_tokens": int(rng.integers(50, 8000)),
        "gen_ai.usage.output_tokens": int(rng.integers(1, 1500)),
        "gen_ai.response.finish_reasons": [str(rng.choice(FINISH_REASONS))],
        "server.address": address,
        "server.port": 443,
        "http.response.status_code": status_code,
    }
    status = Status(code=Status.STATUS_CODE_OK)
    if status_code != 200:
        attributes["error.type"] = str(status_code)
        status = Status(code=Status.STATUS_CODE_ERROR, message=f"HTTP {status_code}")
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_id,
        name=f"chat {requested}", kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start, end_time_unix_nano=start + duration,
        attributes=key_values(attributes), status=status,
    )  # fmt: skip


def _root_span(
    rng: np.random.Generator,
    trace_id: bytes,
    span_id: bytes,
    model: tuple[str, str, str, str],
    start: int,
    end: int,
    calls: list[Span],
) -> Span:
    provider, requested, answered, address = model
    totals = {"gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0}
    for call in calls:
        for kv in call.attributes:
            if kv.key in totals:
                totals[kv.key] += kv.value.int_value
    agent = str(rng.choice(["support-bot", "research-assistant", "sql-helper", "triage"]))
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.conversation.id": f"conv_{rng.bytes(8).hex()}",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": requested,
        "gen_ai.response.model": answered,
        **totals,
        "gen_ai.response.finish_reasons": ["stop"],
        "server.address": address,
        "http.response.status_code": 200,
    }
    return Span(
        trace_id=trace_id, span_id=span_id, name=f"invoke_agent {agent}",
        kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start, end_time_unix_nano=end,
        attributes=key_values(attributes), status=Status(code=Status.STATUS_CODE_UNSET),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, batch=512, batch_help="spans per request")
    args = parser.parse_args(argv)
    workload = TraceWorkload(args.batch)
    run_benchmark("OTLP/HTTP traces ingest", workload, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
