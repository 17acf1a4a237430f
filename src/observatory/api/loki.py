"""Loki's HTTP query API: queries, labels, series, index stats and live tail.

Answers in Loki's envelope and formats (streams with `[ns-string, line]` values, Prometheus
matrix and vector for metric queries, the `stats` object), so Grafana's Loki data source,
logcli and Loki's HTTP clients work unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from observatory import __version__
from observatory.api.loki_params import (
    Params,
    default_step_ns,
    one,
    parse_direction,
    parse_limit,
    parse_step_ns,
    parse_time_ns,
    request_params,
    required,
)
from observatory.api.query_runner import QueryRunner
from observatory.errors import ObservatoryError, QueryError
from observatory.query.logql import ast
from observatory.query.logql.catalog import LogCatalog
from observatory.query.logql.engine import LogqlEngine, LogqlLimits, QueryResult, group_streams
from observatory.query.logql.parser import parse_expr, parse_log_query
from observatory.query.logql.reader import LogEntry, LogReader, ReadStats
from observatory.query.promql.floats import format_sample
from observatory.store.protocol import Store
from observatory.tenancy import TenantResolver
from observatory.web import retry_headers, tenant_header

Handler = Callable[[Request, str, Params], Awaitable[Response]]
HOUR_NS = 3600 * 10**9
# Loki's default window for labels, label values and series.
METADATA_WINDOW_NS = 6 * HOUR_NS
TAIL_POLL_SECONDS = 1.0
TAIL_OVERLAP_NS = 5 * 10**9
TAIL_BATCH = 1000


@dataclass(frozen=True)
class LokiSettings:
    max_entries: int
    max_series: int
    timeout_seconds: float
    max_concurrency: int


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _failure(error: ObservatoryError) -> Response:
    # Loki answers errors as plain text; Grafana shows the body as the error message.
    return Response(
        error.message + "\n",
        status_code=error.http_status,
        media_type="text/plain; charset=utf-8",
        headers=retry_headers(error),
    )


class LokiApi:
    def __init__(self, store: Store, tenants: TenantResolver, settings: LokiSettings) -> None:
        self.store = store
        self.tenants = tenants
        self.settings = settings
        self.limits = LogqlLimits(
            settings.max_entries, settings.max_series, settings.timeout_seconds
        )
        self._runner = QueryRunner(settings.max_concurrency, settings.timeout_seconds)

    def routes(self) -> list[BaseRoute]:
        both = ["GET", "POST"]
        prefix = "/loki/api/v1"
        return [
            Route(f"{prefix}/query", self._endpoint(self._instant), methods=both),
            Route(f"{prefix}/query_range", self._endpoint(self._range), methods=both),
            Route(f"{prefix}/labels", self._endpoint(self._labels), methods=both),
            Route(f"{prefix}/label", self._endpoint(self._labels), methods=both),
            Route(f"{prefix}/label/{{name}}/values", self._endpoint(self._values), methods=both),
            Route(f"{prefix}/series", self._endpoint(self._series), methods=both),
            Route(f"{prefix}/index/stats", self._endpoint(self._index_stats), methods=both),
            Route(f"{prefix}/index/volume", self._endpoint(self._volume), methods=both),
            Route(f"{prefix}/index/volume_range", self._endpoint(self._volume_range), methods=both),
            Route(f"{prefix}/status/buildinfo", self._buildinfo, methods=["GET"]),
            WebSocketRoute(f"{prefix}/tail", self._tail),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                tenant = self.tenants.resolve(tenant_header(request))
                return await handler(request, tenant, await request_params(request))
            except ObservatoryError as exc:
                return _failure(exc)

        return endpoint

    def _engine(self, tenant: str) -> LogqlEngine:
        return LogqlEngine(self.store, tenant, self.limits)

    async def _instant(self, request: Request, tenant: str, params: Params) -> Response:
        query = required(params, "query")
        at = parse_time_ns(one(params, "time"), "time", time.time_ns())
        result = await self._runner.run(lambda: self._engine(tenant).instant(query, at))
        return _success(result_json(result))

    async def _range(self, request: Request, tenant: str, params: Params) -> Response:
        query = required(params, "query")
        end = parse_time_ns(one(params, "end"), "end", time.time_ns())
        start = parse_time_ns(one(params, "start"), "start", end - HOUR_NS)
        raw_step = one(params, "step")
        step = parse_step_ns(raw_step) if raw_step else default_step_ns(start, end)
        limit = parse_limit(one(params, "limit"))
        backward = parse_direction(one(params, "direction"))
        result = await self._runner.run(
            lambda: self._engine(tenant).range(query, start, end, step, limit, backward)
        )
        return _success(result_json(result))

    async def _labels(self, request: Request, tenant: str, params: Params) -> Response:
        start, end = _metadata_window(params)
        selector = _selector(one(params, "query"))
        catalog = LogCatalog(self.store, tenant)
        return _success(await self._runner.run(lambda: catalog.label_names(start, end, selector)))

    async def _values(self, request: Request, tenant: str, params: Params) -> Response:
        name = request.path_params["name"]
        start, end = _metadata_window(params)
        selector = _selector(one(params, "query"))
        catalog = LogCatalog(self.store, tenant)
        values = await self._runner.run(lambda: catalog.label_values(name, start, end, selector))
        return _success(values)

    async def _series(self, request: Request, tenant: str, params: Params) -> Response:
        texts = params.get("match[]", []) + params.get("match", [])
        if not texts:
            raise QueryError("at least one match[] argument is required")
        selectors = [_selector(text) for text in texts]
        start, end = _metadata_window(params)
        catalog = LogCatalog(self.store, tenant)
        return _success(await self._runner.run(lambda: catalog.series(selectors, start, end)))

    async def _index_stats(self, request: Request, tenant: str, params: Params) -> Response:
        selector = _selector(required(params, "query"))
        end = parse_time_ns(one(params, "end"), "end", time.time_ns())
        start = parse_time_ns(one(params, "start"), "start", end - HOUR_NS)
        catalog = LogCatalog(self.store, tenant)
        stats = await self._runner.run(lambda: catalog.index_stats(selector, start, end))
        return JSONResponse(stats)

    async def _volume(self, request: Request, tenant: str, params: Params) -> Response:
        return await self._volumes(tenant, params, ranged=False)

    async def _volume_range(self, request: Request, tenant: str, params: Params) -> Response:
        return await self._volumes(tenant, params, ranged=True)

    async def _volumes(self, tenant: str, params: Params, ranged: bool) -> Response:
        selector = _selector(required(params, "query"))
        end = parse_time_ns(one(params, "end"), "end", time.time_ns())
        start = parse_time_ns(one(params, "start"), "start", end - HOUR_NS)
        raw_step = one(params, "step")
        step = (
            (parse_step_ns(raw_step) if raw_step else default_step_ns(start, end))
            if ranged
            else None
        )
        targets = [t for t in (one(params, "targetLabels") or "").split(",") if t]
        limit = parse_limit(one(params, "limit"))
        catalog = LogCatalog(self.store, tenant)
        found = await self._runner.run(
            lambda: catalog.volume(selector, start, end, targets, limit, step)
        )
        if ranged:
            result: list[dict[str, Any]] = [
                {"metric": labels, "values": [_point(t, v) for t, v in points]}
                for labels, points in found
            ]
            return _success({"resultType": "matrix", "result": result})
        result = [
            {"metric": labels, "value": _point(end, sum(v for _, v in points))}
            for labels, points in found
        ]
        return _success({"resultType": "vector", "result": result})

    async def _buildinfo(self, request: Request) -> Response:
        return JSONResponse(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )

    # ------------------------------------------------------------ live tail

    async def _tail(self, websocket: WebSocket) -> None:
        try:
            tenant = self.tenants.resolve(websocket.headers.get("x-scope-orgid"))
            params: Params = {k: [v] for k, v in websocket.query_params.items()}
            query = parse_log_query(required(params, "query"))
            delay = int(float(one(params, "delay_for") or 0) * 10**9)
            limit = parse_limit(one(params, "limit"))
            start = parse_time_ns(one(params, "start"), "start", time.time_ns() - HOUR_NS)
        except ObservatoryError as exc:
            await websocket.close(code=1008, reason=exc.message[:120])
            return
        await websocket.accept()
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(websocket, disconnected))
        try:
            tail = _Tail(self.store, tenant, query, start, delay, self.limits.timeout_seconds)
            first = await asyncio.to_thread(tail.poll, limit)
            await _send_entries(websocket, first)
            while not disconnected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(disconnected.wait(), TAIL_POLL_SECONDS)
                if disconnected.is_set():
                    break
                await _send_entries(websocket, await asyncio.to_thread(tail.poll, TAIL_BATCH))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            watcher.cancel()


class _Tail:
    """Polls for entries newer than the last ones sent, never sending one twice.

    Each poll re-reads a short overlap before the cursor: entries can arrive with timestamps
    a little older than ones already sent (several senders, batching).
    """

    def __init__(
        self,
        store: Store,
        tenant: str,
        query: ast.LogQuery,
        start_ns: int,
        delay_ns: int,
        timeout_seconds: float,
    ) -> None:
        self.store = store
        self.tenant = tenant
        self.query = query
        self.cursor = start_ns
        self.delay_ns = delay_ns
        self.timeout_seconds = timeout_seconds
        self.sent: dict[tuple[int, str, frozenset[tuple[str, str]]], int] = {}

    def poll(self, limit: int) -> list[LogEntry]:
        now = time.time_ns() - self.delay_ns
        reader = LogReader(self.store, self.tenant, time.monotonic() + self.timeout_seconds)
        since = max(self.cursor - TAIL_OVERLAP_NS, 0)
        found = reader.entries(self.query, since, now, limit + len(self.sent), backward=False)
        fresh: list[LogEntry] = []
        for entry in found:
            key = (entry.timestamp_ns, entry.line, frozenset(entry.labels.items()))
            if key not in self.sent:
                self.sent[key] = entry.timestamp_ns
                fresh.append(entry)
        if fresh:
            self.cursor = max(self.cursor, max(e.timestamp_ns for e in fresh))
        horizon = self.cursor - TAIL_OVERLAP_NS
        self.sent = {k: ts for k, ts in self.sent.items() if ts >= horizon}
        return fresh[:limit] if len(fresh) > limit else fresh


async def _watch_disconnect(websocket: WebSocket, disconnected: asyncio.Event) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        disconnected.set()


async def _send_entries(websocket: WebSocket, entries: list[LogEntry]) -> None:
    if not entries:
        return
    streams = [_stream_json(s.labels, s.entries) for s in group_streams(entries)]
    await websocket.send_json({"streams": streams, "dropped_entries": None})


# ---------------------------------------------------------------- formatting


def result_json(result: QueryResult) -> dict[str, Any]:
    data: dict[str, Any] = {"resultType": result.kind}
    if result.kind == "streams":
        data["result"] = [_stream_json(s.labels, s.entries) for s in result.streams]
    elif result.kind == "matrix":
        data["result"] = [
            {
                "metric": s.labels,
                "values": [_point(t, v) for t, v in zip(s.timestamps, s.values, strict=True)],
            }
            for s in result.series
        ]
    elif result.kind == "vector":
        data["result"] = [
            {"metric": s.labels, "value": _point(s.timestamps[-1], s.values[-1])}
            for s in result.series
            if len(s.timestamps)
        ]
    else:
        only = result.series[0] if result.series else None
        data["result"] = (
            _point(only.timestamps[-1], only.values[-1]) if only and len(only.timestamps) else []
        )
    entries = sum(len(s.entries) for s in result.streams)
    data["stats"] = stats_json(result.stats, entries)
    return data


def _stream_json(labels: dict[str, str], entries: list[tuple[int, str]]) -> dict[str, Any]:
    return {"stream": labels, "values": [[str(ts), line] for ts, line in entries]}


def _point(ts_ns: Any, value: Any) -> list[Any]:
    return [int(ts_ns) / 1e9, format_sample(float(value))]


def stats_json(stats: ReadStats, entries_returned: int) -> dict[str, Any]:
    """Loki's `stats` object: the summary is real; per-component parts have our totals."""
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    store = {
        "totalChunksRef": 0,
        "totalChunksDownloaded": 0,
        "chunksDownloadTime": 0,
        "chunk": {
            "headChunkBytes": 0,
            "headChunkLines": 0,
            "decompressedBytes": stats.bytes,
            "decompressedLines": stats.lines,
            "compressedBytes": 0,
            "totalDuplicates": 0,
            "postFilterLines": stats.post_filter_lines,
        },
    }
    return {
        "summary": {
            "bytesProcessedPerSecond": math.floor(stats.bytes / elapsed),
            "linesProcessedPerSecond": math.floor(stats.lines / elapsed),
            "totalBytesProcessed": stats.bytes,
            "totalLinesProcessed": stats.lines,
            "execTime": elapsed,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": stats.post_filter_lines,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {"store": store},
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": store,
        },
    }


def _metadata_window(params: Params) -> tuple[int, int]:
    end = parse_time_ns(one(params, "end"), "end", time.time_ns())
    start = parse_time_ns(one(params, "start"), "start", end - METADATA_WINDOW_NS)
    return start, end


def _selector(text: str | None) -> tuple[ast.Matcher, ...]:
    """The stream selector of a `query`/`match[]` parameter (a whole log query is allowed)."""
    if not text:
        return ()
    expr = parse_expr(text)
    if not isinstance(expr, ast.LogQuery):
        raise QueryError(f"{text!r} is not a stream selector")
    return expr.selector
