"""What observatory-sdk costs: added latency per HTTP request, and per GenAI helper call.

Part 1, a FastAPI service under load. The same app runs as its own uvicorn process three ways:
without the SDK; with `setup_telemetry(app=...)` sampling every trace; and sampling 10 % (the
production default). Each handler call of the instrumented app also records one LLM call
with `genai_span`. Telemetry goes over OTLP/gRPC to a real `observatory serve`. `--senders`
closed-loop clients load each variant for `--duration` seconds after a warm-up: one client
shows the latency a request gains, eight saturate the machine's two cores (shared with the
server) and show the throughput lost. The figures are requests/s and latency p50/p99 as the
clients see them, and the difference to the uninstrumented app.

Part 2, in this process: the time one GenAI helper adds around a model call that costs
nothing (a function returning a ready response), per call, p50/p99 over `--calls` calls, with
spans going through the real batch processor to an exporter that drops them.

    .venv/bin/python bench/sdk_overhead.py
    .venv/bin/python bench/sdk_overhead.py --duration 20 --senders 1,4,16 --calls 50000

Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # at module level: FastAPI resolves handler annotations here

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import HOST, Row, Server, free_ports, get_json, log, percentile, print_table, run_load

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "model": "llama-3-8b",
    "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 42, "completion_tokens": 7},
}
REQUEST: dict[str, Any] = {
    "model": "llama-3-8b",
    "messages": [{"role": "user", "content": "hello"}],
    "temperature": 0.2,
}
CHUNKS = [{"model": "m", "choices": [{"index": 0, "delta": {"content": "w"}}]}] * 19 + [
    {"model": "m", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 19}}
]
VARIANTS = (("without the SDK", "plain", None), ("SDK, 100 % sampled", "sdk", "1"),
            ("SDK, 10 % sampled", "sdk", "0.1"))  # fmt: skip


# --- part 1: the app under load -----------------------------------------------------------


def serve_app(mode: str, port: int) -> None:
    """Run the benchmark app (this script re-invoked with --serve)."""
    import uvicorn

    app = FastAPI()
    if mode == "plain":

        @app.post("/predict")
        async def plain(request: Request) -> dict[str, Any]:
            await request.body()
            return {"output": RESPONSE["choices"][0]["message"]["content"]}

    else:
        from observatory_sdk import genai_span, setup_telemetry

        @app.post("/predict")
        async def instrumented(request: Request) -> dict[str, Any]:
            await request.body()
            with genai_span("chat", request=REQUEST) as call:
                call.record_response(RESPONSE)
            return {"output": RESPONSE["choices"][0]["message"]["content"]}

        setup_telemetry("bench-app", app=app, instrument_logging=False)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def measure_app(
    label: str, mode: str, rate: str | None, args: argparse.Namespace, otlp: str
) -> dict[int, tuple[float, list[float]]]:
    """Requests/s and latencies of one app variant, for each number of senders."""
    [port] = free_ports(1)
    env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
    if rate is not None:
        env["OBSERVATORY_SAMPLE_RATE"] = rate
    command = [sys.executable, __file__, "--serve", mode, "--port", str(port)]
    app = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    figures = {}
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if app.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {label} app did not start")
            time.sleep(0.05)
        body = b'{"prompt": "hello"}'
        payloads = [body] * 2_000_000  # one reference, many slots: run_load sends each once
        run_load(port, "/predict", payloads, max(args.senders), 2.0)  # warm-up
        for senders in args.senders:
            log(f"{label}: {args.duration:g} s with {senders} senders ...")
            result = run_load(port, "/predict", payloads, senders, args.duration)
            figures[senders] = (len(result.acked) / result.elapsed, result.latencies)
    finally:
        app.terminate()
        app.wait(30)
    return figures


def _healthy(port: int) -> bool:
    try:
        return get_json(port, "/healthz")[0] == 200
    except OSError:
        return False


def part_one(args: argparse.Namespace) -> list[Row]:
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-sdk-"))
    server = Server(root)
    try:
        log("starting the Observatory server ...")
        server.start()
        otlp = f"http://{HOST}:{server.grpc_port}"
        measured = [
            (label, measure_app(label, mode, rate, args, otlp)) for label, mode, rate in VARIANTS
        ]
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
    rows: list[Row] = [("seconds of load per figure", f"{args.duration:g}")]
    for senders in args.senders:
        baseline = measured[0][1][senders][1]
        for label, figures in measured:
            throughput, latencies = figures[senders]
            text = f"{throughput:,.0f} req/s, {_figures(latencies)}"
            if latencies is not baseline:
                text += f" (adds {_added_only(latencies, baseline)})"
            rows.append((f"{senders} sender(s): {label}", text))
    return rows


# --- part 2: the GenAI helpers in process -------------------------------------------------


def part_two(calls: int) -> list[Row]:
    import observatory_sdk
    from observatory_sdk import genai_span, setup_telemetry, trace_genai
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    def create(**request: Any) -> dict[str, Any]:
        return RESPONSE

    def with_span() -> None:
        with genai_span("chat", request=REQUEST) as call:
            call.record_response(create(**REQUEST))

    decorated = trace_genai()(create)

    def stream_plain() -> None:
        for _ in iter(CHUNKS):
            pass

    def stream_wrapped() -> None:
        with genai_span("chat", "m") as call:
            for _ in call.wrap_stream(CHUNKS):
                pass

    rows: list[Row] = [("calls per case", f"{calls:,}")]
    baseline = _time_calls(lambda: create(**REQUEST), calls)
    stream_base = _time_calls(stream_plain, calls)
    rows.append(("model call alone (no helper)", _figures(baseline)))
    for rate in (1.0, 0.0):
        setup_telemetry("bench", span_exporter=Dropping(), metric_reader=InMemoryMetricReader(),
                        export_logs=False, instrument_logging=False, sample_rate=rate)  # fmt: skip
        sampled = "sampled" if rate else "not sampled"
        rows.append(
            (
                f"genai_span + record_response, {sampled}",
                _added(_time_calls(with_span, calls), baseline),
            )
        )
        rows.append(
            (
                f"@trace_genai, {sampled}",
                _added(_time_calls(lambda: decorated(**REQUEST), calls), baseline),
            )
        )
        rows.append((f"stream of 20 chunks wrapped, {sampled}",
                     _added(_time_calls(stream_wrapped, calls), stream_base)))  # fmt: skip
        observatory_sdk.shutdown()
    return rows


def _time_calls(function: Callable[[], object], calls: int) -> list[float]:
    for _ in range(min(calls, 1000)):  # warm caches and the lazy instrument set-up
        function()
    gc.collect()
    timings = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        function()
        timings.append((clock() - started) / 1e9)
    return timings


def _figures(timings: list[float]) -> str:
    return f"p50 {_us(percentile(timings, 50))}, p99 {_us(percentile(timings, 99))}"


def _added(timings: list[float], baseline: list[float]) -> str:
    return f"{_figures(timings)} (adds {_added_only(timings, baseline)})"


def _added_only(timings: list[float], baseline: list[float]) -> str:
    added = [percentile(timings, q) - percentile(baseline, q) for q in (50, 99)]
    return f"p50 {_us(added[0])}, p99 {_us(added[1])}"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


# --- driver -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per app")
    parser.add_argument(
        "--senders",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 8],
        help="concurrent HTTP clients, a comma-separated list: 1 shows the latency one request "
        "gains, 8 saturates the two cores and shows the throughput the SDK costs",
    )
    parser.add_argument("--calls", type=int, default=20_000, help="GenAI helper calls per case")
    parser.add_argument("--skip-http", action="store_true", help="only part 2")
    parser.add_argument("--serve", choices=["plain", "sdk"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_app(args.serve, args.port)
        return
    log("part 2: GenAI helpers in process ...")
    helper_rows = part_two(args.calls)
    if not args.skip_http:
        print_table("observatory-sdk: added latency per HTTP request (FastAPI, uvicorn)",
                    part_one(args))  # fmt: skip
    print_table("observatory-sdk: added time per GenAI helper call", helper_rows)


if __name__ == "__main__":
    main()
