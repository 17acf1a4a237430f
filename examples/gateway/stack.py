"""The example's four processes: a model server, two team services and the gateway.

Each runs `serve.py` as its own process on a free loopback port, the way they would be deployed,
with the OpenTelemetry environment pointing at a collector (an Observatory). `run.py` and the
integration test both start the stack through this module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SERVE = HERE / "serve.py"
TEAMS = ("search", "support")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    port: int
    args: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """Start with `start()`, stop with `stop()`: SIGTERM, so every service flushes its telemetry."""

    telemetry_env: Mapping[str, str]
    log_dir: Path
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        model = Service("model-server", free_port(), ["model"])
        self.services.append(model)
        teams = []
        for team in TEAMS:
            args = ["team", "--team", team, "--model-url", model.url]
            service = Service(f"team-{team}", free_port(), args)
            teams.append(f"{team}={service.url}")
            self.services.append(service)
        self.services.append(
            Service("gateway", free_port(), ["gateway", "--teams", ",".join(teams)])
        )

    @property
    def gateway(self) -> Service:
        return self.services[-1]

    def start(
        self, timeout: float = 60.0, extra_env: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        """Start every service (in parallel) and wait until each answers /healthz.

        `extra_env` adds variables per service name, e.g. another protocol for one of them.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            own = (extra_env or {}).get(service.name, {})
            env = {**_clean_environ(), **self.telemetry_env, **own}
            command = [sys.executable, str(SERVE), *service.args, "--port", str(service.port)]
            with (self.log_dir / f"{service.name}.log").open("ab") as log:
                service.process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env
                )
        deadline = time.monotonic() + timeout
        for service in self.services:
            self._wait_ready(service, deadline)

    def _wait_ready(self, service: Service, deadline: float) -> None:
        assert service.process is not None
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited at start:\n{self.log(service.name)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{service.name} not ready in time:\n{self.log(service.name)}")

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM all, then wait: each process flushes its spans, metrics and logs as it exits."""
        for service in self.services:
            if service.process is not None and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for service in self.services:
            if service.process is None:
                continue
            try:
                codes[service.name] = service.process.wait(timeout)
            except subprocess.TimeoutExpired:
                service.process.kill()
                codes[service.name] = service.process.wait()
        return codes

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _clean_environ() -> dict[str, str]:
    # The services take their telemetry settings from the stack alone, not from whatever
    # OTEL_* variables the calling shell or test process happens to have.
    prefixes = ("OTEL_", "OBSERVATORY_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def telemetry_env(otlp_grpc_endpoint: str, metric_interval_ms: int = 5000) -> dict[str, str]:
    """The environment that points a service at an OTLP/gRPC collector."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_grpc_endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": str(metric_interval_ms),
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_BLRP_SCHEDULE_DELAY": "500",
    }
