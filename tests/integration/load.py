"""Concurrent OTLP/HTTP senders that remember exactly what was acknowledged."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx

from tests.integration.otlp_payloads import span_request


@dataclass
class LoadResult:
    acknowledged: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, span_ids: list[str], retry_after: str | None) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.acknowledged.update(span_ids)
            if retry_after is not None:
                self.retry_after.add(retry_after)


def _sender(url: str, spans: int, stop: threading.Event, result: LoadResult) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            request, ids = span_request(spans)
            try:
                response = client.post(
                    url,
                    content=request.SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
            except httpx.HTTPError:
                continue  # the server died under us: this request was never acknowledged
            result.record(
                response.status_code,
                [s.hex() for _, s in ids],
                response.headers.get("Retry-After"),
            )


def start_load(
    url: str, senders: int, spans: int
) -> tuple[threading.Event, list[threading.Thread], LoadResult]:
    stop, result = threading.Event(), LoadResult()
    threads = [
        threading.Thread(target=_sender, args=(url, spans, stop, result), daemon=True)
        for _ in range(senders)
    ]
    for thread in threads:
        thread.start()
    return stop, threads, result


def stop_load(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
