"""One target's scrape loop: fetch, parse, write samples, staleness and report series."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from observatory import __version__
from observatory.errors import ObservatoryError
from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.scrape.discovery import Target
from observatory.receivers.scrape.exposition import ExpositionError, Family, parse_exposition
from observatory.receivers.scrape.samples import (
    Report,
    SeriesKey,
    add_report,
    add_scraped,
    add_stale,
    convert,
    report_series,
)
from observatory.self_metrics import SelfMetrics
from observatory.signals.batch import Signal, SignalBatch
from observatory.signals.metrics import MetricColumns

log = logging.getLogger("observatory.scrape")

PROTOCOL = "scrape"
# OpenMetrics first, then the text format, then whatever the target has.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
)
USER_AGENT = f"Observatory/{__version__}"
# A bound on one exposition so a runaway target cannot exhaust memory.
MAX_BODY_BYTES = 64 * 1024 * 1024


MetadataKey = tuple[str, str, str, str]


def metadata_key(family: Family) -> MetadataKey:
    return family.name, family.type, family.unit, family.help


class ScrapeError(Exception):
    """The target answered, but not with an exposition we can take."""


class SampleWriter:
    """Commits scraped samples; a refusal is counted and logged, never raised into a loop."""

    def __init__(self, pipeline: Pipeline, metrics: SelfMetrics, tenant: str) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.tenant = tenant

    def admit(self) -> bool:
        """Whether the pipeline takes metrics now; when it does not, skip the scrape."""
        try:
            self.pipeline.admit(Signal.METRICS)
        except ObservatoryError as exc:
            self._refused(exc)
            return False
        return True

    async def write(self, columns: MetricColumns) -> bool:
        """Whether the samples were committed."""
        batch = SignalBatch(Signal.METRICS, self.tenant, columns.tables(), items=columns.samples)
        self.metrics.received.labels(Signal.METRICS.value, PROTOCOL).inc(batch.items)
        try:
            await self.pipeline.write(batch)
        except ObservatoryError as exc:
            self._refused(exc)
            return False
        return True

    def _refused(self, exc: ObservatoryError) -> None:
        self.metrics.refused_requests.labels(Signal.METRICS.value, exc.reason).inc()
        log.warning("scraped samples refused: %s", exc.message)


class TargetLoop:
    """Scrapes one target every interval until stopped.

    `tracked` holds the series of the last successful scrape; those missing from the next
    one, or all of them when a scrape fails, get stale markers.
    """

    def __init__(
        self,
        target: Target,
        client: httpx.AsyncClient,
        writer: SampleWriter,
        tracked: set[SeriesKey] | None = None,
    ) -> None:
        self.target = target
        self.client = client
        self.writer = writer
        self.tracked: set[SeriesKey] = tracked or set()
        self.healthy: bool | None = None
        self.last_error = ""
        # Metadata rarely changes and the store keeps it: write it only when it is new.
        self._metadata_written: set[MetadataKey] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self, offset: float) -> None:
        self._task = asyncio.create_task(self._run(offset), name=f"scrape {self.target.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def mark_stale(self) -> None:
        """Stale markers for every series of the target, which is going away."""
        reported = report_series(self.target) if self.healthy is not None else []
        columns = MetricColumns(self.writer.tenant)
        add_stale(columns, [*self.tracked, *reported], int(time.time() * 1000))
        self.tracked = set()
        await self.writer.write(columns)

    async def _run(self, offset: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(offset)
        interval = self.target.interval
        next_at = loop.time()
        while True:
            await self._scrape_safely()
            next_at += interval
            now = loop.time()
            if next_at < now:  # fell behind: skip the missed slots, keep the phase
                next_at += ((now - next_at) // interval + 1) * interval
            await asyncio.sleep(next_at - now)

    async def _scrape_safely(self) -> None:
        try:
            await self.scrape_once()
        except asyncio.CancelledError:
            raise
        # A bug in one scrape must not end the target's loop for good.
        except Exception:
            log.exception("scrape of %s failed unexpectedly", self.target.url)

    async def scrape_once(self) -> None:
        if not self.writer.admit():
            return
        scrape_ms = int(time.time() * 1000)
        started = time.perf_counter()
        try:
            body, content_type = await self._fetch()
            duration = time.perf_counter() - started
            columns, tracked, metadata = await asyncio.to_thread(
                self._columns, body, content_type, scrape_ms, duration
            )
        except (
            httpx.HTTPError,
            httpx.InvalidURL,
            TimeoutError,
            ScrapeError,
            ExpositionError,
        ) as exc:
            await self._failed(_describe(exc), scrape_ms, time.perf_counter() - started)
            return
        self._set_health(True, "")
        self.tracked = tracked
        if await self.writer.write(columns):
            self._metadata_written |= metadata

    async def _fetch(self) -> tuple[bytes, str | None]:
        headers = {
            "Accept": ACCEPT,
            "User-Agent": USER_AGENT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{self.target.timeout:g}",
        }
        async with (
            asyncio.timeout(self.target.timeout),
            self.client.stream("GET", self.target.url, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise ScrapeError(f"server returned HTTP status {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise ScrapeError(f"exposition larger than {MAX_BODY_BYTES} bytes")
            return bytes(body), response.headers.get("content-type")

    def _columns(
        self, body: bytes, content_type: str | None, scrape_ms: int, duration: float
    ) -> tuple[MetricColumns, set[SeriesKey], set[MetadataKey]]:
        """The scrape's samples, stale markers, report and new metadata; off the event loop."""
        scraped = convert(parse_exposition(body, content_type), self.target, scrape_ms)
        metadata = {metadata_key(family) for family in scraped.metadata}
        scraped.metadata = [
            f for f in scraped.metadata if metadata_key(f) not in self._metadata_written
        ]
        columns = MetricColumns(self.writer.tenant)
        add_scraped(columns, scraped)
        add_stale(columns, self.tracked - scraped.tracked, scrape_ms)
        added = len(scraped.tracked - self.tracked)
        report = Report(True, duration, scraped.exposed, len(scraped.samples), added)
        add_report(columns, self.target, scrape_ms, report)
        return columns, scraped.tracked, metadata

    async def _failed(self, error: str, scrape_ms: int, duration: float) -> None:
        # As Prometheus: a failed scrape makes every series of the last one stale.
        self._set_health(False, error)
        columns = MetricColumns(self.writer.tenant)
        add_stale(columns, self.tracked, scrape_ms)
        add_report(columns, self.target, scrape_ms, Report(False, duration))
        self.tracked = set()
        await self.writer.write(columns)

    def _set_health(self, healthy: bool, error: str) -> None:
        if healthy != self.healthy:
            if healthy:
                log.info("target %s is up", self.target.url)
            else:
                log.warning("target %s is down: %s", self.target.url, error)
        self.healthy, self.last_error = healthy, error


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "scrape timed out"
    return str(exc) or type(exc).__name__
