"""Query benchmark: Tempo trace-by-id and TraceQL search over a large span store.

`--spans` spans (default 10,000,000) in traces of five spans each: a gateway server root, a
team API server child, the team API's model client span, the vLLM server span and a
retrieval span, across six services, about ten attributes each (GenAI model over twenty
models, token counts, HTTP status, a high-cardinality `user.id`), log-normal durations, 3 %
of traces failing in the model server (the error marked up to the root), start times spread
over the last six hours.

The data is loaded straight into the store with the server stopped: the bench process opens
the data dir with `EmbeddedStore`, applies the schema and inserts Arrow tables built with
`SpanColumns`, chunk by chunk (the trace-summary materialized view fills itself). Then the
server starts on that data dir and each query is run `--repeat` times over the whole six
hours, limit 20, the first run discarded. Bytes per span are measured after the server stops.

    .venv/bin/python bench/traces.py                      # 10,000,000 spans
    .venv/bin/python bench/traces.py --spans 2000000 --repeat 10
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Row, Server, StoreReader, fmt_int, fmt_mib, log, percentile, print_table
from _prom import ApiClient, table_bytes
from observatory.signals.columns import ScopeContext
from observatory.signals.spans import NO_SPAN_ID, SpanColumns, SpanRow
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate
from promql import wait_idle

TENANT = "default"
SPANS_PER_TRACE = 5
WINDOW_S = 6 * 3600
ERROR_SHARE = 0.03
USER = "u-12345"
SERVER, CLIENT, INTERNAL = 2, 3, 1
STATUS_UNSET, STATUS_ERROR = 0, 2

TEAMS = ("team-search-api", "team-support-api", "team-code-api")
SERVICES = ("gateway", *TEAMS, "model-server", "retrieval")
_BASES = (
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct",
    "mistralai/Mistral-Small-24B-Instruct-2501", "google/gemma-3-27b-it",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "microsoft/phi-4",
    "ibm-granite/granite-3.1-8b-instruct", "nvidia/Llama-3.1-Nemotron-70B-Instruct",
)  # fmt: skip
MODELS = tuple(base + variant for variant in ("", "-FP8") for base in _BASES)  # 20
COLLECTIONS = ("docs", "tickets", "code", "wiki")
BY_USER = f'{{ span.user.id = "{USER}" }}'
AGGREGATE = '{ resource.service.name = "model-server" && status = error } | count() > 0'


# --- the data -----------------------------------------------------------------------------


def scopes() -> dict[str, ScopeContext]:
    return {
        service: ScopeContext(
            service,
            [
                ("service.name", service),
                ("service.version", "1.4.2"),
                ("deployment.environment.name", "prod"),
                ("host.name", f"{service}-7d9f-{index}"),
            ],
            "vllm" if service == "model-server" else "opentelemetry.instrumentation",
            "0.9.1",
        )
        for index, service in enumerate(SERVICES)
    }


@dataclass
class Chunk:
    """Per-trace values of `traces` traces, drawn with numpy before the rows are built."""

    trace_ids: list[bytes]
    span_ids: list[bytes]
    start: list[int]
    durations: list[list[int]]  # per span kind: gateway, team, client, vllm, retrieval
    offsets: list[list[int]]
    error: list[bool]
    team: list[int]
    model: list[int]
    user: list[int]
    input_tokens: list[int]
    output_tokens: list[int]
    collection: list[int]


def draw_chunk(rng: np.random.Generator, traces: int, now_ns: int, users: int) -> Chunk:
    ms = 1_000_000
    retrieval = rng.lognormal(math.log(40), 0.6, traces) * ms
    vllm = rng.lognormal(math.log(250), 0.8, traces) * ms
    client = vllm + rng.lognormal(math.log(5), 0.5, traces) * ms
    team = retrieval + client + rng.lognormal(math.log(10), 0.5, traces) * ms
    gateway = team + rng.lognormal(math.log(5), 0.5, traces) * ms
    start = now_ns - rng.integers(60, WINDOW_S, traces) * 1_000_000_000
    start -= rng.integers(0, 1_000_000_000, traces)
    gateway_pad = (gateway - team) / 2
    team_start = gateway_pad
    retrieval_start = team_start + rng.uniform(0.5, 2, traces) * ms
    client_start = retrieval_start + retrieval + rng.uniform(0.2, 1, traces) * ms
    vllm_start = client_start + (client - vllm) / 2
    durations = np.vstack([gateway, team, client, vllm, retrieval]).astype(np.int64)
    offsets = np.vstack(
        [np.zeros(traces), team_start, client_start, vllm_start, retrieval_start]
    ).astype(np.int64)
    return Chunk(
        trace_ids=_ids(rng, traces, 16),
        span_ids=_ids(rng, traces * SPANS_PER_TRACE, 8),
        start=start.tolist(),
        durations=durations.T.tolist(),
        offsets=offsets.T.tolist(),
        error=(rng.random(traces) < ERROR_SHARE).tolist(),
        team=rng.integers(0, len(TEAMS), traces).tolist(),
        model=rng.integers(0, len(MODELS), traces).tolist(),
        user=rng.integers(0, users, traces).tolist(),
        input_tokens=rng.lognormal(math.log(900), 0.7, traces).astype(np.int64).tolist(),
        output_tokens=rng.lognormal(math.log(250), 0.7, traces).astype(np.int64).tolist(),
        collection=rng.integers(0, len(COLLECTIONS), traces).tolist(),
    )


def _ids(rng: np.random.Generator, count: int, width: int) -> list[bytes]:
    raw = rng.bytes(count * width)
    return [raw[i : i + width] for i in range(0, count * width, width)]


def build_table(chunk: Chunk, contexts: dict[str, ScopeContext]) -> Any:
    columns = SpanColumns(TENANT)
    scope = {service: columns.add_scope(context) for service, context in contexts.items()}
    team_scopes = [scope[t] for t in TEAMS]
    for t, trace_id in enumerate(chunk.trace_ids):
        g_id, t_id, c_id, v_id, r_id = chunk.span_ids[t * 5 : t * 5 + 5]
        start, dur, off = chunk.start[t], chunk.durations[t], chunk.offsets[t]
        error = chunk.error[t]
        status, http = (STATUS_ERROR, 500) if error else (STATUS_UNSET, 200)
        message = "upstream model server error" if error else ""
        model = MODELS[chunk.model[t]]
        user = f"u-{chunk.user[t]}"
        team = TEAMS[chunk.team[t]]
        tokens_in, tokens_out = chunk.input_tokens[t], chunk.output_tokens[t]
        route = f"/v1/{team.removesuffix('-api').removeprefix('team-')}/chat"

        def add(index: int, attrs: list[tuple[str, Any]], row: SpanRow) -> None:
            columns.append(index, attrs, row)

        add(scope["gateway"], [
            ("http.request.method", "POST"), ("http.route", route),
            ("http.response.status_code", http), ("url.scheme", "https"),
            ("server.address", "api.example.com"), ("user.id", user),
            ("gen_ai.request.model", model), ("network.protocol.version", "1.1"),
            ("client.address", f"10.{t % 200}.{t % 13}.{t % 97}"),
            ("user_agent.original", "openai-python/1.54.0"),
        ], _row(trace_id, g_id, NO_SPAN_ID, f"POST {route}", SERVER, start, dur[0],
                status, message))  # fmt: skip
        add(team_scopes[chunk.team[t]], [
            ("http.request.method", "POST"), ("http.route", "/chat"),
            ("http.response.status_code", http), ("user.id", user),
            ("gen_ai.request.model", model), ("team.name", team),
            ("rag.enabled", True), ("app.prompt.template", "support-v3"),
            ("server.address", team), ("server.port", 8080),
        ], _row(trace_id, t_id, g_id, "POST /chat", SERVER, start + off[1], dur[1],
                status, message))  # fmt: skip
        add(team_scopes[chunk.team[t]], [
            ("gen_ai.operation.name", "chat"), ("gen_ai.system", "vllm"),
            ("gen_ai.request.model", model), ("gen_ai.response.model", model),
            ("gen_ai.usage.input_tokens", tokens_in), ("gen_ai.usage.output_tokens", tokens_out),
            ("gen_ai.request.max_tokens", 1024), ("gen_ai.request.temperature", 0.2),
            ("server.address", "model-server"), ("http.response.status_code", http),
            ("user.id", user),
        ], _row(trace_id, c_id, t_id, f"chat {model}", CLIENT, start + off[2], dur[2],
                status, message))  # fmt: skip
        add(scope["model-server"], [
            ("gen_ai.request.model", model), ("gen_ai.response.model", model),
            ("gen_ai.usage.input_tokens", tokens_in), ("gen_ai.usage.output_tokens", tokens_out),
            ("gen_ai.response.finish_reasons", "error" if error else "stop"),
            ("http.response.status_code", http), ("gen_ai.request.max_tokens", 1024),
            ("vllm.queue_time_ms", dur[3] // 20_000_000),
            ("vllm.time_to_first_token_ms", dur[3] // 8_000_000),
            ("vllm.engine", "0"),
        ], _row(trace_id, v_id, c_id, "llm_request", SERVER, start + off[3], dur[3],
                status, "CUDA out of memory" if error else ""))  # fmt: skip
        add(scope["retrieval"], [
            ("db.system.name", "qdrant"), ("db.operation.name", "search"),
            ("db.collection.name", COLLECTIONS[chunk.collection[t]]),
            ("retrieval.top_k", 8), ("retrieval.documents", 8),
            ("server.address", "qdrant"), ("server.port", 6333),
            ("gen_ai.operation.name", "embeddings"),
            ("gen_ai.request.model", "BAAI/bge-m3"), ("http.response.status_code", 200),
        ], _row(trace_id, r_id, t_id, "search docs", CLIENT, start + off[4], dur[4],
                STATUS_UNSET, ""))  # fmt: skip
    return columns.table()


def _row(
    trace_id: bytes, span_id: bytes, parent: bytes, name: str, kind: int, start: int,
    duration: int, status: int, message: str,
) -> SpanRow:  # fmt: skip
    return SpanRow(trace_id, span_id, parent, "", 1, name, kind, start, duration, status,
                   message, 0, [], 0, [], 0)  # fmt: skip


@dataclass
class Loaded:
    spans: int = 0
    traces: int = 0
    build_s: float = 0.0
    insert_s: float = 0.0
    wall_s: float = 0.0
    sample_ids: list[bytes] = field(default_factory=list)
    error_traces: int = 0
    start_ns: int = 0
    end_ns: int = 0


def load(data_dir: Path, spans: int, chunk_spans: int, seed: int) -> Loaded:
    """Insert the data set straight into the store; the server is not running."""
    rng = np.random.default_rng(seed)
    traces = spans // SPANS_PER_TRACE
    per_chunk = max(1, chunk_spans // SPANS_PER_TRACE)
    users = max(1000, traces // 4)  # about four traces per user
    now_ns = time.time_ns()
    contexts = scopes()
    out = Loaded(start_ns=now_ns - WINDOW_S * 1_000_000_000, end_ns=now_ns)
    store = EmbeddedStore(data_dir)
    started = time.perf_counter()
    try:
        migrate(store, Retention(7, 30, 90, 30, 7))
        done = 0
        while done < traces:
            count = min(per_chunk, traces - done)
            t0 = time.perf_counter()
            chunk = draw_chunk(rng, count, now_ns, users)
            if done == 0:
                chunk.user[0] = int(USER.removeprefix("u-"))  # the searched user has a trace
            table = build_table(chunk, contexts)
            t1 = time.perf_counter()
            store.insert("spans", table)
            t2 = time.perf_counter()
            out.build_s += t1 - t0
            out.insert_s += t2 - t1
            out.sample_ids += [chunk.trace_ids[i] for i in rng.integers(0, count, 5).tolist()]
            out.error_traces += sum(chunk.error)
            done += count
            out.traces, out.spans = done, done * SPANS_PER_TRACE
            log(f"  {fmt_int(out.spans)} spans, {out.spans / (t2 - started):,.0f} spans/s "
                f"(build {out.build_s:.0f} s, insert {out.insert_s:.0f} s)")  # fmt: skip
        out.wall_s = time.perf_counter() - started
    finally:
        store.close()
    return out


# --- the queries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    name: str
    goal_s: float
    params: Callable[[int], tuple[str, dict[str, str]]]  # run number -> path, parameters
    check: Callable[[Any], str]  # the answer -> "" when right, else what is wrong


@dataclass
class Report:
    query: Query
    seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    shown: str = ""


def trace_spans(answer: Any) -> int:
    return sum(
        len(scope.get("spans", []))
        for batch in answer.get("batches", [])
        for scope in batch.get("scopeSpans", [])
    )


def _check_trace(answer: Any) -> str:
    spans = trace_spans(answer)
    return "" if spans == SPANS_PER_TRACE else f"{spans} spans, not {SPANS_PER_TRACE}"


def _check_search(answer: Any) -> str:
    traces = answer.get("traces") if isinstance(answer, dict) else None
    return "" if traces else f"empty or bad answer: {str(answer)[:160]}"


def queries(loaded: Loaded, min_duration: str) -> list[Query]:
    ids = loaded.sample_ids
    window = {
        "start": str(loaded.start_ns // 1_000_000_000 - 60),
        "end": str(loaded.end_ns // 1_000_000_000 + 60),
        "limit": "20",
    }

    def by_id(run: int) -> tuple[str, dict[str, str]]:
        return f"/api/traces/{ids[run % len(ids)].hex()}", {}

    def search(params: dict[str, str]) -> Callable[[int], tuple[str, dict[str, str]]]:
        return lambda run: ("/api/search", {**params, **window})

    return [
        Query("trace by id", 0.05, by_id, _check_trace),
        Query(
            f"tags service.name=gateway, minDuration={min_duration}",
            0.1,
            search({"tags": "service.name=gateway", "minDuration": min_duration}),
            _check_search,
        ),
        Query(BY_USER, 1.0, search({"q": BY_USER}), _check_search),
        Query(AGGREGATE, math.nan, search({"q": AGGREGATE}), _check_search),
    ]


def run_queries(client: ApiClient, plan: Sequence[Query], repeat: int) -> list[Report]:
    reports = [Report(q) for q in plan]
    for report in reports:
        log(f"  {report.query.name} ...")
        for run in range(repeat):
            path, params = report.query.params(run)
            started = time.perf_counter()
            status, body = client.get(path, params)
            elapsed = time.perf_counter() - started
            try:
                answer = json.loads(body)
            except ValueError:
                answer = body[:200].decode(errors="replace")
            problem = report.query.check(answer) if status == 200 else f"HTTP {status}"
            if problem:
                report.problems.append(f"run {run}: {problem} {str(answer)[:160]}")
            elif isinstance(answer, dict) and "traces" in answer:
                report.results.append(len(answer["traces"]))
            if run > 0:  # the first run is a warm-up
                report.seconds.append(elapsed)
    return reports


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000,
                        help=f"spans to load ({SPANS_PER_TRACE} per trace)")  # fmt: skip
    parser.add_argument("--chunk", type=int, default=100_000, help="spans per insert")
    parser.add_argument("--repeat", type=int, default=20,
                        help="runs of each query, the first one a warm-up")  # fmt: skip
    parser.add_argument("--min-duration", default="500ms", help="minDuration of the tag search")
    parser.add_argument("--seed", type=int, default=20241122)
    parser.add_argument("--no-disk", action="store_true", help="skip bytes per span")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-traces-"))
    server = Server(root)
    try:
        rows, reports = run(args, server)
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept data dir and log under {root}")
    print_table("Trace query benchmark: setup", rows)
    print_reports(reports)
    if args.json:
        args.json.write_text(json.dumps(_json(rows, reports), indent=2) + "\n")
    return 0


def run(args: argparse.Namespace, server: Server) -> tuple[list[Row], list[Report]]:
    started = time.perf_counter()
    log(f"loading {args.spans:,} spans into {server.data_dir} (server stopped) ...")
    loaded = load(server.data_dir, args.spans, args.chunk, args.seed)
    rows: list[Row] = [
        ("spans / traces / spans per trace",
         f"{fmt_int(loaded.spans)} / {fmt_int(loaded.traces)} / {SPANS_PER_TRACE}"),
        ("services / models / users", f"{len(SERVICES)} / {len(MODELS)} / "
                                      f"{fmt_int(max(1000, loaded.traces // 4))}"),
        ("traces with an error", f"{fmt_int(loaded.error_traces)} "
                                 f"({100 * loaded.error_traces / max(1, loaded.traces):.1f} %)"),
        ("load: wall, spans/s (build + insert, 1 process)",
         f"{loaded.wall_s:.0f} s, {fmt_int(loaded.spans / loaded.wall_s)} spans/s"),
        ("load: building Arrow with SpanColumns / chDB insert",
         f"{loaded.build_s:.0f} s / {loaded.insert_s:.0f} s "
         f"(insert alone {fmt_int(loaded.spans / max(1e-9, loaded.insert_s))} spans/s)"),
    ]  # fmt: skip
    log("starting the server ...")
    t0 = time.perf_counter()
    server.start()
    rows.append(("server start to ready", f"{time.perf_counter() - t0:.1f} s"))
    assert server.process is not None
    log("waiting for the server to go idle ...")
    idle = wait_idle([server.process.pid])
    rows.append(("waited for an idle server before querying", f"{idle:.0f} s"))
    log(f"querying, {args.repeat} runs each ...")
    client = ApiClient(server.http_port)
    cpu = server.cpu_seconds()
    q0 = time.perf_counter()
    try:
        reports = run_queries(client, queries(loaded, args.min_duration), args.repeat)
    finally:
        client.close()
    busy = (server.cpu_seconds() - cpu) / (time.perf_counter() - q0)
    rows.append(("server CPU while querying (cores busy)", f"{busy:.2f}"))
    rows.append(("server RSS at ready / peak", f"{fmt_mib(server.rss_at_ready)} / "
                                               f"{fmt_mib(server.rss_peak)}"))  # fmt: skip
    problems = server.log_problems()
    rows.append(("server log warnings/errors", fmt_int(len(problems))))
    rows += [(f"  log line {n}", line[:160]) for n, line in enumerate(problems[:5], start=1)]
    log("stopping the server ...")
    stopped = server.stop()
    rows.append(("server stop (SIGTERM to exit)",
                 f"{stopped.seconds:.1f} s, exit code {stopped.exit_code}"))  # fmt: skip
    if not args.no_disk:
        log("measuring the store on disk ...")
        store = StoreReader(server.data_dir)
        try:
            rows += disk_rows(store)
        finally:
            store.close()
    rows.append(("whole run", f"{time.perf_counter() - started:.0f} s"))
    return rows, reports


def disk_rows(store: StoreReader) -> list[Row]:
    spans = int(store.scalar(f"SELECT count() FROM spans WHERE tenant = '{TENANT}'"))
    before = table_bytes(store, "spans")
    started = time.perf_counter()
    store.scalar("OPTIMIZE TABLE spans FINAL")
    store.scalar("OPTIMIZE TABLE trace_summaries FINAL")
    optimize = time.perf_counter() - started
    after = {t: table_bytes(store, t) for t in ("spans", "trace_summaries")}
    summaries = int(store.scalar("SELECT count() FROM trace_summaries"))
    both = after["spans"] + after["trace_summaries"]
    return [
        ("disk: rows in spans / trace_summaries", f"{fmt_int(spans)} / {fmt_int(summaries)}"),
        ("disk: spans, bytes/span (bench inserts, merges so far)",
         f"{before / spans:.1f} ({fmt_mib(before)})"),
        ("disk: spans, bytes/span after OPTIMIZE FINAL",
         f"{after['spans'] / spans:.1f} ({fmt_mib(after['spans'])}, "
         f"OPTIMIZE of both tables {optimize:.0f} s)"),
        ("disk: spans + trace_summaries, bytes/span",
         f"{both / spans:.1f} (trace_summaries {fmt_mib(after['trace_summaries'])})"),
    ]  # fmt: skip


def print_reports(reports: Sequence[Report]) -> None:
    runs = len(reports[0].seconds) if reports else 0
    print(f"\nQuery latency ({runs} timed runs each, the first run left out)")
    header = ("query", "p50", "p95", "max", "goal", "traces returned", "wrong answers")
    lines = [header]
    for r in reports:
        goal = "-" if math.isnan(r.query.goal_s) else f"<= {_ms(r.query.goal_s)}"
        found = f"{min(r.results)}-{max(r.results)}" if r.results else "-"
        lines.append((r.query.name, _ms(percentile(r.seconds, 50)),
                      _ms(percentile(r.seconds, 95)), _ms(max(r.seconds, default=math.nan)),
                      goal, found, str(len(r.problems))))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
        if number == 0:
            print("-+-".join("-" * w for w in widths))
    for r in reports:
        for problem in r.problems[:3]:
            print(f"  {r.query.name}: {problem}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _json(rows: Sequence[Row], reports: Sequence[Report]) -> dict[str, Any]:
    return {
        "setup": dict(rows),
        "queries": [
            {
                "name": r.query.name,
                "goal_seconds": r.query.goal_s,
                "seconds": r.seconds,
                "wrong_answers": len(r.problems),
            }
            for r in reports
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
