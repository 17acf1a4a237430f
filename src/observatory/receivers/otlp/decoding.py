"""Decoding OTLP payloads, in this process or in a pool of worker processes.

Decoding is pure Python work per attribute and holds the interpreter lock; in worker
processes it runs on every core while the main process serves requests and commits. Metrics
stay in this process: turning delta points cumulative needs state shared by all requests.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import pyarrow as pa

from observatory.errors import StoreUnavailableError
from observatory.pipeline.delta import DeltaToCumulative
from observatory.pipeline.processors import AttributeLimits, ResourceProcessor
from observatory.receivers.log_enrichment import IdExtractor
from observatory.receivers.otlp.codec import parse_request
from observatory.receivers.otlp.common import DecodeContext
from observatory.receivers.otlp.logs import decode_logs
from observatory.receivers.otlp.metrics import decode_metrics
from observatory.receivers.otlp.traces import decode_traces
from observatory.settings import SETTINGS_BY_NAME, Settings
from observatory.signals.batch import Signal, SignalBatch

log = logging.getLogger(__name__)


@dataclass
class Decoded:
    batch: SignalBatch
    dropped_attributes: int


def _default_patterns(name: str) -> tuple[str, ...]:
    return tuple(cast(list[str], SETTINGS_BY_NAME[name].default))


@dataclass(frozen=True)
class DecodeRules:
    """What decoding applies to every item; plain data, so it can reach worker processes."""

    max_attributes: int
    max_value_length: int
    limit_action: str
    resource_actions: Sequence[Mapping[str, Any]]
    # Regexes that find the trace and span ids of log records that came without them.
    trace_id_patterns: Sequence[str] = _default_patterns("logs_trace_id_patterns")
    span_id_patterns: Sequence[str] = _default_patterns("logs_span_id_patterns")

    @cached_property
    def limits(self) -> AttributeLimits:
        return AttributeLimits(self.max_attributes, self.max_value_length, self.limit_action)

    @cached_property
    def resources(self) -> ResourceProcessor:
        return ResourceProcessor.from_config(self.resource_actions)

    @cached_property
    def ids(self) -> IdExtractor:
        return IdExtractor.compile(self.trace_id_patterns, self.span_id_patterns)

    def context(self, tenant: str) -> DecodeContext:
        return DecodeContext(tenant, self.limits, self.resources, ids=self.ids)

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeRules:
        rules = cls(
            settings.max_attributes_per_item,
            settings.max_attribute_value_length,
            settings.attribute_limit_action,
            settings.resource_processor,
            tuple(settings.logs_trace_id_patterns),
            tuple(settings.logs_span_id_patterns),
        )
        # Compiled now: a bad pattern is a ConfigError at start, not in the first request.
        _ = rules.ids
        return rules


def decode_inline(
    signal: Signal, body: bytes, encoding: str, ctx: DecodeContext, deltas: DeltaToCumulative
) -> Decoded:
    request = parse_request(signal, body, encoding)
    if signal is Signal.TRACES:
        batch = decode_traces(request, ctx)
    elif signal is Signal.LOGS:
        batch = decode_logs(request, ctx)
    else:
        batch = decode_metrics(request, ctx, deltas)
    return Decoded(batch, ctx.dropped_attributes)


# A worker's rules, set once when it starts.
_worker_rules: DecodeRules | None = None


def _start_worker(rules: DecodeRules) -> None:
    global _worker_rules
    _worker_rules = rules
    # Ctrl-C reaches the whole process group; only the main process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready() -> bool:
    return _worker_rules is not None


def _decode_in_worker(
    signal: Signal, body: bytes, encoding: str, tenant: str
) -> tuple[SignalBatch, int, dict[str, bytes]]:
    """Decode, then ship the tables as Arrow IPC: far cheaper to move than pickled rows."""
    assert _worker_rules is not None
    ctx = _worker_rules.context(tenant)
    decoded = decode_inline(signal, body, encoding, ctx, DeltaToCumulative())
    tables = {name: _to_ipc(table) for name, table in decoded.batch.tables.items()}
    decoded.batch.tables = {}
    return decoded.batch, decoded.dropped_attributes, tables


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class OtlpDecoder:
    """Decodes traces and logs in `workers` processes (none: in this process), metrics here."""

    def __init__(self, rules: DecodeRules, workers: int, deltas: DeltaToCumulative) -> None:
        self.rules = rules
        self.workers = workers
        self.deltas = deltas
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        """Start the workers now, so the first requests do not wait for them."""
        if self.workers > 0:
            self._pool = self._new_pool()
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(self._pool, _ready) for _ in range(self.workers))
            )

    def _new_pool(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the store's threads are already running in this process.
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.rules,),
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def decode(self, signal: Signal, body: bytes, encoding: str, tenant: str) -> Decoded:
        pool = self._pool
        if pool is None or signal is Signal.METRICS:
            return decode_inline(signal, body, encoding, self.rules.context(tenant), self.deltas)
        loop = asyncio.get_running_loop()
        try:
            batch, dropped, tables = await loop.run_in_executor(
                pool, _decode_in_worker, signal, body, encoding, tenant
            )
        except BrokenProcessPool as exc:
            self._restart(pool)
            raise StoreUnavailableError("a decoder process died; retry the request") from exc
        batch.tables = {name: _from_ipc(data) for name, data in tables.items()}
        return Decoded(batch, dropped)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._pool is broken:
            log.error("a decoder process died; starting a new pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
