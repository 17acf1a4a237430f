"""What `setup_telemetry` resolves from its arguments and the environment, before building.

Precedence is the OpenTelemetry one: an argument given in code wins over an environment
variable, which wins over the default. Resolution is a pure step (no providers, no threads) so
it can be compared: calling `setup_telemetry` again with arguments that resolve to the same
`TelemetryConfig` returns the telemetry already running instead of building a second pipeline.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Literal, TypeAlias

from opentelemetry.sdk.resources import OTELResourceDetector

from observatory_sdk.sampling import SamplerChoice, choose_sampler

ExportProtocol: TypeAlias = Literal["grpc", "http/protobuf"]
Signal: TypeAlias = Literal["traces", "metrics", "logs"]

# One id per process, so that two calls in the same process resolve to equal configurations
# and a restarted process shows up as a new instance.
_PROCESS_INSTANCE_ID = str(uuid.uuid4())

SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_VERSION = "service.version"
SERVICE_INSTANCE_ID = "service.instance.id"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"

_PROTOCOL_ALIASES: dict[str, ExportProtocol] = {
    "grpc": "grpc",
    "http/protobuf": "http/protobuf",
    "http": "http/protobuf",
}


class ConfigError(ValueError):
    """An argument or environment variable `setup_telemetry` cannot use; the message names it."""


@dataclass(frozen=True)
class TelemetryConfig:
    """Everything that decides what `setup_telemetry` builds; equal configs, equal pipelines."""

    resource_attributes: tuple[tuple[str, str], ...]
    environment: str | None
    endpoint: str | None  # None: each exporter reads OTEL_EXPORTER_OTLP_*ENDPOINT or its default
    protocols: tuple[tuple[Signal, ExportProtocol], ...]
    sampler: SamplerChoice
    metric_export_interval_ms: int | None
    instrument_httpx: bool
    instrument_requests: bool
    instrument_logging: bool
    export_logs: bool
    capture_content: bool | None

    @property
    def service_name(self) -> str:
        return dict(self.resource_attributes).get(SERVICE_NAME, "unknown_service")

    def protocol(self, signal: Signal) -> ExportProtocol:
        return dict(self.protocols)[signal]


def resolve(
    service_name: str | None,
    *,
    namespace: str | None,
    version: str | None,
    environment: str | None,
    endpoint: str | None,
    protocol: str | None,
    sample_rate: float | None,
    metric_export_interval_ms: int | None,
    instrument_httpx: bool,
    instrument_requests: bool,
    instrument_logging: bool,
    export_logs: bool,
    capture_content: bool | None,
) -> TelemetryConfig:
    env_resource = _env_resource_attributes()
    environment = _environment(environment, env_resource)
    return TelemetryConfig(
        resource_attributes=_resource_attributes(
            service_name, namespace, version, environment, env_resource
        ),
        environment=environment,
        endpoint=normalize_endpoint(endpoint) if endpoint else None,
        protocols=tuple((signal, _protocol(protocol, signal)) for signal in _SIGNALS),
        sampler=choose_sampler(sample_rate, environment),
        metric_export_interval_ms=metric_export_interval_ms,
        instrument_httpx=instrument_httpx,
        instrument_requests=instrument_requests,
        instrument_logging=instrument_logging,
        export_logs=export_logs,
        capture_content=capture_content,
    )


_SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")


def _env_resource_attributes() -> dict[str, str]:
    # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, parsed the way the SDK parses them.
    detected = OTELResourceDetector().detect().attributes
    return {key: str(value) for key, value in detected.items()}


def _environment(argument: str | None, env_resource: dict[str, str]) -> str | None:
    return (
        argument
        or os.environ.get("OBSERVATORY_ENVIRONMENT")
        or env_resource.get(DEPLOYMENT_ENVIRONMENT)
        or None
    )


def _resource_attributes(
    service_name: str | None,
    namespace: str | None,
    version: str | None,
    environment: str | None,
    env_resource: dict[str, str],
) -> tuple[tuple[str, str], ...]:
    """Arguments override OTEL_RESOURCE_ATTRIBUTES; what neither sets is left out."""
    attributes = dict(env_resource)
    given = {
        SERVICE_NAME: service_name,
        SERVICE_NAMESPACE: namespace,
        SERVICE_VERSION: version,
        DEPLOYMENT_ENVIRONMENT: environment,
    }
    attributes.update({key: value for key, value in given.items() if value})
    attributes.setdefault(SERVICE_INSTANCE_ID, _PROCESS_INSTANCE_ID)
    if SERVICE_NAME not in attributes:
        raise ConfigError(
            "no service name: pass setup_telemetry('my-service') or set OTEL_SERVICE_NAME"
        )
    return tuple(sorted(attributes.items()))


def _protocol(argument: str | None, signal: Signal) -> ExportProtocol:
    """The argument, else OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL."""
    if argument:
        return _parse_protocol(argument, "protocol")
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip()
        if value:
            return _parse_protocol(value, name)
    return "grpc"


def _parse_protocol(value: str, source: str) -> ExportProtocol:
    protocol = _PROTOCOL_ALIASES.get(value.strip().lower())
    if protocol is None:
        raise ConfigError(
            f"{source}={value!r}: use 'grpc' or 'http/protobuf' "
            "(the Python OTLP exporters have no http/json)"
        )
    return protocol


def normalize_endpoint(endpoint: str) -> str:
    """A base URL with a scheme: a bare `host:port` means plaintext `http://host:port`.

    The gRPC exporter takes a scheme-less endpoint as TLS, which fails against a plaintext
    collector with an opaque handshake error; a local Observatory is plaintext.
    """
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    return endpoint


def signal_url(endpoint: str, signal: Signal) -> str:
    """The OTLP/HTTP URL of one signal under a base endpoint, as the OTLP spec builds it."""
    return f"{endpoint}/v1/{signal}"
