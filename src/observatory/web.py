"""HTTP helpers shared by every route: errors as responses, tenants from headers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from observatory.errors import ObservatoryError, OverloadedError
from observatory.tenancy import TENANT_HEADER


def tenant_header(request: Request) -> str | None:
    return request.headers.get(TENANT_HEADER)


def retry_headers(error: ObservatoryError) -> dict[str, str]:
    if isinstance(error, OverloadedError):
        return {"Retry-After": str(error.retry_after_seconds)}
    return {}


def error_response(error: ObservatoryError) -> Response:
    """A JSON error body; protocol routes with their own error format build theirs."""
    return JSONResponse(
        {"status": "error", "errorType": error.reason, "error": error.message},
        status_code=error.http_status,
        headers=retry_headers(error),
    )


def plain_error_response(error: ObservatoryError) -> Response:
    """A plain-text error, as Prometheus's remote-write, the Pushgateway and Zipkin answer."""
    return PlainTextResponse(
        error.message + "\n", status_code=error.http_status, headers=retry_headers(error)
    )
