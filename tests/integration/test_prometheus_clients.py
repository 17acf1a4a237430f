"""Debian's Prometheus remote-writes into Observatory; both answer the same PromQL alike;
promtool queries Observatory as it would a Prometheus."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.prometheus_server import (
    exposition_target,
    prometheus,
    prometheus_available,
)
from tests.server import ServerProcess

needs_prometheus = pytest.mark.skipif(
    not prometheus_available(), reason="Debian's prometheus is not installed (make test does)"
)

QUERIES = [
    'vllm:num_requests_running{model_name="llama"}',
    "sum by (model_name) (vllm:num_requests_running)",
    "sum by (model_name) (rate(vllm:request_success_total[10s]))",
    "max_over_time(vllm:num_requests_running[5s])",
    "count(up) by (job)",
]


def _instant(base: str, query: str, at: float) -> dict[str, float]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": query, "time": at}, timeout=30)
    body = response.json()
    assert body["status"] == "success", (base, query, body)
    return {
        ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
        for r in body["data"]["result"]
    }


def _wait_for_data(base: str, query: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _instant(base, query, time.time()):
            return
        time.sleep(1)
    raise AssertionError(f"no data for {query} in 60 s")


@needs_prometheus
def _wait_until_written(base: str, at: float) -> None:
    """Remote-write lags scraping by a batch deadline or more on a busy machine: wait until
    every series has a sample at or after `at` before comparing answers at `at`."""
    deadline = time.monotonic() + 60
    query = "min(timestamp(vllm:request_success_total))"
    while time.monotonic() < deadline:
        latest = _instant(base, query, time.time())
        if latest and min(latest.values()) >= at:
            return
        time.sleep(0.5)
    raise AssertionError("remote-write did not catch up in 60 s")


def test_remote_write_from_prometheus_answers_like_prometheus(
    server: ServerProcess, tmp_path: Path
) -> None:
    with (
        exposition_target() as (target, _),
        prometheus(tmp_path, target, f"{server.api}/api/v1/write") as prom,
    ):
        _wait_for_data(server.api, "vllm:request_success_total")
        time.sleep(12)
        at = time.time() - 3
        _wait_until_written(server.api, at)
        for query in QUERIES:
            ours, theirs = _instant(server.api, query, at), _instant(prom, query, at)
            assert ours.keys() == theirs.keys(), query
            for key, value in theirs.items():
                assert ours[key] == pytest.approx(value, rel=1e-6), (query, key)


@needs_prometheus
def test_promtool_queries_observatory(server: ServerProcess, tmp_path: Path) -> None:
    with (
        exposition_target() as (target, _),
        prometheus(tmp_path, target, f"{server.api}/api/v1/write"),
    ):
        _wait_for_data(server.api, "up")
    instant = subprocess.run(
        ["promtool", "query", "instant", server.api, 'up{job="vllm"}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert instant.returncode == 0, instant.stderr
    assert "up{instance=" in instant.stdout and "=> 1" in instant.stdout
    now = int(time.time())
    ranged = subprocess.run(
        [
            "promtool",
            "query",
            "range",
            "--start",
            str(now - 20),
            "--end",
            str(now),
            "--step",
            "2s",
            server.api,
            "vllm:num_requests_running",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ranged.returncode == 0, ranged.stderr
    assert 'model_name="qwen"' in ranged.stdout
    labels = subprocess.run(
        ["promtool", "query", "labels", server.api, "model_name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert labels.returncode == 0, labels.stderr
    assert labels.stdout.split() == ["llama", "qwen"]


def test_observatory_scrapes_a_target_itself(tmp_path: Path) -> None:
    with exposition_target() as (target, exposition):
        config = tmp_path / "scrape.yml"
        config.write_text(
            "scrape_configs:\n"
            "  - job_name: vllm\n    scrape_interval: 1s\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
            "    metric_relabel_configs:\n"
            "      - {source_labels: [model_name], regex: qwen, action: drop}\n"
        )
        server = ServerProcess(
            tmp_path / "data", env={"OBSERVATORY_SCRAPE_CONFIG_FILE": str(config)}
        )
        server.start()
        try:
            _wait_for_data(server.api, "vllm:num_requests_running")
            time.sleep(2)
            at = time.time()
            assert _instant(server.api, 'up{job="vllm"}', at) == {
                f"__name__=up,instance={target},job=vllm": 1.0
            }
            running = _instant(server.api, "vllm:num_requests_running", at)
            assert list(running) == [
                f"__name__=vllm:num_requests_running,instance={target},job=vllm,model_name=llama"
            ]
            assert exposition.scrapes >= 3
        finally:
            server.stop()
