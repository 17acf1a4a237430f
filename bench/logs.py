"""Log benchmark: Loki push ingest, LogQL line filters and LogQL metric queries.

The lines are those of an LLM platform: an API gateway, vLLM engines and a router in the
`prod` namespace (and a smaller `staging`) log logfmt; a RAG worker and a chat API in the
`apps` namespace log JSON. About 200 bytes a line: request id, model, token counts,
latencies, status, level, path, and in `--trace-share` of the lines a trace id. Streams are
labelled `service_name`, `namespace`, `pod` and `level`, and a line's `level=` field is its
stream's level. (`prod` logs logfmt only: Loki fails a metric query whose parser errs on a
line, and `{namespace="prod"} | logfmt` would err on every JSON line.)

1. Loki push ingest (`--ingest`). A fresh `observatory serve`; `--senders` connections push
   for `--duration` seconds, each with one request in flight, to `/loki/api/v1/push`:
   snappy-compressed `logproto.PushRequest` protobuf as Promtail and Alloy send it (`--format
   json` for Loki's JSON push), `--batch` lines a request over 21 streams. Payloads are
   stamped out of 16 templates built with the server's own message classes, every line with
   a request id of its own, before the clock starts. Figures: acknowledged lines/s and MB/s
   of line bytes (10^6 bytes; the goal is 20 MB/s), request latency, refusals, server RSS;
   after the server stops, every acknowledged line is looked for in the store by its request
   id.

2. Line filters (`--filter`). `--lines` lines (30 streams, timestamps in time order over the
   last 24 h) are inserted straight into a fresh store with the server stopped: the bench
   opens the data dir with `EmbeddedStore`, applies the schema and inserts Arrow tables built
   with `LogColumns`, `--chunk` rows at a time, with trace ids, levels and stream ids as the
   push path stores them. 0.01 % of the lines hold a rare phrase (the needle), 1 % the word
   `timeout`, and gateway and router lines carry `status=NNN`. Then the server starts and
   `query_range` of `{namespace="prod"} |= "<needle>"`, `|= "timeout"` and
   `|~ "status=5\\d\\d"` over the 24 h, limit 100, is run `--repeat` times, the first run
   left out. MB/s scanned is the bytes of all `prod` lines in the 24 h over the p50 latency
   (goal 500 MB/s); the `stats.summary` of the last answer is shown. Each filter's total is
   then counted once with `sum(count_over_time(...[24h]))` against the loaded data.

3. Metric queries (`--metric`), on the same store: `sum by (service_name)
   (count_over_time({namespace="prod"}[5m]))` over 24 h at `--step` and at the default step;
   `sum by (level) (count_over_time({namespace="prod"} | logfmt | level="error" [5m]))` and
   `quantile_over_time(0.95, {service_name="gateway"} | logfmt | unwrap latency_ms [5m]) by
   (model)` over the last hour at `--step`. Every point of every answer is compared with the
   value computed from the loaded lines.

Figures only, never pass/fail. Progress goes to stderr, tables to stdout, and a summary block
to copy into docs/benchmarks.md comes last.

    .venv/bin/python bench/logs.py                                  # all three parts
    .venv/bin/python bench/logs.py --ingest --duration 20
    .venv/bin/python bench/logs.py --filter --metric --lines 1000000 --repeat 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    PROTOBUF,
    LoadResult,
    Row,
    Server,
    StopResult,
    StoreReader,
    Template,
    _LoadTarget,
    _merge,
    _Sender,
    add_output_args,
    compare_ids,
    consecutive_ids,
    fmt_int,
    fmt_mib,
    fmt_ms,
    get_text,
    log,
    percent,
    percentile,
    print_table,
    rate,
    self_metric,
    unique_placeholder,
)
from _prom import ApiClient, OtherCpu, compress, table_bytes
from observatory.receivers.loki import pushpb
from observatory.receivers.loki.streams import format_labels
from observatory.receivers.remote_write import snappy_decompress
from observatory.signals.logs import LogColumns, LogRow
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate
from promql import wait_idle

TENANT = "default"
PUSH_PATH = "/loki/api/v1/push"
SECOND_NS = 1_000_000_000
DAY_S = 24 * 3600
HOUR_S = 3600
RANGE_S = 300  # the [5m] of the metric queries
MB = 1e6
GOAL_INGEST_MB_S = 20.0
GOAL_SCAN_MB_S = 500.0
TEMPLATES = 16
RID_DIGITS = 16
TRACE_DIGITS = 32
I64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NEEDLE = "illegal memory access"
FREQUENT = "timeout"
FIVE_XX = r"status=5\d\d"
NEEDLE_SHARE = 0.0001
TIMEOUT_SHARE = 0.01
PROD = "prod"
RID_REGEX = r'request_id[=":]+([0-9a-f]{16})'

MODELS = (
    "llama-3.3-70b-instruct", "qwen2.5-32b-instruct", "mistral-small-24b",
    "gemma-3-27b-it", "deepseek-r1-distill-14b", "phi-4",
)  # fmt: skip
PATHS = ("/v1/chat/completions", "/v1/chat/completions", "/v1/completions", "/v1/embeddings")
COLLECTIONS = ("docs-prod-v3", "tickets", "code-index", "wiki")
LEVELS = (("info", 0.85, 9), ("warn", 0.10, 13), ("error", 0.05, 17))
SEVERITY = {name: number for name, _, number in LEVELS}
# namespace, service, line format, pods, share of all lines
SERVICES = (
    (PROD, "gateway", "gateway", 2, 0.28),
    (PROD, "vllm", "vllm", 2, 0.31),
    (PROD, "router", "router", 1, 0.11),
    ("staging", "gateway", "gateway", 1, 0.05),
    ("staging", "vllm", "vllm", 1, 0.05),
    ("apps", "rag-worker", "json", 1, 0.10),
    ("apps", "chat-api", "json", 2, 0.10),
)


# --- streams and lines ------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    labels: dict[str, str]
    kind: str  # gateway, vllm, router (logfmt) or json
    level: str
    share: float  # of all lines
    pod_number: int

    @property
    def service(self) -> str:
        return self.labels["service_name"]

    @property
    def namespace(self) -> str:
        return self.labels["namespace"]


def stream_catalog() -> list[Stream]:
    """30 streams: every service's pods at three levels."""
    streams = []
    for namespace, service, kind, pods, share in SERVICES:
        for pod in range(pods):
            digest = zlib.crc32(f"{namespace}/{service}".encode())
            name = f"{service}-{digest % 0xFFFFFFF:07x}-{'bcdfghjk'[pod]}x{pod + 2}q"
            for level, level_share, _ in LEVELS:
                labels = {"service_name": service, "namespace": namespace, "pod": name,
                          "level": level}  # fmt: skip
                streams.append(Stream(labels, kind, level, share / pods * level_share, pod))
    return streams


class Clock:
    """ISO-8601 text of nanosecond times, the seconds part formatted once per second."""

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def text(self, ts_ns: int) -> str:
        seconds, rest = divmod(ts_ns, SECOND_NS)
        prefix = self._seconds.get(seconds)
        if prefix is None:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._seconds[seconds] = prefix
        return f"{prefix}.{rest // 1_000_000:03d}Z"


class Draw(NamedTuple):
    """Per-line random values of one block of lines, drawn with numpy."""

    stream: list[int]
    model: list[int]
    prompt: list[int]
    completion: list[int]
    latency: list[int]
    ttft: list[int]
    queue: list[int]
    user: list[int]
    pick: list[int]
    special: list[int]  # 0 an ordinary line, 1 a timeout, 2 the needle
    traced: list[bool]
    trace_ids: list[str]


def draw(rng: np.random.Generator, count: int, shares: Sequence[float], trace_share: float) -> Draw:
    weights = np.asarray(shares, dtype=float)
    stream = rng.choice(len(shares), size=count, p=weights / weights.sum())
    latency = rng.lognormal(math.log(900), 0.8, count).astype(np.int64) + 20
    special = np.zeros(count, dtype=np.int64)
    special[rng.random(count) < TIMEOUT_SHARE] = 1
    special[rng.random(count) < NEEDLE_SHARE] = 2
    traced = rng.random(count) < trace_share
    raw = rng.bytes(16 * count)
    return Draw(
        stream=stream.tolist(),
        model=rng.integers(0, len(MODELS), count).tolist(),
        prompt=rng.lognormal(math.log(800), 0.7, count).astype(np.int64).tolist(),
        completion=rng.lognormal(math.log(220), 0.7, count).astype(np.int64).tolist(),
        latency=latency.tolist(),
        ttft=(latency * rng.uniform(0.05, 0.3, count)).astype(np.int64).tolist(),
        queue=rng.integers(0, 400, count).tolist(),
        user=rng.integers(1000, 99999, count).tolist(),
        pick=rng.integers(0, 1 << 30, count).tolist(),
        special=special.tolist(),
        traced=traced.tolist(),
        trace_ids=[raw[i : i + 16].hex() for i in range(0, 16 * count, 16)],
    )


def make_line(stream: Stream, when: str, rid: str, d: Draw, i: int) -> str:
    """The i-th drawn line of `stream`, about 200 bytes, with request id `rid`."""
    level, special, pick = stream.level, d.special[i], d.pick[i]
    model = MODELS[d.model[i]]
    trace = d.trace_ids[i] if d.traced[i] else ""
    if stream.kind == "json":
        return _json_line(stream, when, rid, d, i, model, trace)
    if stream.kind == "gateway":
        status, msg, extra = 200, "request completed", f" user=u_{d.user[i]}"
        if special == 1:
            status, msg = 504, f"upstream {FREQUENT} after 30000ms"
        elif special == 2:
            status, msg = 500, f"upstream failed: CUDA error: an {NEEDLE} was encountered"
        elif level == "warn":
            status, msg = 429, "upstream rate limited, retrying"
        elif level == "error":
            status = (500, 502, 503)[pick % 3]
            msg, extra = "upstream error", ' error="connection reset by peer"'
        line = (
            f'ts={when} level={level} msg="{msg}" request_id={rid} method=POST '
            f"path={PATHS[pick % 4]} model={model} status={status} "
            f"prompt_tokens={d.prompt[i]} completion_tokens={d.completion[i]} "
            f"latency_ms={d.latency[i]} ttft_ms={d.ttft[i]}{extra}"
        )
    elif stream.kind == "vllm":
        msg = "finished request"
        if special == 1:
            msg = f"request {FREQUENT} in scheduler queue"
        elif special == 2:
            msg = f"engine core failed: CUDA error: an {NEEDLE} was encountered"
        elif level == "warn":
            msg = "kv cache full, preempting sequence"
        elif level == "error":
            msg = "request aborted by engine"
        line = (
            f'ts={when} level={level} msg="{msg}" request_id={rid} model={model} '
            f"prompt_tokens={d.prompt[i]} generation_tokens={d.completion[i]} "
            f"queue_ms={d.queue[i]} ttft_ms={d.ttft[i]} e2e_ms={d.latency[i]} "
            f"kv_cache_usage=0.{pick % 100:02d} running={pick % 48} waiting={pick % 7}"
        )
    else:
        status, msg = 200, "routed request"
        if special == 1:
            status, msg = 504, f"replica {FREQUENT}, giving up"
        elif special == 2:
            status, msg = 500, f"replica failed: CUDA error: an {NEEDLE} was encountered"
        elif level == "warn":
            status, msg = 429, "replica saturated, rerouting"
        elif level == "error":
            status, msg = 502, "no healthy replica"
        line = (
            f'ts={when} level={level} msg="{msg}" request_id={rid} path={PATHS[pick % 4]} '
            f"model={model} replica=vllm-{pick % 8} status={status} "
            f"latency_ms={d.latency[i]} attempt={1 + pick % 2} policy=least-loaded"
        )
    return f"{line} trace_id={trace}" if trace else line


def _json_line(stream: Stream, when: str, rid: str, d: Draw, i: int, model: str, trace: str) -> str:
    level, special, pick = stream.level, d.special[i], d.pick[i]
    if stream.service == "rag-worker":
        msg = "retrieved chunks"
        if special == 1:
            msg = f"vector store {FREQUENT}"
        elif special == 2:
            msg = f"reranker failed: CUDA error: an {NEEDLE} was encountered"
        elif level != "info":
            msg = "reranker slow" if level == "warn" else "retrieval failed"
        body = (
            f'"logger":"rag.retrieve","msg":"{msg}","request_id":"{rid}",'
            f'"collection":"{COLLECTIONS[pick % 4]}","top_k":8,"chunks":{pick % 9},'
            f'"latency_ms":{d.queue[i] + 5},"query_tokens":{d.prompt[i] // 20}'
        )
    else:
        msg = "chat turn completed"
        if special == 1:
            msg = f"model call {FREQUENT}"
        elif special == 2:
            msg = f"model call failed: CUDA error: an {NEEDLE} was encountered"
        elif level != "info":
            msg = "guardrail flagged reply" if level == "warn" else "chat turn failed"
        body = (
            f'"logger":"chat.api","msg":"{msg}","request_id":"{rid}","model":"{model}",'
            f'"session":"s_{pick % 100000}","turn":{1 + pick % 12},'
            f'"tokens":{d.prompt[i] + d.completion[i]},"latency_ms":{d.latency[i]}'
        )
    trace_part = f',"trace_id":"{trace}"' if trace else ""
    return f'{{"ts":"{when}","level":"{level}",{body}{trace_part}}}'


# --- part 1: Loki push ingest -----------------------------------------------------------


class PushWorkload:
    """Push requests of `batch` lines over the streams of pod 0 (21 streams)."""

    def __init__(self, batch: int, fmt: str, trace_share: float, seed: int = 20250601) -> None:
        self.batch = batch
        self.fmt = fmt
        self.streams = [s for s in stream_catalog() if s.pod_number == 0]
        rng = np.random.default_rng(seed)
        # Run-specific high bits keep this run's request ids apart from any other data.
        self.id_base = int(rng.integers(1, 2**23)) << 40
        self.now_ns = time.time_ns()
        taken: set[bytes] = set()
        self.templates: list[Template] = []
        self.line_bytes: list[int] = []
        self.traced: list[int] = []
        self.errors: list[int] = []
        for _ in range(TEMPLATES):
            self._template(rng, taken, trace_share)

    def _template(self, rng: np.random.Generator, taken: set[bytes], trace_share: float) -> None:
        rids = [unique_placeholder(rng, RID_DIGITS // 2, taken).hex() for _ in range(self.batch)]
        d = draw(rng, self.batch, [s.share for s in self.streams], trace_share)
        stamps = self.now_ns - rng.integers(0, 60 * SECOND_NS, self.batch)
        clock = Clock()
        by_stream: dict[int, list[tuple[int, str]]] = {}
        for j in range(self.batch):
            stream = self.streams[d.stream[j]]
            stamp = int(stamps[j])
            line = make_line(stream, clock.text(stamp), rids[j], d, j)
            by_stream.setdefault(d.stream[j], []).append((stamp, line))
        lines = [line for entries in by_stream.values() for _, line in entries]
        body = self._encode(by_stream)
        self.templates.append(Template(body, [r.encode() for r in rids]))
        self.line_bytes.append(sum(len(line.encode()) for line in lines))
        self.traced.append(sum(d.traced))
        self.errors.append(sum(self.streams[s].level == "error" for s in d.stream))

    def _encode(self, by_stream: dict[int, list[tuple[int, str]]]) -> bytes:
        """The uncompressed body; entries of a stream in time order, as Promtail sends them."""
        if self.fmt == "json":
            streams = [
                {"stream": self.streams[s].labels,
                 "values": [[str(t), line] for t, line in sorted(entries)]}
                for s, entries in by_stream.items()
            ]  # fmt: skip
            return json.dumps({"streams": streams}, separators=(",", ":")).encode()
        request = pushpb.PushRequest()
        for s, entries in by_stream.items():
            adapter = request.streams.add()  # type: ignore[attr-defined]
            adapter.labels = format_labels(self.streams[s].labels)
            for stamp, line in sorted(entries):
                entry = adapter.entries.add()
                entry.timestamp.seconds, entry.timestamp.nanos = divmod(stamp, SECOND_NS)
                entry.line = line
        return bytes(request.SerializeToString())

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json" if self.fmt == "json" else PROTOBUF}

    def payload(self, index: int) -> bytes:
        first = self.id_base + index * self.batch
        rids = [f"{first + j:0{RID_DIGITS}x}".encode() for j in range(self.batch)]
        body = self.templates[index % TEMPLATES].render(rids)
        return body if self.fmt == "json" else compress(body)

    def lines_of(self, payload: bytes) -> list[str]:
        if self.fmt == "json":
            request = json.loads(payload)
            return [v[1] for s in request["streams"] for v in s["values"]]
        message = pushpb.parse_push_request(snappy_decompress(payload, 1 << 30))
        return [e.line for s in message.streams for e in s.entries]

    def self_test(self) -> None:
        lines = self.lines_of(self.payload(2))
        ids = sorted(int(m.group(1), 16) for m in map(re.compile(RID_REGEX).search, lines) if m)
        first = self.id_base + 2 * self.batch
        if ids != list(range(first, first + self.batch)):
            raise RuntimeError("stamped push payloads do not carry the expected request ids")

    def parse_only(self, payload: bytes) -> int:
        """Decode a payload in pure Python, touching every line; returns the lines."""
        count = 0
        for line in self.lines_of(payload):
            count += len(line) > 0
        return count


class _PushSender(_Sender):
    """The harness's sender, for a receiver that acknowledges with 204 No Content."""

    def _post(self, body: bytes) -> tuple[int, float, float]:
        status, retry_after, elapsed = super()._post(body)
        return (200 if status == 204 else status), retry_after, elapsed


def run_push(
    port: int, workload: PushWorkload, payloads: Sequence[bytes], senders: int, duration: float
) -> LoadResult:
    """The harness's closed loop with Loki's route, Content-Type and 204 answer."""
    counter = itertools.count()
    started = time.perf_counter()
    target = _LoadTarget(port, PUSH_PATH, payloads, started + duration, workload.headers)
    threads = [_PushSender(f"sender-{i}", target, counter.__next__) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _merge([t.stats for t in threads], time.perf_counter() - started)


def ingest_part(args: argparse.Namespace, root: Path) -> list[Row]:
    log(f"building {TEMPLATES} push templates ({args.format}) ...")
    workload = PushWorkload(args.batch, args.format, args.trace_share, args.seed)
    workload.self_test()
    sample = [workload.payload(i) for i in range(TEMPLATES)]
    started = time.perf_counter()
    parsed = 0
    while time.perf_counter() - started < 3.0:
        parsed += sum(workload.parse_only(p) for p in sample)
    ceiling = parsed / (time.perf_counter() - started)
    mean_line = sum(workload.line_bytes) / (TEMPLATES * args.batch)
    count = push_payload_count(args, mean_line, len(sample[0]))
    started = time.perf_counter()
    payloads = [workload.payload(i) for i in range(count)]
    log(f"generated {count} payloads, {sum(map(len, payloads)) / 1024**2:,.0f} MiB, "
        f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    (root / "ingest").mkdir()
    server = Server(root / "ingest")
    try:
        log(f"starting the server ({server.root}) ...")
        server.start()
        assert server.process is not None
        log(f"pushing for {args.duration:g} s with {args.senders} senders ...")
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        others = OtherCpu([server.process.pid])
        result = run_push(server.http_port, workload, payloads, args.senders, args.duration)
        cpu = (server.cpu_seconds() - server_cpu, time.process_time() - client_cpu,
               others.cores())  # fmt: skip
        exposition = get_text(server.http_port, "/metrics")
        log("stopping the server (SIGTERM) ...")
        stopped = server.stop()
        rows = push_rows(workload, result, args, payloads, ceiling)
        rows += [
            ("server CPU during load (cores busy)", f"{cpu[0] / result.elapsed:.2f}"),
            ("bench client CPU during load (cores busy)", f"{cpu[1] / result.elapsed:.2f}"),
            ("other processes' CPU during load (cores busy)", f"{cpu[2]:.2f}"),
        ]
        rows += self_metric_rows(exposition, result.elapsed)
        rows += server_rows(server, stopped)
        log("checking the store ...")
        store = StoreReader(server.data_dir)
        try:
            rows += push_store_rows(store, workload, result.acked)
        finally:
            store.close()
    finally:
        server.kill()
    return rows


def push_payload_count(args: argparse.Namespace, mean_line: float, payload_size: int) -> int:
    if args.payloads > 0:
        return int(args.payloads)
    # The protobuf parse alone runs at millions of lines/s, far beyond what any server
    # accepts (the default ingestion rate limit is 64 MB/s): enough for four times the goal.
    lines_per_s = 4 * GOAL_INGEST_MB_S * MB / mean_line
    wanted = math.ceil(args.duration * lines_per_s / args.batch)
    budget = args.payload_budget_mib * 1024**2 // max(1, payload_size)
    if wanted > budget:
        log(f"payload budget allows {budget} payloads of the {wanted} wanted")
    return max(args.senders * 4, min(wanted, budget))


def push_rows(
    workload: PushWorkload,
    result: LoadResult,
    args: argparse.Namespace,
    payloads: Sequence[bytes],
    ceiling: float,
) -> list[Row]:
    lines = len(result.acked) * workload.batch
    line_bytes = sum(workload.line_bytes[i % TEMPLATES] for i in result.acked)
    raw = sum(len(t.data) for t in workload.templates) / TEMPLATES
    sent = sum(len(payloads[i]) for i in result.acked)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(result.errors.items())) or "none"
    refusals = ", ".join(f"{k}: {v}" for k, v in sorted(result.refusals.items()))
    throughput = rate(lines, result.elapsed)
    rows: list[Row] = [
        ("format", "protobuf (snappy)" if workload.fmt == "protobuf" else "JSON"),
        ("senders / lines per request / streams",
         f"{args.senders} / {fmt_int(workload.batch)} / {len(workload.streams)}"),
        ("request: bytes uncompressed / sent",
         f"{fmt_int(raw)} / {fmt_int(sent / max(1, len(result.acked)))}"),
        ("mean line length",
         f"{sum(workload.line_bytes) / (TEMPLATES * workload.batch):.0f} bytes"),
        ("elapsed (last answer)", f"{result.elapsed:.1f} s"),
        ("payloads generated / sent", f"{fmt_int(len(payloads))} / {fmt_int(result.taken)}"),
        ("requests acknowledged", fmt_int(len(result.acked))),
        ("requests/s", f"{rate(len(result.acked), result.elapsed):,.1f}"),
        ("lines acknowledged", fmt_int(lines)),
        ("lines/s", fmt_int(throughput)),
        ("line bytes acknowledged", f"{line_bytes / MB:,.1f} MB"),
        ("line MB/s (10^6 bytes; goal >= 20)", f"{rate(line_bytes, result.elapsed) / MB:,.2f}"),
        ("request bytes sent/s", f"{rate(sent, result.elapsed) / MB:,.2f} MB/s"),
        ("latency p50 / p99 / max",
         " / ".join(fmt_ms(percentile(result.latencies, q)) for q in (50, 99, 100))),
        ("refused answers (429/503)",
         fmt_int(result.refused) + (f" ({refusals})" if refusals else "")),
        ("payloads abandoned after refusals", fmt_int(result.abandoned)),
        ("other failures", errors),
        ("parse-only ceiling, lines/s (1 process)", fmt_int(ceiling)),
        ("throughput / parse-only ceiling", percent(throughput, ceiling)),
    ]  # fmt: skip
    if result.exhausted:
        rows.append(("WARNING", "ran out of payloads before the deadline: raise --payloads"))
    return rows


def self_metric_rows(exposition: str, elapsed: float) -> list[Row]:
    received = self_metric(exposition, "observatory_received_items_total", "logs")
    accepted = self_metric(exposition, "observatory_accepted_items_total", "logs")
    refused = self_metric(exposition, "observatory_refused_items_total", "logs")
    commits = self_metric(exposition, "observatory_batch_commit_seconds_count", "logs")
    commit_time = self_metric(exposition, "observatory_batch_commit_seconds_sum", "logs")
    batch_items = self_metric(exposition, "observatory_batch_items_sum", "logs")
    return [
        ("server: lines received / accepted (its /metrics)",
         f"{fmt_int(received)} / {fmt_int(accepted)}"),
        ("server: lines refused (its /metrics)", fmt_int(0 if math.isnan(refused) else refused)),
        ("server: commits, mean lines / mean time",
         f"{fmt_int(commits)}, {fmt_int(rate(batch_items, commits))} / "
         f"{fmt_ms(rate(commit_time, commits))}"),
        ("server: share of wall time committing", percent(commit_time, elapsed)),
    ]  # fmt: skip


def server_rows(server: Server, stopped: StopResult) -> list[Row]:
    problems = server.log_problems()
    rows: list[Row] = [
        ("server RSS at ready / peak",
         f"{fmt_mib(server.rss_at_ready)} / {fmt_mib(server.rss_peak)}"),
        ("server stop (SIGTERM to exit)",
         f"{stopped.seconds:.1f} s, exit code {stopped.exit_code}"
         + (" (killed after timeout)" if stopped.killed else "")),
        ("server log warnings/errors", fmt_int(len(problems))),
    ]  # fmt: skip
    seen: set[str] = set()
    for line in problems:
        text = line.split(" ", 2)[-1]  # timestamps make every line distinct
        if text not in seen and len(seen) < 5:
            seen.add(text)
            rows.append((f"  log line {len(seen)}", line[:160]))
    return rows


def push_store_rows(store: StoreReader, workload: PushWorkload, acked: Sequence[int]) -> list[Row]:
    raw = store.raw(
        f"SELECT reinterpretAsUInt64(reverse(unhex(extract(body, '{RID_REGEX}')))) FROM logs"
    )
    stored = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
    expected = consecutive_ids(acked, workload.batch, workload.id_base)
    rows = compare_ids(expected, stored).rows("lines")
    streams = int(store.scalar("SELECT uniqExact(stream_id) FROM logs"))
    traced = int(store.scalar("SELECT countIf(trace_id != toFixedString('', 16)) FROM logs"))
    errors = int(store.scalar("SELECT countIf(severity_number = 17) FROM logs"))
    want_traced = sum(workload.traced[i % TEMPLATES] for i in acked)
    want_errors = sum(workload.errors[i % TEMPLATES] for i in acked)
    return [
        *rows,
        ("distinct streams stored / pushed", f"{streams} / {len(workload.streams)}"),
        ("lines stored with a trace id / lines with one",
         f"{fmt_int(traced)} / {fmt_int(want_traced)}"),
        ("lines stored at level error / in level=error streams",
         f"{fmt_int(errors)} / {fmt_int(want_errors)}"),
    ]  # fmt: skip


# --- parts 2 and 3: the loaded store ----------------------------------------------------


@dataclass
class Loaded:
    """What was inserted, kept to check answers against."""

    lines: int = 0
    line_bytes: int = 0
    prod_lines: int = 0
    prod_bytes: int = 0
    prod_last_hour_bytes: int = 0
    needle: int = 0  # prod lines holding the needle, and so on
    timeout: int = 0
    five_xx: int = 0
    traced: int = 0
    streams: int = 0
    start_ns: int = 0
    end_ns: int = 0
    build_s: float = 0.0
    insert_s: float = 0.0
    wall_s: float = 0.0
    prod_ts: dict[str, I64Array] = field(default_factory=dict)  # by service, sorted
    prod_error_ts: I64Array = field(default_factory=lambda: np.empty(0, np.int64))
    gateway_ts: I64Array = field(default_factory=lambda: np.empty(0, np.int64))
    gateway_model: npt.NDArray[np.int8] = field(default_factory=lambda: np.empty(0, np.int8))
    gateway_latency: I64Array = field(default_factory=lambda: np.empty(0, np.int64))


@dataclass
class _Parts:
    """Arrays of the chunks, joined and sorted once the load is done."""

    prod_ts: dict[str, list[I64Array]] = field(default_factory=dict)
    error_ts: list[I64Array] = field(default_factory=list)
    gateway: list[tuple[I64Array, npt.NDArray[np.int8], I64Array]] = field(default_factory=list)


def load(data_dir: Path, args: argparse.Namespace) -> Loaded:
    """Insert `--lines` lines straight into the store; the server is not running."""
    rng = np.random.default_rng(args.seed)
    streams = stream_catalog()
    shares = [s.share for s in streams]
    prod = np.array([s.namespace == PROD for s in streams])
    error = np.array([s.level == "error" for s in streams])
    service_index = {name: i for i, name in enumerate(sorted({s.service for s in streams}))}
    service_of = np.array([service_index[s.service] for s in streams])
    gateway = np.array([s.service == "gateway" for s in streams])
    end_ns = (time.time_ns() // SECOND_NS + 1) * SECOND_NS
    out = Loaded(streams=len(streams), start_ns=end_ns - DAY_S * SECOND_NS, end_ns=end_ns)
    parts = _Parts()
    chunks = max(1, math.ceil(args.lines / args.chunk))
    window = DAY_S * SECOND_NS
    hour_from = end_ns - HOUR_S * SECOND_NS
    clock = Clock()
    store = EmbeddedStore(data_dir)
    started = time.perf_counter()
    try:
        migrate(store, Retention(7, 30, 90, 30, 7))
        for c in range(chunks):
            count = min(args.chunk, args.lines - c * args.chunk)
            t0 = time.perf_counter()
            # Oldest chunk first: each covers its slice of the day, as a live feed would.
            low, high = window * (chunks - 1 - c) // chunks, window * (chunks - c) // chunks
            ts = end_ns - rng.integers(low, high, count, dtype=np.int64)
            d = draw(rng, count, shares, args.trace_share)
            table = build_chunk(streams, ts, d, clock, c * args.chunk)
            t1 = time.perf_counter()
            store.insert("logs", table)
            t2 = time.perf_counter()
            out.build_s += t1 - t0
            out.insert_s += t2 - t1
            stream = np.asarray(d.stream)
            _account(out, table, ts, stream, prod, hour_from)
            out.traced += int(np.count_nonzero(d.traced))
            in_prod = prod[stream]
            for name, index in service_index.items():
                mask = in_prod & (service_of[stream] == index)
                if mask.any():
                    parts.prod_ts.setdefault(name, []).append(ts[mask])
            parts.error_ts.append(ts[in_prod & error[stream]])
            mask = gateway[stream]
            latency = np.asarray(d.latency, dtype=np.int64)[mask]
            models = np.asarray(d.model, dtype=np.int8)[mask]
            parts.gateway.append((ts[mask], models, latency))
            done = c * args.chunk + count
            log(f"  {fmt_int(done)} lines, {done / (t2 - started):,.0f} lines/s "
                f"(build {out.build_s:.0f} s, insert {out.insert_s:.0f} s)")  # fmt: skip
        out.wall_s = time.perf_counter() - started
    finally:
        store.close()
    out.prod_ts = {k: np.sort(np.concatenate(v)) for k, v in parts.prod_ts.items()}
    out.prod_error_ts = np.sort(np.concatenate(parts.error_ts))
    order_ts = np.concatenate([g[0] for g in parts.gateway])
    order = np.argsort(order_ts, kind="stable")
    out.gateway_ts = order_ts[order]
    out.gateway_model = np.concatenate([g[1] for g in parts.gateway])[order]
    out.gateway_latency = np.concatenate([g[2] for g in parts.gateway])[order]
    return out


def build_chunk(streams: Sequence[Stream], ts: I64Array, d: Draw, clock: Clock, first: int) -> Any:
    """The chunk as the push path stores it: levels from the level label, trace ids found."""
    columns = LogColumns(TENANT)
    index = [columns.add_stream(s.labels, s.service) for s in streams]
    zero_trace, zero_span = bytes(16), bytes(8)
    stamps = ts.tolist()
    for i, stamp in enumerate(stamps):
        stream = streams[d.stream[i]]
        rid = f"{first + i:0{RID_DIGITS}x}"
        line = make_line(stream, clock.text(stamp), rid, d, i)
        trace = bytes.fromhex(d.trace_ids[i]) if d.traced[i] else zero_trace
        severity = SEVERITY[stream.level]
        row = LogRow(stamp, stamp + 2_000_000, severity, stream.level, line, "", trace,
                     zero_span, 0, "", 0)  # fmt: skip
        columns.append(index[d.stream[i]], [], row)
    return columns.table()


def _account(
    out: Loaded, table: pa.Table, ts: I64Array, stream: Any, prod: BoolArray, hour_from: int
) -> None:
    body = table.column("body")
    lengths = pc.binary_length(body.cast(pa.binary())).to_numpy()
    in_prod = prod[stream]
    out.lines += len(ts)
    out.line_bytes += int(lengths.sum())
    out.prod_lines += int(in_prod.sum())
    out.prod_bytes += int(lengths[in_prod].sum())
    out.prod_last_hour_bytes += int(lengths[in_prod & (ts > hour_from)].sum())
    for name, matched in (
        ("needle", pc.match_substring(body, NEEDLE)),
        ("timeout", pc.match_substring(body, FREQUENT)),
        ("five_xx", pc.match_substring_regex(body, FIVE_XX)),
    ):
        hits = int(np.count_nonzero(matched.to_numpy(zero_copy_only=False) & in_prod))
        setattr(out, name, getattr(out, name) + hits)


# --- the queries ------------------------------------------------------------------------


Check = Callable[[Any], tuple[str, str]]  # the answer's data -> (problem or "", what it held)


@dataclass(frozen=True)
class Query:
    name: str
    expr: str
    window_s: int
    step: str | None  # None: the API's default step (metric queries) or none (log queries)
    limit: int | None
    scanned: int  # bytes of the lines the selector picks in the window, 0 when not shown
    goal: str
    check: Check
    part: str  # "filter" or "metric"


@dataclass
class Report:
    query: Query
    seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    shown: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return percentile(self.seconds, 50)

    @property
    def scan_mb_s(self) -> float:
        return self.query.scanned / self.p50 / MB if self.query.scanned else math.nan


def filter_queries(loaded: Loaded) -> list[Query]:
    selector = f'{{namespace="{PROD}"}}'
    plan = (
        ("needle |=", f'{selector} |= "{NEEDLE}"', loaded.needle, NEEDLE),
        ("frequent |=", f'{selector} |= "{FREQUENT}"', loaded.timeout, FREQUENT),
        ("regex |~", f'{selector} |~ "{FIVE_XX.replace(chr(92), chr(92) * 2)}"', loaded.five_xx,
         FIVE_XX),
    )  # fmt: skip
    goal = f">= {GOAL_SCAN_MB_S:.0f} MB/s"
    return [
        Query(name, expr, DAY_S, None, 100, loaded.prod_bytes, goal,
              _lines_check(matching, pattern), "filter")
        for name, expr, matching, pattern in plan
    ]  # fmt: skip


def _lines_check(matching: int, pattern: str) -> Check:
    regex = re.compile(pattern if pattern == FIVE_XX else re.escape(pattern))

    def check(data: Any) -> tuple[str, str]:
        streams = data.get("result", [])
        lines = [v[1] for s in streams for v in s.get("values", [])]
        want = min(100, matching)
        shown = f"{len(lines)} lines in {len(streams)} streams (of {fmt_int(matching)})"
        if len(lines) != want:
            return f"{len(lines)} lines, not {want}", shown
        wrong = [line for line in lines if not regex.search(line)]
        if wrong:
            return f"{len(wrong)} lines do not match: {wrong[0][:80]}", shown
        if any(s.get("stream", {}).get("namespace") != PROD for s in streams):
            return "a stream outside the selector", shown
        return "", shown

    return check


def metric_queries(loaded: Loaded, step_s: int) -> list[Query]:
    by_service = f'sum by (service_name) (count_over_time({{namespace="{PROD}"}}[5m]))'
    levels = (
        f'sum by (level) (count_over_time({{namespace="{PROD}"}} | logfmt | level="error" [5m]))'
    )
    quantile = (
        'quantile_over_time(0.95, {service_name="gateway"} | logfmt | unwrap latency_ms [5m]) '
        "by (model)"
    )
    day, hour = loaded.prod_bytes, loaded.prod_last_hour_bytes
    return [
        Query(f"count by service, 24 h, step {step_s}s", by_service, DAY_S, f"{step_s}s", None,
              day, "-", _counts_check(loaded, "service_name", loaded.prod_ts, DAY_S, step_s),
              "metric"),
        Query("count by service, 24 h, default step", by_service, DAY_S, None, None, day, "-",
              _counts_check(loaded, "service_name", loaded.prod_ts, DAY_S,
                            math.ceil(DAY_S / 250)), "metric"),
        Query(f"logfmt level=error, 1 h, step {step_s}s", levels, HOUR_S, f"{step_s}s", None,
              hour, "-", _counts_check(loaded, "level", {"error": loaded.prod_error_ts},
                                       HOUR_S, step_s), "metric"),
        Query(f"p95 unwrap latency_ms by model, 1 h, step {step_s}s", quantile, HOUR_S,
              f"{step_s}s", None, 0, "-", _quantile_check(loaded, step_s), "metric"),
    ]  # fmt: skip


def eval_times(loaded: Loaded, window_s: int, step_s: int) -> I64Array:
    start = loaded.end_ns - window_s * SECOND_NS
    return np.arange(start, loaded.end_ns + 1, step_s * SECOND_NS, dtype=np.int64)


def window_counts(ts: I64Array, times: I64Array) -> I64Array:
    """Lines in (t - 5m, t] for each t, as Loki's range windows hold them."""
    right = np.searchsorted(ts, times, side="right")
    left = np.searchsorted(ts, times - RANGE_S * SECOND_NS, side="right")
    return (right - left).astype(np.int64)


def _matrix(data: Any, label: str) -> dict[str, dict[int, float]]:
    """Series of a matrix answer by the value of `label`, points by time in ns."""
    series: dict[str, dict[int, float]] = {}
    for s in data.get("result", []):
        points = {round(float(t) * 1e3) * 1_000_000: float(v) for t, v in s["values"]}
        series[s["metric"].get(label, "")] = points
    return series


def _counts_check(
    loaded: Loaded, label: str, expected: dict[str, I64Array], window_s: int, step_s: int
) -> Check:
    times = eval_times(loaded, window_s, step_s)
    want = {key: window_counts(ts, times) for key, ts in expected.items()}

    def check(data: Any) -> tuple[str, str]:
        got = _matrix(data, label)
        points = sum(len(p) for p in got.values())
        total = sum(sum(p.values()) for p in got.values())
        expected_total = sum(int(w.sum()) for w in want.values())
        shown = (f"{len(got)} series, {fmt_int(points)} points, sum {fmt_int(total)} "
                 f"(expected {fmt_int(expected_total)})")  # fmt: skip
        if set(got) != set(want):
            return f"series {sorted(got)}, expected {sorted(want)}", shown
        wrong = 0
        first = ""
        for key, counts in want.items():
            for t, n in zip(times.tolist(), counts.tolist(), strict=True):
                value = got[key].get(t, 0.0)
                if value != n:
                    wrong += 1
                    first = first or f"{key} at {t}: {value:g}, expected {n}"
            wrong += len(set(got[key]) - set(times.tolist()))
        return (f"{wrong} points differ, e.g. {first}" if wrong else ""), shown

    return check


def _quantile_check(loaded: Loaded, step_s: int) -> Check:
    times = eval_times(loaded, HOUR_S, step_s)
    right = np.searchsorted(loaded.gateway_ts, times, side="right")
    left = np.searchsorted(loaded.gateway_ts, times - RANGE_S * SECOND_NS, side="right")
    want: dict[str, dict[int, float]] = {m: {} for m in MODELS}
    for t, lo, hi in zip(times.tolist(), left.tolist(), right.tolist(), strict=True):
        models = loaded.gateway_model[lo:hi]
        latency = loaded.gateway_latency[lo:hi]
        for number, model in enumerate(MODELS):
            values = latency[models == number]
            if values.size:
                want[model][t] = float(np.quantile(values, 0.95))

    def check(data: Any) -> tuple[str, str]:
        got = _matrix(data, "model")
        points = sum(len(p) for p in got.values())
        shown = f"{len(got)} series, {fmt_int(points)} points"
        if set(got) != set(MODELS):
            return f"series {sorted(got)}, expected {sorted(MODELS)}", shown
        wrong, first = 0, ""
        for model, points_wanted in want.items():
            for t, value in points_wanted.items():
                seen = got[model].get(t, math.nan)
                if not math.isclose(seen, value, rel_tol=1e-9):
                    wrong += 1
                    first = first or f"{model} at {t}: {seen:g}, expected {value:g}"
            wrong += len(set(got[model]) - set(points_wanted))
        return (f"{wrong} points differ, e.g. {first}" if wrong else ""), shown

    return check


def run_queries(
    client: ApiClient, loaded: Loaded, plan: Sequence[Query], repeat: int
) -> list[Report]:
    reports = [Report(q) for q in plan]
    for report in reports:
        query = report.query
        log(f"  {query.name}: {query.expr}")
        params = {
            "query": query.expr,
            "start": str(loaded.end_ns - query.window_s * SECOND_NS),
            "end": str(loaded.end_ns),
        }
        if query.step is not None:
            params["step"] = query.step
        if query.limit is not None:
            params["limit"] = str(query.limit)
        for run in range(repeat):
            started = time.perf_counter()
            status, body = client.get("/loki/api/v1/query_range", params)
            elapsed = time.perf_counter() - started
            problem, data = _answer(status, body)
            if not problem:
                problem, report.shown = query.check(data)
                report.summary = data.get("stats", {}).get("summary", {})
            if problem:
                report.problems.append(f"run {run}: {problem}")
                if run == 0 and status != 200:
                    log(f"    failed: {problem}")
                    break  # the same request fails the same way: do not wait for it again
            if run > 0:  # the first run is a warm-up
                report.seconds.append(elapsed)
    return reports


def _answer(status: int, body: bytes) -> tuple[str, Any]:
    if status != 200:
        return f"HTTP {status}: {body[:300].decode(errors='replace').strip()}", None
    try:
        answer = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200].decode(errors='replace')}", None
    if answer.get("status") != "success":
        return f"status {answer.get('status')}: {str(answer)[:200]}", None
    return "", answer.get("data", {})


def count_rows(client: ApiClient, loaded: Loaded) -> list[Row]:
    """Each filter's whole count over the 24 h, once, against the loaded lines."""
    selector = f'{{namespace="{PROD}"}}'
    plan = (
        ("prod lines", selector, loaded.prod_lines),
        (f'|= "{NEEDLE}"', f'{selector} |= "{NEEDLE}"', loaded.needle),
        (f'|= "{FREQUENT}"', f'{selector} |= "{FREQUENT}"', loaded.timeout),
        (f'|~ "{FIVE_XX}"', f'{selector} |~ "{FIVE_XX.replace(chr(92), chr(92) * 2)}"',
         loaded.five_xx),
    )  # fmt: skip
    rows: list[Row] = []
    for name, expr, expected in plan:
        text = f"sum(count_over_time({expr} [24h]))"
        started = time.perf_counter()
        status, body = client.get("/loki/api/v1/query", {"query": text, "time": str(loaded.end_ns)})
        elapsed = time.perf_counter() - started
        problem, data = _answer(status, body)
        if problem:
            rows.append((f"count {name}", f"FAILED: {problem}"))
            continue
        result = data.get("result", [])
        value = float(result[0]["value"][1]) if result else 0.0
        verdict = "equal" if value == expected else "DIFFERENT"
        rows.append((f"count {name} over 24 h (instant query)",
                     f"{fmt_int(value)}, loaded {fmt_int(expected)}: {verdict} "
                     f"({fmt_ms(elapsed)})"))  # fmt: skip
    return rows


def query_part(args: argparse.Namespace, root: Path) -> tuple[list[Row], list[Report]]:
    (root / "query").mkdir()
    server = Server(root / "query")
    log(f"loading {args.lines:,} lines into {server.data_dir} (server stopped) ...")
    loaded = load(server.data_dir, args)
    rows: list[Row] = [
        ("lines / streams / line bytes",
         f"{fmt_int(loaded.lines)} / {loaded.streams} / {loaded.line_bytes / MB:,.1f} MB"),
        ("mean line length", f"{loaded.line_bytes / max(1, loaded.lines):.0f} bytes"),
        ('{namespace="prod"}: lines / bytes in 24 h / in the last hour',
         f"{fmt_int(loaded.prod_lines)} / {loaded.prod_bytes / MB:,.1f} MB / "
         f"{loaded.prod_last_hour_bytes / MB:,.1f} MB"),
        (f'prod lines with "{NEEDLE}" / "{FREQUENT}" / {FIVE_XX}',
         f"{fmt_int(loaded.needle)} / {fmt_int(loaded.timeout)} / {fmt_int(loaded.five_xx)}"),
        ("lines with a trace id", f"{fmt_int(loaded.traced)} "
                                  f"({percent(loaded.traced, loaded.lines)})"),
        ("load: wall, lines/s (build + insert, 1 process)",
         f"{loaded.wall_s:.0f} s, {fmt_int(rate(loaded.lines, loaded.wall_s))} lines/s"),
        ("load: building Arrow with LogColumns / chDB insert",
         f"{loaded.build_s:.0f} s / {loaded.insert_s:.0f} s "
         f"(insert alone {fmt_int(rate(loaded.lines, loaded.insert_s))} lines/s)"),
    ]  # fmt: skip
    reports: list[Report] = []
    try:
        log("starting the server ...")
        t0 = time.perf_counter()
        server.start()
        rows.append(("server start to ready", f"{time.perf_counter() - t0:.1f} s"))
        assert server.process is not None
        log("waiting for the server to go idle ...")
        rows.append(("waited for an idle server before querying",
                     f"{wait_idle([server.process.pid], limit=600):.0f} s"))  # fmt: skip
        client = ApiClient(server.http_port)
        plan = []
        if args.filter:
            plan += filter_queries(loaded)
        if args.metric:
            plan += metric_queries(loaded, args.step)
        log(f"querying, {args.repeat} runs each ...")
        cpu = server.cpu_seconds()
        q0 = time.perf_counter()
        others = OtherCpu([server.process.pid])
        try:
            reports = run_queries(client, loaded, plan, args.repeat)
            busy = (server.cpu_seconds() - cpu) / (time.perf_counter() - q0)
            other = others.cores()
            if args.filter:
                log("counting each filter's matches over the 24 h ...")
                rows += count_rows(client, loaded)
        finally:
            client.close()
        rows += [
            ("server CPU while querying (cores busy)", f"{busy:.2f}"),
            ("other processes' CPU while querying (cores busy)", f"{other:.2f}"),
        ]
        log("stopping the server ...")
        stopped = server.stop()
        rows += server_rows(server, stopped)
        store = StoreReader(server.data_dir)
        try:
            rows += disk_rows(store, loaded)
        finally:
            store.close()
    finally:
        server.kill()
    return rows, reports


def disk_rows(store: StoreReader, loaded: Loaded) -> list[Row]:
    stored = int(store.scalar("SELECT count() FROM logs"))
    size = table_bytes(store, "logs")
    index = store.scalar(
        "SELECT sum(data_compressed_bytes) FROM system.data_skipping_indices "
        "WHERE database = currentDatabase() AND table = 'logs' AND name = 'idx_body'"
    )
    parts = store.scalar(
        "SELECT count() FROM system.parts WHERE active AND table = 'logs' "
        "AND database = currentDatabase()"
    )
    return [
        ("disk: rows in logs / loaded", f"{fmt_int(stored)} / {fmt_int(loaded.lines)}"),
        ("disk: logs table, bytes/line (server's merges)",
         f"{size / max(1, stored):.1f} ({fmt_mib(size)}, {parts} active parts, "
         f"{percent(size, loaded.line_bytes)} of the line bytes)"),
        ("disk: idx_body text index", fmt_mib(float(index or 0))),
    ]  # fmt: skip


# --- output -----------------------------------------------------------------------------


def print_reports(reports: Sequence[Report]) -> None:
    runs = max((len(r.seconds) for r in reports), default=0)
    print(f"\nLogQL query_range latency ({runs} timed runs each, the first run left out)")
    header = ("query", "p50", "p95", "max", "MB/s scanned", "goal", "answer", "wrong")
    lines = [header]
    for r in reports:
        scan = "-" if math.isnan(r.scan_mb_s) else f"{r.scan_mb_s:,.0f}"
        lines.append((r.query.name, _ms(r.p50), _ms(percentile(r.seconds, 95)),
                      _ms(max(r.seconds, default=math.nan)), scan, r.query.goal,
                      r.shown or "-", str(len(r.problems))))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
        if number == 0:
            print("-+-".join("-" * w for w in widths))
    print("\nQueries:")
    for r in reports:
        print(f"  {r.query.name}: {r.query.expr}")
    print("\nstats.summary of the last answer:")
    for r in reports:
        s = r.summary
        if not s:
            print(f"  {r.query.name}: none")
            continue
        print(
            f"  {r.query.name}: totalLinesProcessed {fmt_int(s.get('totalLinesProcessed', 0))},"
            f" totalBytesProcessed {fmt_int(s.get('totalBytesProcessed', 0))}, "
            f"totalPostFilterLines {fmt_int(s.get('totalPostFilterLines', 0))}, "
            f"execTime {_ms(float(s.get('execTime', math.nan)))}, "
            f"bytesProcessedPerSecond {s.get('bytesProcessedPerSecond', 0) / MB:,.1f} MB/s"
        )
    for r in reports:
        for problem in r.problems[:3]:
            print(f"  WRONG {r.query.name}: {problem[:400]}")


def print_summary(
    args: argparse.Namespace, ingest: Sequence[Row], setup: Sequence[Row], reports: Sequence[Report]
) -> None:
    """The figures to copy into docs/benchmarks.md."""
    lines: list[str] = []
    if ingest:
        found = dict(ingest)
        lines += [
            f"Loki push ({found['format']}, {args.senders} senders, {args.batch} lines/request, "
            f"{args.duration:g} s):",
            f"  {found['lines/s']} lines/s, {found['line MB/s (10^6 bytes; goal >= 20)']} MB/s "
            f"of line bytes (goal >= {GOAL_INGEST_MB_S:g}); latency p50/p99/max "
            f"{found['latency p50 / p99 / max']}",
            f"  refused (429/503): {found['refused answers (429/503)']}; server RSS "
            f"{found['server RSS at ready / peak']}",
            f"  store: {found.get('lines found in store / acknowledged', '?')} found",
        ]
    if reports:
        given = dict(setup)
        lines.append(
            f"LogQL over {given['lines / streams / line bytes']} "
            f"(load {given['load: wall, lines/s (build + insert, 1 process)']}):"
        )
        for r in reports:
            scan = "" if math.isnan(r.scan_mb_s) else f", {r.scan_mb_s:,.0f} MB/s scanned"
            wrong = f", {len(r.problems)} WRONG" if r.problems else ""
            lines.append(f"  {r.query.name}: p50 {_ms(r.p50)}, p95 "
                         f"{_ms(percentile(r.seconds, 95))}{scan}{wrong}")  # fmt: skip
    if lines:
        print("\nSummary for docs/benchmarks.md\n" + "-" * 30)
        print("\n".join(lines))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _json(ingest: Sequence[Row], setup: Sequence[Row], reports: Sequence[Report]) -> Any:
    return {
        "ingest": dict(ingest),
        "setup": dict(setup),
        "queries": [
            {
                "name": r.query.name,
                "query": r.query.expr,
                "seconds": r.seconds,
                "p50_seconds": r.p50,
                "scanned_bytes": r.query.scanned,
                "scan_mb_per_second": None if math.isnan(r.scan_mb_s) else r.scan_mb_s,
                "answer": r.shown,
                "stats_summary": r.summary,
                "problems": r.problems,
            }
            for r in reports
        ],
    }


# --- the run ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parts = parser.add_argument_group("parts (all three when none is named)")
    parts.add_argument("--ingest", action="store_true", help="1: Loki push ingest")
    parts.add_argument("--filter", action="store_true", help="2: line-filter queries")
    parts.add_argument("--metric", action="store_true", help="3: metric queries")
    push = parser.add_argument_group("push ingest")
    push.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    push.add_argument("--senders", type=int, default=8, help="concurrent connections")
    push.add_argument("--batch", type=int, default=1000, help="lines per push request")
    push.add_argument("--format", choices=("protobuf", "json"), default="protobuf",
                      help="push body: snappy protobuf (Promtail, Alloy) or JSON")  # fmt: skip
    push.add_argument(
        "--payloads",
        type=int,
        default=0,
        help="distinct payloads to generate (default: enough for the duration)",
    )
    queries = parser.add_argument_group("queries")
    queries.add_argument("--lines", type=int, default=10_000_000, help="lines to load")
    queries.add_argument("--chunk", type=int, default=200_000, help="lines per insert")
    queries.add_argument("--repeat", type=int, default=19,
                         help="runs of each query, the first one a warm-up")  # fmt: skip
    queries.add_argument("--step", type=int, default=60, help="step of the metric queries, s")
    parser.add_argument("--trace-share", type=float, default=0.1,
                        help="share of the lines that carry a trace id")  # fmt: skip
    parser.add_argument("--seed", type=int, default=20250601)
    add_output_args(parser)
    args = parser.parse_args(argv)
    if not (args.ingest or args.filter or args.metric):
        args.ingest = args.filter = args.metric = True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-logs-"))
    started = time.perf_counter()
    ingest: list[Row] = []
    setup: list[Row] = []
    reports: list[Report] = []
    try:
        if args.ingest:
            ingest = ingest_part(args, root)
            print_table("Loki push ingest", ingest)
        if args.filter or args.metric:
            setup, reports = query_part(args, root)
            setup.append(("whole run", f"{time.perf_counter() - started:.0f} s"))
            print_table("LogQL benchmark: setup", setup)
            print_reports(reports)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept data dirs and logs under {root}")
    print_summary(args, ingest, setup, reports)
    if args.json:
        args.json.write_text(json.dumps(_json(ingest, setup, reports), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
