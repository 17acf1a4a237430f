"""One error tree for the whole program.

Every error carries the HTTP status and the gRPC status it maps to, so the API layers never
decide status codes on their own, and a message a user can act on.
"""

from __future__ import annotations

from typing import ClassVar

import grpc


class ObservatoryError(Exception):
    """Base of every error the program raises on purpose."""

    http_status: ClassVar[int] = 500
    grpc_status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    reason: ClassVar[str] = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ObservatoryError):
    """A setting has a wrong value or a config file cannot be read."""

    reason = "config"


class BadRequestError(ObservatoryError):
    """The payload cannot be decoded: malformed protobuf or JSON, bad ids, bad values."""

    http_status = 400
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    reason = "malformed"


class NotFoundError(ObservatoryError):
    http_status = 404
    grpc_status = grpc.StatusCode.NOT_FOUND
    reason = "not_found"


class PayloadTooLargeError(ObservatoryError):
    """A body is bigger than a limit, before or after decompression."""

    http_status = 413
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "too_large"


class UnsupportedMediaTypeError(ObservatoryError):
    http_status = 415
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    reason = "unsupported_media_type"


class OverloadedError(ObservatoryError):
    """Refused for now; the client should retry after `retry_after` seconds."""

    retry_after: ClassVar[int] = 1

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.retry_after_seconds = retry_after
        else:
            self.retry_after_seconds = type(self).retry_after


class QueueFullError(OverloadedError):
    http_status = 429
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "queue_full"


class MemoryLimitError(OverloadedError):
    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    reason = "memory_limit"
    retry_after = 5


class ShuttingDownError(OverloadedError):
    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    reason = "shutting_down"
    retry_after = 5


class StoreUnavailableError(OverloadedError):
    """The store failed to commit a batch; nothing of it was acknowledged."""

    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    reason = "store_error"
    retry_after = 5


class UnauthorizedError(ObservatoryError):
    """No tenant given where one is required."""

    http_status = 401
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    reason = "no_tenant"


class QueryError(BadRequestError):
    """A query that cannot be parsed or has invalid parameters (Prometheus `bad_data`)."""

    reason = "bad_data"


class QueryExecutionError(ObservatoryError):
    """A valid query that cannot be evaluated: mismatched vectors, a limit exceeded
    (Prometheus `execution`, HTTP 422)."""

    http_status = 422
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "execution"


class QueryTimeoutError(ObservatoryError):
    """The query ran past its time limit (Prometheus `timeout`, HTTP 503)."""

    http_status = 503
    grpc_status = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "timeout"


class TooManyQueriesError(OverloadedError):
    """More queries at once than the concurrency limit allows."""

    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    reason = "too_many_queries"


class LineTooLongError(BadRequestError):
    """A log line longer than `logs_max_line_bytes` (Loki's `line_too_long`)."""

    reason = "line_too_long"


class TooManyLabelsError(BadRequestError):
    """A stream with more labels than `logs_max_labels_per_stream` (Loki's
    `max_label_names_per_series`)."""

    reason = "max_label_names_per_series"


class TimestampOutOfRangeError(BadRequestError):
    """A log entry older than the retention or too far in the future (Loki's
    `greater_than_max_sample_age` and `too_far_in_future`)."""

    reason = "greater_than_max_sample_age"


class StreamLimitError(OverloadedError):
    """A tenant over its limit of active streams (Loki's `stream_limit`)."""

    http_status = 429
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "stream_limit"
    retry_after = 10


class RateLimitedError(OverloadedError):
    """A tenant over its ingestion rate (Loki's `rate_limited`)."""

    http_status = 429
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "rate_limited"
