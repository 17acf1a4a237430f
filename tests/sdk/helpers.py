"""Helpers shared by the SDK's unit tests."""

from __future__ import annotations

from typing import Any

from observatory_sdk.config import TelemetryConfig, resolve


def resolve_config(service_name: str | None = "svc", **overrides: Any) -> TelemetryConfig:
    arguments: dict[str, Any] = {
        "namespace": None,
        "version": None,
        "environment": None,
        "endpoint": None,
        "protocol": None,
        "sample_rate": None,
        "metric_export_interval_ms": None,
        "instrument_httpx": True,
        "instrument_requests": True,
        "instrument_logging": True,
        "export_logs": True,
        "capture_content": None,
    }
    return resolve(service_name, **{**arguments, **overrides})
