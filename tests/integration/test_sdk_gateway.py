"""The example gateway, instrumented by observatory-sdk, against a real `observatory serve`.

Four processes (fake model server, two team services, gateway), each instrumented by one
`setup_telemetry` call and configured only through OTEL_* variables, handle requests that
cross three services. The traces read back from Observatory must have the right parent/child
chain across the services and the GenAI attributes; the metrics and logs must arrive. One team
service exports over OTLP/HTTP, the others over gRPC.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest

from tests.server import ServerProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway"
PROMPT = "what does the team answer"  # 5 words in, the same 5 words reversed out
T = TypeVar("T")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"gateway_example_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stack_module = _load("stack")
run_module = _load("run")


def _poll(fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value):
        assert time.monotonic() < deadline, f"{what}: still {value!r}"
        time.sleep(0.2)
        value = fetch()
    return value


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """One server and one run of the stack for the whole module: starting them is the slow part.

    The stack is stopped (SIGTERM, so every service flushes) before any test reads.
    """
    root = tmp_path_factory.mktemp("sdk-gateway")
    server = ServerProcess(root / "data")
    server.start()
    try:
        yield Observed(server, _run_stack(server, root / "logs"))
    finally:
        server.stop()


def _run_stack(server: ServerProcess, log_dir: Path) -> dict[str, httpx.Response]:
    stack = stack_module.Stack(
        stack_module.telemetry_env(f"http://{server.grpc_endpoint}"), log_dir
    )
    http_env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.otlp_http,
    }
    stack.start(extra_env={"team-support": http_env})
    try:
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            responses = {
                "search": client.post(
                    "/api/search/predict",
                    json={"prompt": PROMPT},
                    headers={"X-Correlation-ID": "corr-search-1"},
                ),
                "support": client.post(
                    "/api/support/predict", json={"prompt": PROMPT, "stream": True}
                ),
                "nobody": client.post("/api/nobody/predict", json={"prompt": PROMPT}),
            }
    finally:
        stack.stop()
    for service in stack.services:
        assert "Traceback" not in stack.log(service.name), stack.log(service.name)
    return responses


@dataclass
class Observed:
    server: ServerProcess
    answers: dict[str, httpx.Response]


def _trace(server: ServerProcess, trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans once all three services' spans (six spans) are in."""

    def fetch() -> list[dict[str, Any]]:
        response = httpx.get(f"{server.api}/api/traces/{trace_id}")
        return run_module.flatten(response.json()) if response.status_code == 200 else []

    return _poll(fetch, lambda spans: len(spans) >= 6, f"trace {trace_id}")


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for item in span.get("attributes", []):
        ((kind, value),) = item["value"].items()
        if kind == "arrayValue":
            value = [next(iter(v.values())) for v in value["values"]]
        values[item["key"]] = int(value) if kind == "intValue" else value
    return values


def _chain(spans: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(service, name, kind) from the root down; fails unless the spans form one chain."""
    by_parent = {span.get("parentSpanId", ""): span for span in spans}
    assert len(by_parent) == len(spans), "a span has two children: not a single chain"
    chain: list[tuple[str, str, int]] = []
    span: dict[str, Any] | None = by_parent[""]
    while span is not None:
        chain.append((span["service"], span["name"], span["kind"]))
        span = by_parent.get(span["spanId"])
    assert len(chain) == len(spans)
    return chain


SERVER, CLIENT = 2, 3


def test_trace_crosses_gateway_team_and_model_with_genai_attributes(
    observed: Observed,
) -> None:
    server, answers = observed.server, observed.answers
    response = answers["search"]
    assert response.status_code == 200, response.text
    assert response.json()["output"] == " ".join(reversed(PROMPT.split()))
    assert response.headers["X-Correlation-ID"] == "corr-search-1"
    spans = _trace(server, response.headers["X-Trace-Id"])
    assert _chain(spans) == [
        ("gateway", "POST /api/{team}/predict", SERVER),
        ("gateway", "POST", CLIENT),
        ("team-search", "POST /predict", SERVER),
        ("team-search", "chat fake-llama-3-8b", CLIENT),
        ("team-search", "POST", CLIENT),
        ("model-server", "POST /v1/chat/completions", SERVER),
    ]
    by_name = {(s["service"], s["name"]): _attributes(s) for s in spans}
    assert by_name[("gateway", "POST /api/{team}/predict")]["team"] == "search"
    # The correlation id reached the team service through W3C baggage.
    assert by_name[("team-search", "POST /predict")]["correlation_id"] == "corr-search-1"
    chat = by_name[("team-search", "chat fake-llama-3-8b")]
    assert chat["gen_ai.operation.name"] == "chat"
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.request.model"] == chat["gen_ai.response.model"] == "fake-llama-3-8b"
    assert chat["gen_ai.usage.input_tokens"] == chat["gen_ai.usage.output_tokens"] == 5
    assert chat["gen_ai.response.finish_reasons"] == ["stop"]
    assert chat["team"] == "search"
    assert "gen_ai.input.messages" not in chat  # content is opt-in


def test_streamed_call_over_otlp_http_has_time_to_first_chunk(
    observed: Observed,
) -> None:
    server, answers = observed.server, observed.answers
    response = answers["support"]
    assert response.status_code == 200, response.text
    spans = _trace(server, response.headers["X-Trace-Id"])
    services = [service for service, _, _ in _chain(spans)]
    assert services == ["gateway"] * 2 + ["team-support"] * 3 + ["model-server"]
    [chat] = [_attributes(s) for s in spans if s["name"] == "chat fake-llama-3-8b"]
    assert chat["gen_ai.request.stream"] is True
    assert chat["gen_ai.response.time_to_first_chunk"] > 0
    assert chat["gen_ai.usage.output_tokens"] == 5


def _query(server: ServerProcess, promql: str) -> dict[str, float]:
    response = httpx.get(f"{server.api}/api/v1/query", params={"query": promql})
    assert response.status_code == 200, response.text
    return {
        ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
        for r in response.json()["data"]["result"]
    }


def _metric(server: ServerProcess, promql: str, expected: dict[str, float]) -> None:
    _poll(lambda: _query(server, promql), lambda found: found == expected, promql)


def test_gateway_and_genai_metrics_arrive(
    observed: Observed,
) -> None:
    server, answers = observed.server, observed.answers
    assert answers["nobody"].status_code == 404
    _metric(
        server,
        "sum by (team, http_response_status_code) (gateway_requests_total)",
        {
            "http_response_status_code=200,team=search": 1,
            "http_response_status_code=200,team=support": 1,
            "http_response_status_code=404,team=unknown": 1,
        },
    )
    _metric(
        server,
        "sum by (team) (gateway_latency_ms_milliseconds_count)",
        {"team=search": 1, "team=support": 1, "team=unknown": 1},
    )
    own = '{source!="spans"}'  # the SDK's own series, not the ones Observatory derives from spans
    _metric(
        server,
        f"sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{own})",
        {"gen_ai_token_type=input": 10, "gen_ai_token_type=output": 10},
    )
    _metric(
        server,
        f"sum by (job) (gen_ai_client_operation_duration_seconds_count{own})",
        {"job=llm-platform/team-search": 1, "job=llm-platform/team-support": 1},
    )
    _metric(
        server,
        f"sum(gen_ai_client_operation_time_to_first_chunk_seconds_count{own})",
        {"": 1},
    )


def test_team_log_line_links_to_its_trace(
    observed: Observed,
) -> None:
    server, answers = observed.server, observed.answers
    trace_id = answers["search"].headers["X-Trace-Id"]
    query = f'{{service_name="team-search"}} |= "answered" | trace_id="{trace_id}"'

    def fetch() -> list[str]:
        response = httpx.get(f"{server.api}/loki/api/v1/query_range", params={"query": query})
        assert response.status_code == 200, response.text
        return [line for s in response.json()["data"]["result"] for _, line in s["values"]]

    assert _poll(fetch, bool, query) == ["team search answered 25 characters"]
