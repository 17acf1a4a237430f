"""Debian's Prometheus as a real peer: a scrape target, a Prometheus that remote-writes."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.server import free_port


class Exposition:
    """A `/metrics` target whose counters move a little on every scrape."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.lock = threading.Lock()

    def text(self) -> str:
        with self.lock:
            self.scrapes += 1
            n = self.scrapes
        return (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="llama"}} {n % 5}\n'
            f'vllm:num_requests_running{{model_name="qwen"}} {n % 3 + 1}\n'
            "# TYPE vllm:request_success_total counter\n"
            f'vllm:request_success_total{{model_name="llama",finished_reason="stop"}} {10 * n}\n'
            f'vllm:request_success_total{{model_name="qwen",finished_reason="stop"}} {3 * n}\n'
        )


@contextmanager
def exposition_target() -> Iterator[tuple[str, Exposition]]:
    exposition = Exposition()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", exposition
    finally:
        server.shutdown()


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None and shutil.which("promtool") is not None


@contextmanager
def prometheus(workdir: Path, target: str, remote_write_url: str) -> Iterator[str]:
    """Prometheus scraping `target` every second and remote-writing to `remote_write_url`."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: vllm\n    static_configs:\n      - targets: ['{target}']\n"
        "remote_write:\n"
        f"  - url: {remote_write_url}\n"
        "    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}\n"
    )
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("prometheus exited at start")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("prometheus not ready in 60 s")
