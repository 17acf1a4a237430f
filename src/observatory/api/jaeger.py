"""Jaeger's query API under `/jaeger/api/`: what the Jaeger UI and Grafana's Jaeger data
source call (Grafana's data source URL is `http://host:3300/jaeger`).

Answers come in Jaeger's envelope, `{"data", "total", "limit", "offset", "errors"}`, and
errors as `{"data": null, "errors": [{"code", "msg"}]}` with the same HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observatory.api import jaeger_model
from observatory.api.tempo import parse_trace_id
from observatory.errors import BadRequestError, NotFoundError, ObservatoryError
from observatory.query.jaeger import KIND_NAMES, KIND_NUMBERS, JaegerReader, TraceQuery
from observatory.query.traces import TraceReader
from observatory.store.protocol import Store
from observatory.tenancy import TenantResolver
from observatory.web import retry_headers, tenant_header

PREFIX = "/jaeger/api"
DEFAULT_LIMIT = 100
# The Jaeger UI offers at most 1500 traces; more would load a great many spans at once.
MAX_LIMIT = 1500
# Jaeger's default search window when `start` is absent: two days before `end`.
DEFAULT_LOOKBACK_NS = 2 * 86_400 * 1_000_000_000
DEFAULT_DEPENDENCY_LOOKBACK_MS = 86_400_000
_GO_UNITS_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9}
_GO_UNITS_NS |= {"m": 60 * 10**9, "h": 3600 * 10**9}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?\s*')

Handler = Callable[[Request, str], Awaitable[Response]]


def envelope(data: Any, total: int = 0) -> Response:
    body = {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}
    return Response(orjson.dumps(body), media_type="application/json")


def error_envelope(error: ObservatoryError) -> Response:
    body = {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": error.http_status, "msg": error.message}],
    }
    return Response(
        orjson.dumps(body),
        status_code=error.http_status,
        media_type="application/json",
        headers=retry_headers(error),
    )


def parse_go_duration(raw: str, name: str) -> int:
    """A Go duration (`1.2s`, `100ms`, `1h30m`, `500us`) in nanoseconds; never negative."""
    text = raw.strip().lstrip("+")
    if text == "0":
        return 0
    position, total = 0, Fraction(0)
    for part in _GO_PART.finditer(text):
        if part.start() != position:
            break
        total += Fraction(part.group(1)) * _GO_UNITS_NS[part.group(2)]
        position = part.end()
    if not text or position != len(text):
        raise BadRequestError(
            f"unable to parse param '{name}': invalid duration {raw[:64]!r} "
            "(use a Go duration such as 1.2s, 100ms or 500us)"
        )
    return int(total)


def parse_unix(raw: str | None, name: str, default_ns: int, unit: str = "us") -> int:
    """A time in Unix microseconds (`ms`: milliseconds), as nanoseconds."""
    if raw is None or raw == "":
        return default_ns
    unit_ns = _GO_UNITS_NS[unit]
    if not raw.isdigit() or int(raw) > (2**63 - 1) // unit_ns:
        raise BadRequestError(
            f"unable to parse param '{name}': {raw[:64]!r} is not a time in Unix {unit}"
        )
    return int(raw) * unit_ns


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequestError(
            f"unable to parse param 'limit': {raw[:64]!r} is not an integer"
        ) from None
    return DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)


def parse_tags(tags_params: list[str], tag_params: list[str]) -> tuple[tuple[str, str], ...]:
    """`tags` as a JSON object or logfmt (`error=true model="llama 3"`), and `tag=key:value`
    params; later values of a key win, as in Jaeger."""
    found: dict[str, str] = {}
    for raw in tag_params:
        key, colon, value = raw.partition(":")
        if not colon:
            raise BadRequestError(
                f"malformed 'tag' parameter, expecting key:value, received: {raw[:64]!r}"
            )
        found[key] = value
    for raw in tags_params:
        text = raw.strip()
        found.update(_json_tags(text) if text[:1] in ("{", "[") else logfmt(text))
    return tuple(found.items())


def _json_tags(text: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BadRequestError(f"malformed 'tags' parameter, cannot parse JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequestError("malformed 'tags' parameter: expected a JSON object")
    return {str(key): _tag_text(key, value) for key, value in document.items()}


def _tag_text(key: str, value: Any) -> str:
    # Grafana sends every value as a string; numbers and booleans are read as their text.
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise BadRequestError(f"malformed 'tags' parameter: the value of {key!r} is not a scalar")


def logfmt(text: str) -> dict[str, str]:
    """`key=value key="quoted value" flag` pairs; a bare key means `true`, as in logfmt."""
    pairs: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LOGFMT_PAIR.match(text, position)
        if match is None or match.end() == position:
            raise BadRequestError(
                f"malformed 'tags' parameter: cannot read logfmt at {text[position:][:32]!r}"
            )
        key, value = match.group(1), match.group(2)
        pairs[key] = "true" if value is None else _unquote(value)
        position = match.end()
    return pairs


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    try:
        return str(json.loads(value))
    except ValueError:
        return value[1:-1]


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[-1] if values else None


def trace_query(request: Request, now_ns: int) -> TraceQuery:
    """A search from Jaeger's `/api/traces` parameters, checked as Jaeger checks them."""
    service = _one(request, "service") or ""
    if not service:
        raise BadRequestError("parameter 'service' is required")
    end_ns = parse_unix(_one(request, "end"), "end", now_ns)
    minimum, maximum = _durations(request)
    return TraceQuery(
        service=service,
        start_ns=parse_unix(_one(request, "start"), "start", max(0, end_ns - DEFAULT_LOOKBACK_NS)),
        end_ns=end_ns,
        limit=parse_limit(_one(request, "limit")),
        operation=_one(request, "operation") or None,
        tags=parse_tags(request.query_params.getlist("tags"), request.query_params.getlist("tag")),
        min_duration_ns=minimum,
        max_duration_ns=maximum,
    )


def _durations(request: Request) -> tuple[int | None, int | None]:
    found: list[int | None] = []
    for name in ("minDuration", "maxDuration"):
        raw = _one(request, name)
        found.append(parse_go_duration(raw, name) if raw else None)
    minimum, maximum = found
    if minimum and maximum and maximum < minimum:
        raise BadRequestError("'maxDuration' should be greater than 'minDuration'")
    return minimum, maximum


def _span_kind(raw: str | None) -> int | None:
    """The `spanKind` filter of `/api/operations`: a Jaeger kind name, or none."""
    if not raw:
        return None
    kind = KIND_NUMBERS.get(raw.lower())
    if kind is None:
        raise BadRequestError(
            f"unsupported span kind {raw[:32]!r}: use one of {', '.join(KIND_NUMBERS)}"
        )
    return kind


class JaegerApi:
    def __init__(self, store: Store, tenants: TenantResolver) -> None:
        self.reader = JaegerReader(store)
        self.traces = TraceReader(store)
        self.tenants = tenants

    def routes(self) -> list[Route]:
        def get(path: str, handler: Handler) -> Route:
            return Route(PREFIX + path, self._endpoint(handler), methods=["GET"])

        return [
            get("/services", self._services),
            get("/services/{service:path}/operations", self._service_operations),
            get("/operations", self._operations),
            get("/traces", self._search),
            get("/traces/{trace_id}", self._trace),
            get("/dependencies", self._dependencies),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                tenant = self.tenants.resolve(tenant_header(request))
                return await handler(request, tenant)
            except ObservatoryError as exc:
                return error_envelope(exc)

        return endpoint

    async def _services(self, request: Request, tenant: str) -> Response:
        services = await asyncio.to_thread(self.reader.services, tenant)
        return envelope(services, len(services))

    async def _service_operations(self, request: Request, tenant: str) -> Response:
        service = request.path_params["service"]
        found = await asyncio.to_thread(self.reader.operations, tenant, service)
        names = sorted({name for name, _ in found})
        return envelope(names, len(names))

    async def _operations(self, request: Request, tenant: str) -> Response:
        service = _one(request, "service")
        if not service:
            raise BadRequestError("parameter 'service' is required")
        kind = _span_kind(_one(request, "spanKind"))
        found = await asyncio.to_thread(self.reader.operations, tenant, service)
        operations = [
            {"name": name, "spanKind": KIND_NAMES.get(k, "")}
            for name, k in found
            if kind is None or k == kind
        ]
        return envelope(operations, len(operations))

    async def _search(self, request: Request, tenant: str) -> Response:
        ids = [parse_trace_id(raw) for raw in request.query_params.getlist("traceID")]
        if not ids:
            query = trace_query(request, time.time_ns())
            ids = await asyncio.to_thread(self.reader.find_trace_ids, tenant, query)
        rows = await asyncio.to_thread(self.reader.spans_of, tenant, ids)
        return envelope(await asyncio.to_thread(jaeger_model.traces, rows, ids))

    async def _trace(self, request: Request, tenant: str) -> Response:
        trace_id = parse_trace_id(request.path_params["trace_id"])
        table = await asyncio.to_thread(self.traces.trace, tenant, trace_id)
        if table.num_rows == 0:
            raise NotFoundError("trace not found")
        return envelope(await asyncio.to_thread(jaeger_model.traces, table.to_pylist()))

    async def _dependencies(self, request: Request, tenant: str) -> Response:
        # Jaeger's dependency parameters are in milliseconds: `endTs` and `lookback`.
        end_ns = parse_unix(_one(request, "endTs"), "endTs", time.time_ns(), "ms")
        lookback = _one(request, "lookback") or str(DEFAULT_DEPENDENCY_LOOKBACK_MS)
        if not lookback.isdigit():
            raise BadRequestError(f"unable to parse param 'lookback': {lookback[:64]!r}")
        start_ns = max(0, end_ns - int(lookback) * 10**6)
        found = await asyncio.to_thread(self.reader.dependencies, tenant, start_ns, end_ns)
        return envelope(found)
