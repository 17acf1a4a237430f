"""Sends alerts to external Alertmanagers, as Prometheus's notifier does.

Alerts wait in a bounded queue (when full, the oldest are dropped and counted: a newer state
of an alert supersedes an older one, and firing alerts are sent again every resend delay
anyway). A worker posts them in batches of at most 64 as Alertmanager's API v2 PostableAlert
JSON to every Alertmanager at once, retrying each with backoff; a batch no Alertmanager took is
counted as dropped. Each batch carries one tenant in `X-Scope-OrgID`, which a multi-tenant
Alertmanager (Mimir's) reads and a plain one ignores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from observatory import __version__
from observatory.alerting.model import Alert
from observatory.tenancy import TENANT_HEADER

log = logging.getLogger("observatory.rules.sender")

API_PATH = "/api/v2/alerts"
QUEUE_CAPACITY = 10_000
BATCH_SIZE = 64


def rfc3339(seconds: float) -> str:
    """A time as Go's RFC 3339 with fractional seconds trimmed, in UTC: `...T10:00:00.5Z`."""
    micros = round(seconds * 1_000_000)
    whole, fraction = divmod(micros, 1_000_000)
    text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += f".{fraction:06d}".rstrip("0")
    return text + "Z"


def postable(alert: Alert) -> dict[str, Any]:
    """An alert as Alertmanager's API v2 PostableAlert."""
    body: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generatorURL": alert.generator_url,
    }
    if alert.starts_at:
        body["startsAt"] = rfc3339(alert.starts_at)
    if alert.ends_at:
        body["endsAt"] = rfc3339(alert.ends_at)
    return body


def alerts_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(API_PATH) else base + API_PATH


class AlertmanagerSender:
    def __init__(
        self,
        urls: Sequence[str],
        timeout: float = 10.0,
        *,
        capacity: int = QUEUE_CAPACITY,
        batch_size: int = BATCH_SIZE,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.urls = [alerts_url(url) for url in urls]
        self.timeout = timeout
        self.capacity = capacity
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._transport = transport
        self._sleep = sleep
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._ready = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._worker: asyncio.Task[None] | None = None
        self._delivering = False
        self.sent = 0  # alerts at least one Alertmanager took
        self.dropped = 0  # alerts dropped: queue overflow, or no Alertmanager took them
        self.errors = 0  # failed deliveries of a batch to one Alertmanager

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self.timeout,
            trust_env=False,
            headers={"User-Agent": f"Observatory/{__version__}"},
        )
        self._worker = asyncio.create_task(self._run(), name="alertmanager sender")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Sends what is queued for up to `drain_seconds`, then stops."""
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), drain_seconds)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, tenant: str, alerts: Sequence[Alert]) -> None:
        """Queues alerts; never waits for the network (the rule manager's `send`)."""
        self.enqueue(tenant, alerts)

    def enqueue(self, tenant: str, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if len(self._queue) >= self.capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((tenant, postable(alert)))
        if self._queue:
            self._ready.set()

    async def _drained(self) -> None:
        while self._queue or self._delivering:
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            tenant, batch = self._next_batch()
            if not self._queue:
                self._ready.clear()
            if batch:
                self._delivering = True
                try:
                    await self.deliver(tenant, batch)
                finally:
                    self._delivering = False

    def _next_batch(self) -> tuple[str, list[dict[str, Any]]]:
        """Up to `batch_size` queued alerts of the tenant at the head of the queue."""
        if not self._queue:
            return "", []
        tenant = self._queue[0][0]
        batch: list[dict[str, Any]] = []
        while self._queue and self._queue[0][0] == tenant and len(batch) < self.batch_size:
            batch.append(self._queue.popleft()[1])
        return tenant, batch

    async def deliver(self, tenant: str, batch: list[dict[str, Any]]) -> bool:
        """Posts one batch to every Alertmanager; whether at least one took it."""
        body = orjson.dumps(batch)
        headers = {"Content-Type": "application/json", TENANT_HEADER: tenant}
        results = await asyncio.gather(*(self._post(url, body, headers) for url in self.urls))
        if any(results):
            self.sent += len(batch)
            return True
        self.dropped += len(batch)
        log.warning("no Alertmanager took %d alerts of tenant %s", len(batch), tenant)
        return False

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        assert self._client is not None, "start() the sender first"
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                # A request Alertmanager refuses as bad will not get better by retrying.
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break
            log.warning("sending alerts to %s (attempt %d): %s", url, attempt + 1, problem)
        self.errors += 1
        return False
