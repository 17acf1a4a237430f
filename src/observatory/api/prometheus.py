"""The Prometheus HTTP API: instant and range queries, series, labels, metadata, buildinfo.

Answers in Prometheus's envelope (`status`, `data`, `errorType`, `error`, `warnings`), so
Grafana's Prometheus data source and promtool work unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from observatory import __version__
from observatory.api.prometheus_params import (
    MIN_TIME_MS,
    now_ms,
    parse_duration_ms,
    parse_time_ms,
    selector_matchers,
)
from observatory.api.query_runner import QueryRunner
from observatory.errors import ObservatoryError, QueryError
from observatory.query.metric_catalog import MetricCatalog
from observatory.query.metric_source import StoreSeriesSource
from observatory.query.promql.engine import PromqlEngine, QueryLimits
from observatory.receivers.body import read_capped
from observatory.store.protocol import Store
from observatory.tenancy import TenantResolver
from observatory.web import retry_headers, tenant_header

Params = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
MIB = 1024 * 1024
Handler = Callable[[Request, str, Params], Awaitable[Response]]


@dataclass(frozen=True)
class QuerySettings:
    lookback_ms: int
    max_samples: int
    max_points_per_series: int
    timeout_seconds: float
    max_concurrency: int


def _success(data: Any, warnings: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return JSONResponse(body)


def _failure(error: ObservatoryError) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "errorType": error.reason, "error": error.message},
        status_code=error.http_status,
        headers=retry_headers(error),
    )


async def _params(request: Request) -> Params:
    """Query-string and form parameters together, repeated keys (`match[]`) as lists."""
    params: Params = {}
    pairs: list[tuple[str, Any]] = list(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(FORM):
        body = await read_capped(request.stream(), request.headers.get("content-length"), MIB)
        pairs += parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    for key, value in pairs:
        params.setdefault(key, []).append(str(value))
    return params


def _one(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


class PrometheusApi:
    def __init__(self, store: Store, tenants: TenantResolver, settings: QuerySettings) -> None:
        self.store = store
        self.tenants = tenants
        self.settings = settings
        self._runner = QueryRunner(settings.max_concurrency, settings.timeout_seconds)

    def routes(self) -> list[Route]:
        both = ["GET", "POST"]
        return [
            Route("/api/v1/query", self._endpoint(self._instant), methods=both),
            Route("/api/v1/query_range", self._endpoint(self._range), methods=both),
            Route("/api/v1/series", self._endpoint(self._series), methods=both),
            Route("/api/v1/labels", self._endpoint(self._labels), methods=both),
            Route("/api/v1/label/{name}/values", self._endpoint(self._values), methods=["GET"]),
            Route("/api/v1/metadata", self._endpoint(self._metadata), methods=["GET"]),
            Route("/api/v1/status/buildinfo", self._buildinfo, methods=["GET"]),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                tenant = self.tenants.resolve(tenant_header(request))
                return await handler(request, tenant, await _params(request))
            except ObservatoryError as exc:
                return _failure(exc)

        return endpoint

    async def _run(self, work: Callable[[], Any]) -> Any:
        return await self._runner.run(work)

    def _engine(self, tenant: str) -> PromqlEngine:
        s = self.settings
        source = StoreSeriesSource(self.store, tenant, s.max_samples)
        limits = QueryLimits(s.max_samples, s.max_points_per_series, s.timeout_seconds)
        return PromqlEngine(source, s.lookback_ms, limits)

    async def _instant(self, request: Request, tenant: str, params: Params) -> Response:
        query = _required(params, "query")
        at = parse_time_ms(_one(params, "time"), "time", now_ms())
        result = await self._run(lambda: self._engine(tenant).instant(query, at))
        return _success(result.to_prometheus_json(), result.warnings)

    async def _range(self, request: Request, tenant: str, params: Params) -> Response:
        query = _required(params, "query")
        start = parse_time_ms(_one(params, "start"), "start")
        end = parse_time_ms(_one(params, "end"), "end")
        step = parse_duration_ms(_one(params, "step"), "step")
        _check_range(start, end, step, self.settings.max_points_per_series)
        result = await self._run(lambda: self._engine(tenant).range(query, start, end, step))
        return _success(result.to_prometheus_json(), result.warnings)

    async def _series(self, request: Request, tenant: str, params: Params) -> Response:
        selectors = [selector_matchers(text) for text in params.get("match[]", [])]
        if not selectors:
            raise QueryError("no match[] parameter provided")
        start = parse_time_ms(_one(params, "start"), "start", MIN_TIME_MS)
        catalog = MetricCatalog(self.store, tenant)
        return _success(await self._run(lambda: catalog.series(selectors, start)))

    async def _labels(self, request: Request, tenant: str, params: Params) -> Response:
        selectors = [selector_matchers(text) for text in params.get("match[]", [])]
        start = parse_time_ms(_one(params, "start"), "start", MIN_TIME_MS)
        catalog = MetricCatalog(self.store, tenant)
        return _success(await self._run(lambda: catalog.label_names(selectors, start)))

    async def _values(self, request: Request, tenant: str, params: Params) -> Response:
        name = request.path_params["name"]
        selectors = [selector_matchers(text) for text in params.get("match[]", [])]
        start = parse_time_ms(_one(params, "start"), "start", MIN_TIME_MS)
        catalog = MetricCatalog(self.store, tenant)
        return _success(await self._run(lambda: catalog.label_values(name, selectors, start)))

    async def _metadata(self, request: Request, tenant: str, params: Params) -> Response:
        limit = _one(params, "limit")
        catalog = MetricCatalog(self.store, tenant)
        metric = _one(params, "metric")
        count = int(limit) if limit and limit.lstrip("-").isdigit() else None
        return _success(await self._run(lambda: catalog.metadata(metric, count)))

    async def _buildinfo(self, request: Request) -> Response:
        return _success(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )


def _required(params: Params, name: str) -> str:
    value = _one(params, name)
    if not value:
        raise QueryError(f'invalid parameter "{name}": missing')
    return value


def _check_range(start: int, end: int, step: int, max_points: int) -> None:
    if end < start:
        raise QueryError('invalid parameter "end": end timestamp must not be before start time')
    if step <= 0:
        raise QueryError(
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. Try a positive integer"
        )
    if (end - start) // step + 1 > max_points:
        raise QueryError(
            f"exceeded maximum resolution of {max_points} points per timeseries. Try decreasing "
            "the query resolution (?step=XX)"
        )
