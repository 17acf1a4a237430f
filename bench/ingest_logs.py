"""Ingest benchmark: LLM-service log records over OTLP/HTTP protobuf.

Each request carries `--batch` records from four services: bodies of about 200 bytes (the
lines of an LLM gateway, a RAG worker and their kin), mostly INFO, half of them inside a
trace. Every body starts with `rid=` and a 16-hex-digit id of its own, so after the run the
store is checked for every acknowledged record, once.

    .venv/bin/python bench/ingest_logs.py --duration 20
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Row,
    StoreReader,
    Template,
    add_common_args,
    compare_ids,
    consecutive_ids,
    fmt_int,
    rate,
    run_benchmark,
    unique_placeholder,
)
from _otlp import AttributeValue, key_values, read_attributes, read_value, resource, scope

TEMPLATES = 16
RESOURCES_PER_PAYLOAD = 4
RID_PREFIX = "rid="
RID_DIGITS = 16

SERVICES = ("llm-gateway", "chat-api", "rag-worker", "vllm-router", "support-agent", "evals")
# severity number, text, weight
SEVERITIES = ((9, "INFO", 80), (13, "WARN", 10), (17, "ERROR", 5), (5, "DEBUG", 5))
MODELS = ("gpt-4o-mini", "claude-sonnet-4", "llama-3.3-70b", "gemini-2.0-flash", "qwen2.5-32b")
MESSAGES = (
    "POST /v1/chat/completions 200 model={model} prompt_tokens={a} completion_tokens={b} "
    "ttft_ms={c} total_ms={d} stream=true cache=miss",
    "upstream rate limited provider=openai model={model} status=429 retry_in_ms={c} "
    "attempt=2/5 route=/v1/chat/completions",
    "retrieved {a} chunks from index=docs-prod-v3 in {c}ms top_score=0.{d} query_tokens={b} "
    "reranker=on",
    "tool call search_docs finished in {c}ms status=ok results={a} turn={b} agent=support-bot",
    "guardrail check passed model={model} categories=4 flagged=0 latency_ms={c} policy=v{a}",
    "request cancelled by client after {d}ms model={model} generated_tokens={b} reason=disconnect",
)
FILLER = (
    "tenant=acme", "region=eu-west-1", "pool=gpu-a100", "user=u_{a}", "session=s_{d}",
    "priority=normal", "sampling=top_p:0.9", "max_tokens={b}", "lora=none", "replica={a}",
)  # fmt: skip


class LogWorkload:
    path = "/v1/logs"
    item = "records"

    def __init__(self, batch: int, seed: int = 20240603) -> None:
        self.batch = batch
        rng = np.random.default_rng(seed)
        # Run-specific high bits keep this run's record ids apart from any other data.
        self.id_base = int(rng.integers(1, 2**23)) << 40
        self.now_ns = time.time_ns()
        taken: set[bytes] = set()
        self.templates: list[Template] = []
        self.body_bytes: list[int] = []
        for number in range(TEMPLATES):
            template, body_bytes = self._template(rng, number, taken)
            self.templates.append(template)
            self.body_bytes.append(body_bytes)

    # --- generation ---------------------------------------------------------------------

    def _template(
        self, rng: np.random.Generator, number: int, taken: set[bytes]
    ) -> tuple[Template, int]:
        rids = [_hex_placeholder(rng, taken) for _ in range(self.batch)]
        groups: list[list[LogRecord]] = [[] for _ in range(RESOURCES_PER_PAYLOAD)]
        for j, rid in enumerate(rids):
            groups[j % RESOURCES_PER_PAYLOAD].append(self._record(rng, rid))
        request = ExportLogsServiceRequest(resource_logs=[
            ResourceLogs(
                resource=resource(_resource_attributes(rng, SERVICES[(number + r) % 6])),
                scope_logs=[ScopeLogs(scope=scope("app.logging", "1.2.0"), log_records=logs)],
            )
            for r, logs in enumerate(groups) if logs
        ])  # fmt: skip
        # Records sit in resource order in the bytes, not in rid order: slots follow rids,
        # so record j still gets id j wherever it sits.
        body_bytes = sum(
            len(rec.body.string_value.encode())
            for group in groups for rec in group
        )  # fmt: skip
        return Template(request.SerializeToString(), rids), body_bytes

    def _record(self, rng: np.random.Generator, rid: bytes) -> LogRecord:
        number, text = _severity(rng)
        stamp = self.now_ns - int(rng.integers(0, 60_000_000_000))
        record = LogRecord(
            time_unix_nano=stamp,
            observed_time_unix_nano=stamp + int(rng.integers(100_000, 5_000_000)),
            severity_number=number,  # type: ignore[arg-type]
            severity_text=text,
            body=AnyValue(string_value=f"{RID_PREFIX}{rid.decode()} {_message(rng)}"),
            attributes=key_values(_record_attributes(rng)),
        )
        if rng.random() < 0.5:
            record.trace_id = rng.bytes(16)
            record.span_id = rng.bytes(8)
            record.flags = 1
        return record

    def payload(self, index: int) -> bytes:
        first = self.id_base + index * self.batch
        rids = [f"{first + j:0{RID_DIGITS}x}".encode() for j in range(self.batch)]
        return self.templates[index % TEMPLATES].render(rids)

    def items(self, index: int) -> int:
        return self.batch

    def self_test(self) -> None:
        request = ExportLogsServiceRequest.FromString(self.payload(2))
        bodies = [
            rec.body.string_value
            for r in request.resource_logs for s in r.scope_logs for rec in s.log_records
        ]  # fmt: skip
        ids = sorted(int(b[len(RID_PREFIX) : len(RID_PREFIX) + RID_DIGITS], 16) for b in bodies)
        first = self.id_base + 2 * self.batch
        if ids != list(range(first, first + self.batch)):
            raise RuntimeError("stamped log payloads do not carry the expected ids")

    # --- measuring ----------------------------------------------------------------------

    def parse_only(self, payload: bytes) -> int:
        request = ExportLogsServiceRequest.FromString(payload)
        count = 0
        for resource_logs in request.resource_logs:
            read_attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    _read_record(record)
                    count += 1
        return count

    def load_rows(self, acked: Sequence[int], elapsed: float) -> list[Row]:
        body_bytes = sum(self.body_bytes[i % TEMPLATES] for i in acked)
        return [
            ("log body bytes acknowledged", f"{body_bytes / 1e6:,.1f} MB"),
            ("log body MB/s (10^6 bytes)", f"{rate(body_bytes, elapsed) / 1e6:,.2f}"),
            ("mean body length", f"{sum(self.body_bytes) / (TEMPLATES * self.batch):.0f} bytes"),
        ]

    def api_check(self, port: int, acked: Sequence[int]) -> list[Row]:
        return []

    def check(self, store: StoreReader, acked: Sequence[int]) -> list[Row]:
        start = len(RID_PREFIX) + 1
        raw = store.raw(
            "SELECT reinterpretAsUInt64(reverse(unhex("
            f"substring(body, {start}, {RID_DIGITS})))) FROM logs"
        )
        stored = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
        expected = consecutive_ids(acked, self.batch, self.id_base)
        rows = compare_ids(expected, stored).rows("records")
        traced = store.scalar("SELECT countIf(trace_id != toFixedString('', 16)) FROM logs")
        return [*rows, ("records stored with a trace id", fmt_int(int(traced)))]


def _hex_placeholder(rng: np.random.Generator, taken: set[bytes]) -> bytes:
    return unique_placeholder(rng, RID_DIGITS // 2, taken).hex().encode()


def _severity(rng: np.random.Generator) -> tuple[int, str]:
    weights = np.array([w for *_, w in SEVERITIES], dtype=float)
    number, text, _ = SEVERITIES[int(rng.choice(len(SEVERITIES), p=weights / weights.sum()))]
    return number, text


def _message(rng: np.random.Generator) -> str:
    """A log line of 150 to 250 bytes in all, with the rid: padded with context fields."""
    values = {
        "model": str(rng.choice(MODELS)),
        "a": int(rng.integers(1, 64)),
        "b": int(rng.integers(1, 4000)),
        "c": int(rng.integers(5, 3000)),
        "d": int(rng.integers(1000, 99999)),
    }
    target = int(rng.integers(150, 251)) - len(RID_PREFIX) - RID_DIGITS - 1
    text = str(rng.choice(MESSAGES)).format(**values)
    for field in rng.permutation(len(FILLER)):
        if len(text) >= target:
            break
        text += " " + FILLER[int(field)].format(**values)
    return text[:target]


def _resource_attributes(rng: np.random.Generator, service: str) -> dict[str, AttributeValue]:
    return {
        "service.name": service,
        "service.namespace": "llm-platform",
        "service.version": f"1.{int(rng.integers(0, 9))}.0",
        "service.instance.id": rng.bytes(16).hex(),
        "deployment.environment.name": "production",
        "host.name": f"ip-10-0-{int(rng.integers(0, 255))}-{int(rng.integers(0, 255))}",
    }


def _record_attributes(rng: np.random.Generator) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "code.function.name": str(rng.choice(["handle_request", "stream_tokens", "retrieve"])),
        "code.file.path": "/app/server/handlers.py",
        "code.line.number": int(rng.integers(10, 900)),
    }
    if rng.random() < 0.5:
        attributes["gen_ai.request.model"] = str(rng.choice(MODELS))
    return attributes


def _read_record(record: LogRecord) -> tuple[object, ...]:
    return (
        record.time_unix_nano, record.observed_time_unix_nano, record.severity_number,
        record.severity_text, read_value(record.body), record.trace_id, record.span_id,
        record.flags, read_attributes(record.attributes),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, batch=512, batch_help="log records per request")
    args = parser.parse_args(argv)
    run_benchmark("OTLP/HTTP logs ingest", LogWorkload(args.batch), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
