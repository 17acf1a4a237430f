"""One command, one end-to-end trace: gateway -> team service -> model, read back from Observatory.

    .venv/bin/python examples/gateway/run.py            # starts its own Observatory
    .venv/bin/python examples/gateway/run.py --keep     # ... and leaves it running for Grafana
    .venv/bin/python examples/gateway/run.py --otlp http://127.0.0.1:4317 --api http://127.0.0.1:3300

Starts the fake model server, two team services and the gateway (each instrumented by one
`setup_telemetry` call), sends requests through the gateway, stops the services so they
flush, then prints the first trace as a tree and a few PromQL answers from Observatory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import TEAMS, Stack, free_port, telemetry_env

QUERIES = (
    "sum by (team) (gateway_requests_total)",
    'sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{source!="spans"})',
    'sum(gen_ai_client_operation_time_to_first_chunk_seconds_count{source!="spans"})',
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otlp", help="OTLP/gRPC endpoint of a running Observatory")
    parser.add_argument("--api", help="query API of that Observatory (with --otlp)")
    parser.add_argument("--keep", action="store_true", help="leave the Observatory running")
    args = parser.parse_args()
    with _observatory(args.otlp, args.api, args.keep) as (otlp, api):
        workdir = Path(tempfile.mkdtemp(prefix="gateway-example-"))
        stack = Stack(telemetry_env(otlp), workdir / "logs")
        print(f"starting the model server, {len(TEAMS)} team services and the gateway ...")
        stack.start()
        try:
            trace_ids = _send_requests(stack.gateway.url)
        finally:
            stack.stop()  # SIGTERM: every service flushes its telemetry before exiting
        _print_trace(api, trace_ids[0])
        _print_metrics(api)
        print(f"\nservice logs: {workdir / 'logs'}")
        if args.keep and not args.otlp:
            print(f"Observatory keeps running: Grafana data sources at {api} (Ctrl-C stops it)")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()


def _send_requests(gateway: str) -> list[str]:
    trace_ids = []
    with httpx.Client(base_url=gateway, timeout=30) as client:
        for team in TEAMS:
            for stream in (False, True):
                body = {"prompt": f"what does the {team} team answer", "stream": stream}
                response = client.post(f"/api/{team}/predict", json=body)
                print(f"POST /api/{team}/predict stream={stream}: {response.status_code} "
                      f"{response.json()} trace {response.headers['X-Trace-Id']}")  # fmt: skip
                trace_ids.append(response.headers["X-Trace-Id"])
        missing = client.post("/api/nobody/predict", json={"prompt": "hello"})
        print(f"POST /api/nobody/predict: {missing.status_code}")
    return trace_ids


def _print_trace(api: str, trace_id: str) -> None:
    spans = _wait_for_trace(api, trace_id, services=3)
    print(f"\ntrace {trace_id} from {api}/api/traces/{trace_id}:")
    children: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(span.get("parentSpanId", ""), []).append(span)
    ids = {span["spanId"] for span in spans}
    roots = [s for s in spans if s.get("parentSpanId", "") not in ids]
    for root in roots:
        _print_span(root, children, depth=0)


def _print_span(
    span: dict[str, Any], children: dict[str, list[dict[str, Any]]], depth: int
) -> None:
    millis = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6
    attributes = {a["key"]: _value(a["value"]) for a in span.get("attributes", [])}
    shown = {k: v for k, v in attributes.items() if k.startswith(("gen_ai.", "team"))}
    print(f"{'  ' * depth}{span['service']}: {span['name']} ({millis:.1f} ms) {shown or ''}")
    for child in sorted(
        children.get(span["spanId"], []), key=lambda s: int(s["startTimeUnixNano"])
    ):
        _print_span(child, children, depth + 1)


def _value(value: dict[str, Any]) -> object:
    """An OTLP/JSON AnyValue as a plain value (`intValue` is a string in OTLP/JSON)."""
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue":
        return [_value(item) for item in inner.get("values", [])]
    return int(inner) if kind == "intValue" else inner


def _wait_for_trace(api: str, trace_id: str, services: int) -> list[dict[str, Any]]:
    """The trace's spans, each tagged with its service, once `services` services sent theirs."""
    deadline = time.monotonic() + 30
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(f"{api}/api/traces/{trace_id}", timeout=10)
        if response.status_code == 200:
            spans = flatten(response.json())
            if len({span["service"] for span in spans}) >= services:
                return spans
        time.sleep(0.2)
    return spans


def flatten(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Tempo's OTLP/JSON trace as a flat list of spans, each with a `service` key added."""
    spans: list[dict[str, Any]] = []
    for batch in trace.get("batches", []):
        resource = {a["key"]: a["value"] for a in batch["resource"].get("attributes", [])}
        service = resource.get("service.name", {}).get("stringValue", "?")
        for scope in batch.get("scopeSpans", []):
            spans.extend({**span, "service": service} for span in scope.get("spans", []))
    return spans


def _print_metrics(api: str) -> None:
    print()
    for query in QUERIES:
        answer = httpx.get(f"{api}/api/v1/query", params={"query": query}, timeout=10).json()
        results = answer.get("data", {}).get("result", [])
        values = {str(r["metric"] or "{}"): r["value"][1] for r in results}
        print(f"{query}\n  {values or 'no data yet'}")


@contextlib.contextmanager
def _observatory(otlp: str | None, api: str | None, keep: bool) -> Iterator[tuple[str, str]]:
    """The given Observatory, or a fresh one in a temporary data dir."""
    if otlp:
        yield otlp, api or "http://127.0.0.1:3300"
        return
    http_port, grpc_port, otlp_http_port = free_port(), free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="gateway-example-observatory-"))
    command = [
        sys.executable, "-m", "observatory.cli", "serve", "--data-dir", str(data_dir / "data"),
        "--http-port", str(http_port), "--otlp-grpc-port", str(grpc_port),
        "--otlp-http-port", str(otlp_http_port),
    ]  # fmt: skip
    print(f"starting Observatory (data in {data_dir}) ...")
    with (data_dir / "server.log").open("ab") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
    api = f"http://127.0.0.1:{http_port}"
    try:
        _wait_ready(server, api)
        yield f"http://127.0.0.1:{grpc_port}", api
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def _wait_ready(server: subprocess.Popen[bytes], api: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("Observatory exited at start; is the server installed (make run)?")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api}/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("Observatory did not become ready")


if __name__ == "__main__":
    main()
