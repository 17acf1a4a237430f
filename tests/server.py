"""Runs `observatory serve` as a subprocess, the way a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.extra_args = args or []
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.otlp_http_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.http_port}.log"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **self.extra_env}
        command = [
            sys.executable,
            "-m",
            "observatory.cli",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--http-port",
            str(self.http_port),
            "--otlp-grpc-port",
            str(self.grpc_port),
            "--otlp-http-port",
            str(self.otlp_http_port),
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.api}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait: the server commits what it queued and exits."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """kill -9: no flush, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()


_QUERY_SCRIPT = """
import json, sys, chdb
conn = chdb.connect(sys.argv[1])
print(conn.query(sys.argv[2], "JSONEachRow"))
"""


def query_store(data_dir: Path, sql: str) -> list[dict[str, object]]:
    """Rows from a stopped server's store, read in a subprocess: one chDB path per process."""
    result = subprocess.run(
        [sys.executable, "-c", _QUERY_SCRIPT, str(data_dir), sql],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
