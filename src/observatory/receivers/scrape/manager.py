"""The scrape manager: one loop per target, kept in step with the config and file_sd files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from pathlib import Path

import httpx

from observatory.pipeline.pipeline import Pipeline
from observatory.receivers.scrape.config import ScrapeFile, load_config
from observatory.receivers.scrape.discovery import Discovery, Target
from observatory.receivers.scrape.loop import SampleWriter, TargetLoop
from observatory.self_metrics import SelfMetrics

log = logging.getLogger("observatory.scrape")

TargetKey = tuple[str, str, tuple[tuple[str, str], ...]]


class ScrapeManager:
    """Scrapes every target of a Prometheus-style config file into one tenant.

    `reload()` reads the file again: new targets start, removed ones stop with stale markers
    for all their series, and a target whose settings changed restarts without losing track
    of its series. A bad file leaves the running config in place.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        metrics: SelfMetrics,
        config_path: str | Path,
        tenant: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.writer = SampleWriter(pipeline, metrics, tenant)
        self.config = ScrapeFile(())
        self.loops: dict[TargetKey, TargetLoop] = {}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._discovery = Discovery()
        self._sync_lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the config (a ConfigError stops the start) and begin scraping."""
        self.config = await asyncio.to_thread(load_config, self.config_path)
        # No proxies from the environment: targets are reached directly, as Prometheus does.
        self._client = httpx.AsyncClient(
            transport=self._transport, follow_redirects=True, trust_env=False
        )
        await self._sync()
        self._refresher = asyncio.create_task(self._refresh_files(), name="scrape file_sd")
        log.info("scraping %d targets of %d jobs", len(self.loops), len(self.config.jobs))

    async def reload(self) -> None:
        """Read the config again; on a ConfigError the running config stays."""
        self.config = await asyncio.to_thread(load_config, self.config_path)
        if self._client is None:  # not started: start() runs what was read
            return
        await self._sync()
        log.info("scrape config reloaded: %d targets", len(self.loops))

    async def stop(self) -> None:
        """Stop every loop. No stale markers: the targets have not gone, Observatory has."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        async with self._sync_lock:
            await asyncio.gather(*(loop.stop() for loop in self.loops.values()))
            self.loops.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _refresh_files(self) -> None:
        while True:
            interval = self.config.refresh_interval()
            await asyncio.sleep(interval if interval is not None else 60.0)
            if interval is not None:
                await self._sync()

    async def _sync(self) -> None:
        async with self._sync_lock:
            targets = await asyncio.to_thread(self._discovery.targets, self.config)
            wanted = {target.key: target for target in targets}
            for key in [key for key in self.loops if key not in wanted]:
                await self._remove(key)
            for key, target in wanted.items():
                await self._ensure(key, target)

    async def _remove(self, key: TargetKey) -> None:
        loop = self.loops.pop(key)
        await loop.stop()
        await loop.mark_stale()

    async def _ensure(self, key: TargetKey, target: Target) -> None:
        existing = self.loops.get(key)
        if existing is not None and existing.target == target:
            return
        tracked = None
        if existing is not None:
            await existing.stop()
            tracked = existing.tracked
        assert self._client is not None  # _sync runs only once started
        loop = TargetLoop(target, self._client, self.writer, tracked)
        # Spread the targets over the interval rather than scraping them all at once.
        loop.start(random.uniform(0, target.interval))
        self.loops[key] = loop
