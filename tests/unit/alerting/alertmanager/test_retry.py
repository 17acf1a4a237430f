"""Sending with retries: backoff on 5xx, 429 and network errors, none on other 4xx."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import httpx
import pytest

from observatory.alerting.alertmanager.config_model import WebhookConfig
from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.notifiers import HttpSender, RetryPolicy, WebhookIntegration
from observatory.alerting.alertmanager.notifiers.retry import Delivery
from observatory.alerting.model import Alert
from tests.unit.alerting.alertmanager.core_fakes import FakeClock

T = 1_700_000_000.0


@dataclass
class Metrics:
    sent_to: list[tuple[str, str]] = field(default_factory=list)
    failed_to: list[tuple[str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def sent(self, integration: str, receiver: str) -> None:
        self.sent_to.append((integration, receiver))

    def failed(self, integration: str, receiver: str) -> None:
        self.failed_to.append((integration, receiver))

    def latency(self, integration: str, receiver: str, seconds: float) -> None:
        self.latencies.append(seconds)


class Script:
    """Answers each request with the next scripted step: a status or an exception."""

    def __init__(self, *steps: int | Exception) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, text=f"answer {step}")


def make(script: Script, metrics: Metrics) -> tuple[HttpSender, FakeClock]:
    clock = FakeClock(T)
    client = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return HttpSender(client, metrics, clock=clock, sleep=clock.sleep), clock


def delivery(deadline: float = T + 300, **changes: object) -> Delivery:
    values: dict[str, object] = {
        "integration": "webhook",
        "receiver": "team",
        "url": "http://hook/",
        "payload": {"a": 1},
        "deadline": deadline,
    }
    values.update(changes)
    return Delivery(**values)  # type: ignore[arg-type]


async def test_retries_5xx_then_succeeds() -> None:
    script, metrics = Script(503, 500, 200), Metrics()
    sender, clock = make(script, metrics)
    assert await sender.send(delivery())
    assert script.calls == 3
    assert clock.slept == [1.0, 2.0]  # exponential backoff
    assert metrics.sent_to == [("webhook", "team")]
    assert metrics.failed_to == []
    assert len(metrics.latencies) == 3


async def test_retries_429_and_network_errors() -> None:
    script, metrics = Script(429, httpx.ConnectError("refused"), 200), Metrics()
    sender, clock = make(script, metrics)
    assert await sender.send(delivery())
    assert script.calls == 3 and clock.slept == [1.0, 2.0]


async def test_other_4xx_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    script, metrics = Script(400, 200), Metrics()
    sender, clock = make(script, metrics)
    assert not await sender.send(delivery())
    assert script.calls == 1 and clock.slept == []
    assert metrics.failed_to == [("webhook", "team")] and metrics.sent_to == []
    assert "HTTP 400: answer 400" in caplog.text and "not retryable" in caplog.text


async def test_integration_specific_retry_codes() -> None:
    script, metrics = Script(403, 200), Metrics()
    sender, _ = make(script, metrics)
    assert await sender.send(delivery(retry_statuses=frozenset({403})))
    assert script.calls == 2


async def test_gives_up_at_the_deadline() -> None:
    script, metrics = Script(500), Metrics()
    sender, clock = make(script, metrics)
    assert not await sender.send(delivery(deadline=T + 10))
    # Waits 1, 2, 4 s; the next wait (8 s) would end past the deadline.
    assert clock.slept == [1.0, 2.0, 4.0] and script.calls == 4
    assert metrics.failed_to == [("webhook", "team")]


async def test_backoff_is_capped() -> None:
    script, metrics = Script(500), Metrics()
    clock = FakeClock(T)
    client = httpx.AsyncClient(transport=httpx.MockTransport(script))
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=3.0)
    sender = HttpSender(client, metrics, policy=policy, clock=clock, sleep=clock.sleep)
    assert not await sender.send(delivery(deadline=T + 12))
    assert clock.slept == [1.0, 2.0, 3.0, 3.0]


async def test_real_loopback_webhook_with_a_retry() -> None:
    """A real HTTP server on a loopback port: the first POST gets a 503, the retry a 200."""
    received: list[tuple[str, dict[str, str], bytes]] = []
    statuses = [503, 200]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *header_lines = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        body = await reader.readexactly(int(headers["content-length"]))
        received.append((request_line, headers, body))
        status = statuses.pop(0)
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock, metrics = FakeClock(T), Metrics()
    async with server, httpx.AsyncClient() as client:
        sender = HttpSender(client, metrics, clock=clock, sleep=clock.sleep)
        hook = WebhookIntegration(
            WebhookConfig(url=f"http://127.0.0.1:{port}/alerts"), "team", 0, sender, "http://obs"
        )
        firing = Alert(labels={"alertname": "X"}, starts_at=T)
        note = Notification("team", "{}:{}", {}, (firing,), T, 300.0, 3600.0)
        assert await hook.notify(note, [firing])
    assert [r[0] for r in received] == ["POST /alerts HTTP/1.1"] * 2
    body = json.loads(received[1][2])
    assert body["version"] == "4" and body["alerts"][0]["labels"] == {"alertname": "X"}
    assert received[1][1]["content-type"] == "application/json"
    assert clock.slept == [1.0]
    assert metrics.sent_to == [("webhook", "team")]
