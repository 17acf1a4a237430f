"""POSTs a notification, retrying with exponential backoff until the flush's deadline.

Network errors, 5xx and the integration's own retryable codes (429 for all; 403 for
PagerDuty's v1 API, its rate limit) are retried after 1 s, 2 s, 4 s ... (capped); any other
4xx is final, since sending the same body again cannot succeed, and is logged with the
receiver's answer. When the next wait would pass the deadline (the group's next flush) the
notification counts as failed: the notification log is then not updated, so the next flush
sends it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

import httpx

from observatory.alerting.alertmanager.notifiers.base import NotifyMetrics, NullMetrics

USER_AGENT = "Observatory-Alertmanager"
_BODY_EXCERPT = 512

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 60.0
    request_timeout: float = 30.0


class _Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    FINAL = "final"


@dataclass(frozen=True)
class Delivery:
    """One notification to POST: who it is for, where, what, and until when."""

    integration: str
    receiver: str
    url: str
    payload: Any
    deadline: float
    retry_statuses: frozenset[int] = frozenset({429})
    timeout: float | None = None


class HttpSender:
    """Shared by all integrations; `clock` and `sleep` drive the backoff (tests fake them)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        metrics: NotifyMetrics | None = None,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.client = client
        self.metrics: NotifyMetrics = metrics if metrics is not None else NullMetrics()
        self.policy = policy if policy is not None else RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._timer = timer

    async def send(self, delivery: Delivery) -> bool:
        """POSTs the payload as JSON until accepted, a final error, or the deadline."""
        body = json.dumps(delivery.payload, ensure_ascii=False).encode()
        backoff = self.policy.initial_backoff
        attempts = 0
        while True:
            attempts += 1
            outcome, detail = await self._attempt(delivery, body)
            if outcome is _Outcome.OK:
                self.metrics.sent(delivery.integration, delivery.receiver)
                return True
            wait = min(backoff, self.policy.max_backoff)
            if outcome is _Outcome.FINAL or self._clock() + wait >= delivery.deadline:
                self._give_up(delivery, attempts, detail, outcome)
                return False
            log.warning(
                "%s/%s: attempt %d failed (%s); retrying in %.1fs",
                delivery.receiver,
                delivery.integration,
                attempts,
                detail,
                wait,
            )
            await self._sleep(wait)
            backoff *= self.policy.multiplier

    def failed(self, integration: str, receiver: str, reason: str) -> bool:
        """Reports a notification that could not even be attempted (e.g. a missing secret);
        returns False, the notification's result."""
        log.error("%s/%s: notify failed: %s", receiver, integration, reason)
        self.metrics.failed(integration, receiver)
        return False

    async def _attempt(self, delivery: Delivery, body: bytes) -> tuple[_Outcome, str]:
        started = self._timer()
        try:
            response = await self.client.post(
                delivery.url,
                content=body,
                headers=_HEADERS,
                timeout=self._timeout(delivery),
            )
        except httpx.TransportError as exc:
            return _Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        finally:
            elapsed = self._timer() - started
            self.metrics.latency(delivery.integration, delivery.receiver, elapsed)
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome.OK, ""
        detail = f"HTTP {status}: {response.text[:_BODY_EXCERPT]}"
        retry = status >= 500 or status in delivery.retry_statuses
        return (_Outcome.RETRY if retry else _Outcome.FINAL), detail

    def _timeout(self, delivery: Delivery) -> float:
        limit = delivery.timeout or self.policy.request_timeout
        return max(min(limit, delivery.deadline - self._clock()), 1.0)

    def _give_up(self, delivery: Delivery, attempts: int, detail: str, outcome: _Outcome) -> None:
        why = "not retryable" if outcome is _Outcome.FINAL else "deadline reached"
        log.error(
            "%s/%s: notify failed after %d attempt(s), %s: %s",
            delivery.receiver,
            delivery.integration,
            attempts,
            why,
            detail,
        )
        self.metrics.failed(delivery.integration, delivery.receiver)


_HEADERS: Mapping[str, str] = {"Content-Type": "application/json", "User-Agent": USER_AGENT}


class _SendsResolved(Protocol):
    @property
    def send_resolved(self) -> bool: ...


ConfigT = TypeVar("ConfigT", bound=_SendsResolved)


class HttpIntegration(Generic[ConfigT]):
    """What every `*_configs` entry holds: its config, where it sits, and the HTTP sender."""

    def __init__(
        self,
        config: ConfigT,
        receiver: str,
        index: int,
        sender: HttpSender,
        external_url: str,
    ) -> None:
        self.config = config
        self.receiver = receiver
        self.index = index
        self.send_resolved = config.send_resolved
        self._sender = sender
        self._external_url = external_url
