"""Tempo's search API: TraceQL and tag search, tag names and values, echo and build info.

Errors answer in plain text, as Tempo does, so Grafana's Tempo data source shows them as is.
Without `start` and `end` a search covers the last hour, as Tempo without them searches only
recent data.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from observatory import __version__
from observatory.errors import ObservatoryError, QueryError
from observatory.query.traceql import ast
from observatory.query.traceql.legacy import tags_query
from observatory.query.traceql.parser import parse, parse_condition, parse_field
from observatory.query.traceql.search import TraceSearch
from observatory.query.traceql.search_sql import SearchBounds
from observatory.query.traceql.tags import INTRINSIC_TAGS, TagCatalog, TagWindow
from observatory.query.traceql.values import parse_duration_ns
from observatory.store.protocol import Store
from observatory.tenancy import TenantResolver
from observatory.web import retry_headers, tenant_header

Handler = Callable[[Request, str], Awaitable[Response]]
DEFAULT_WINDOW_NS = 3600 * 10**9
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000
DEFAULT_SPSS, MAX_SPSS = 3, 100  # as Tempo's max_spans_per_span_set
DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT = 5000, 100_000
ATTRIBUTE_SCOPES = ("span", "resource")
_NS = 10**9


class TempoSearchApi:
    def __init__(self, store: Store, tenants: TenantResolver) -> None:
        self.searcher = TraceSearch(store)
        self.catalog = TagCatalog(store)
        self.tenants = tenants

    def routes(self) -> list[Route]:
        return [
            Route("/api/search", self._endpoint(self._search), methods=["GET"]),
            Route("/api/search/tags", self._endpoint(self._tags), methods=["GET"]),
            Route("/api/v2/search/tags", self._endpoint(self._tags_v2), methods=["GET"]),
            Route(
                "/api/search/tag/{tag:path}/values", self._endpoint(self._values), methods=["GET"]
            ),
            Route(
                "/api/v2/search/tag/{tag:path}/values",
                self._endpoint(self._values_v2),
                methods=["GET"],
            ),
            Route("/api/echo", self._echo, methods=["GET"]),
            Route("/api/status/buildinfo", self._buildinfo, methods=["GET"]),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                tenant = self.tenants.resolve(tenant_header(request))
                return await handler(request, tenant)
            except ObservatoryError as exc:
                return PlainTextResponse(
                    exc.message, status_code=exc.http_status, headers=retry_headers(exc)
                )
            except RuntimeError as exc:  # the store refused the query
                return PlainTextResponse(f"search failed: {_first_line(exc)}", status_code=500)

        return endpoint

    async def _search(self, request: Request, tenant: str) -> Response:
        params = request.query_params
        query = search_query(params)
        bounds = search_bounds(params, tenant)
        body = await asyncio.to_thread(self.searcher.search, query, bounds)
        return JSONResponse(body)

    async def _tags(self, request: Request, tenant: str) -> Response:
        # Tempo's v1 tags list spans' and resources' unless asked for intrinsics.
        scopes = await self._scopes(request, tenant, ATTRIBUTE_SCOPES)
        names = sorted({tag for tags in scopes.values() for tag in tags})
        return JSONResponse({"tagNames": names, "metrics": _tag_metrics()})

    async def _tags_v2(self, request: Request, tenant: str) -> Response:
        scopes = await self._scopes(request, tenant, (*ATTRIBUTE_SCOPES, "intrinsic"))
        listed = [{"name": name, "tags": tags} for name, tags in scopes.items()]
        return JSONResponse({"scopes": listed, "metrics": _tag_metrics()})

    async def _scopes(
        self, request: Request, tenant: str, default: tuple[str, ...]
    ) -> dict[str, list[str]]:
        params = request.query_params
        wanted = _wanted_scopes(params.get("scope", ""), default)
        window = tag_window(params, tenant)
        scopes: dict[str, list[str]] = {}
        for scope in wanted:
            if scope == "intrinsic":
                scopes[scope] = list(INTRINSIC_TAGS)
            else:
                scopes[scope] = await asyncio.to_thread(self.catalog.tag_names, window, scope)
        return scopes

    async def _values(self, request: Request, tenant: str) -> Response:
        field = ast.Attribute("", request.path_params["tag"])
        window = tag_window(request.query_params, tenant)
        typed = await asyncio.to_thread(self.catalog.values, window, field)
        values = sorted({item["value"] for item in typed})
        return JSONResponse({"tagValues": values, "metrics": _tag_metrics()})

    async def _values_v2(self, request: Request, tenant: str) -> Response:
        field = parse_field(request.path_params["tag"])
        window = tag_window(request.query_params, tenant)
        typed = await asyncio.to_thread(self.catalog.values, window, field)
        return JSONResponse({"tagValues": typed, "metrics": _tag_metrics()})

    async def _echo(self, request: Request) -> Response:
        return PlainTextResponse("echo")

    async def _buildinfo(self, request: Request) -> Response:
        info = {"version": __version__, "revision": "", "branch": "", "buildDate": ""}
        return JSONResponse({**info, "buildUser": "", "goVersion": ""})


def search_query(params: Mapping[str, str]) -> ast.Query:
    """The TraceQL of `q`, else the tag search of `tags` (`{ }` when neither is given)."""
    text = params.get("q", "").strip()
    if text:
        return parse(text)
    return tags_query(params.get("tags", ""))


def search_bounds(params: Mapping[str, str], tenant: str) -> SearchBounds:
    start_ns, end_ns = time_window(params)
    min_ns = _duration(params, "minDuration")
    max_ns = _duration(params, "maxDuration")
    if min_ns is not None and max_ns is not None and min_ns > max_ns:
        raise QueryError("invalid maxDuration: must not be less than minDuration")
    return SearchBounds(
        tenant=tenant,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=_count(params, "limit", DEFAULT_LIMIT, MAX_LIMIT),
        spss=_count(params, "spss", DEFAULT_SPSS, MAX_SPSS),
        min_duration_ns=min_ns,
        max_duration_ns=max_ns,
    )


def tag_window(params: Mapping[str, str], tenant: str) -> TagWindow:
    start_ns, end_ns = time_window(params)
    limit = _count(params, "limit", DEFAULT_TAG_LIMIT, MAX_TAG_LIMIT)
    return TagWindow(tenant, start_ns, end_ns, limit, _lenient_condition(params.get("q", "")))


def time_window(params: Mapping[str, str]) -> tuple[int, int]:
    """`start` and `end` (Unix seconds) in nanoseconds; the last hour by default."""
    end = _seconds(params, "end")
    end_ns = time.time_ns() if end is None else end
    start = _seconds(params, "start")
    start_ns = end_ns - DEFAULT_WINDOW_NS if start is None else start
    if start_ns > end_ns:
        raise QueryError("invalid start: must not be after end")
    return start_ns, end_ns


def _seconds(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or seconds > 2**63 / _NS:
        raise QueryError(f"invalid {name} {raw[:64]!r}: expected Unix seconds")
    return round(seconds * _NS)


def _duration(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_duration_ns(raw)
    except ValueError:
        raise QueryError(
            f"invalid {name} {raw[:64]!r}: expected a duration such as 100ms or 1.5s"
        ) from None


def _count(params: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    """A positive count; 0 or absent means the default, and more than `maximum` is capped."""
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise QueryError(f"invalid {name} {raw[:64]!r}: expected a positive integer")
    return min(int(raw), maximum) or default


def _wanted_scopes(scope: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if scope == "":
        return default
    if scope == "all":
        return (*ATTRIBUTE_SCOPES, "intrinsic")
    if scope in (*ATTRIBUTE_SCOPES, "intrinsic"):
        return (scope,)
    raise QueryError(f"invalid scope {scope[:64]!r}: expected span, resource, intrinsic or all")


def _lenient_condition(text: str) -> ast.Condition | None:
    """The filter of a tag query's `q`; like Tempo, an unusable `q` filters nothing."""
    if not text.strip():
        return None
    try:
        return parse_condition(text)
    except QueryError:
        return None


def _tag_metrics() -> dict[str, Any]:
    return {"inspectedBytes": "0"}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
