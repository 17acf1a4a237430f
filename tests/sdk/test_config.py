"""observatory_sdk.config: arguments over OTEL_* variables over defaults."""

from __future__ import annotations

import pytest
from observatory_sdk.config import ConfigError, normalize_endpoint, signal_url

from tests.sdk.helpers import resolve_config


def test_resource_has_service_identity_and_a_stable_instance_id() -> None:
    config = resolve_config(namespace="llm", version="1.2.3", environment="staging")
    attributes = dict(config.resource_attributes)
    assert attributes["service.name"] == "svc"
    assert attributes["service.namespace"] == "llm"
    assert attributes["service.version"] == "1.2.3"
    assert attributes["deployment.environment.name"] == "staging"
    assert len(attributes["service.instance.id"]) == 36
    assert resolve_config(namespace="llm", version="1.2.3", environment="staging") == config


def test_arguments_override_otel_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.namespace=from-env,k8s.pod.name=pod-1,service.instance.id=pod-1-uid",
    )
    attributes = dict(resolve_config(namespace="from-code").resource_attributes)
    assert attributes["service.namespace"] == "from-code"
    assert attributes["k8s.pod.name"] == "pod-1"
    assert attributes["service.instance.id"] == "pod-1-uid"


def test_service_name_falls_back_to_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    assert resolve_config(None).service_name == "from-env"
    assert resolve_config("from-code").service_name == "from-code"


def test_no_service_name_anywhere_is_an_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_SERVICE_NAME"):
        resolve_config(None)


def test_environment_from_argument_then_observatory_then_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve_config().environment is None
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod")
    assert resolve_config().environment == "prod"
    monkeypatch.setenv("OBSERVATORY_ENVIRONMENT", "staging")
    assert resolve_config().environment == "staging"
    assert resolve_config(environment="dev").environment == "dev"


def test_protocol_defaults_to_grpc_and_reads_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {resolve_config().protocol(s) for s in ("traces", "metrics", "logs")} == {"grpc"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
    config = resolve_config()
    assert config.protocol("traces") == "http/protobuf"
    assert config.protocol("metrics") == "grpc"
    assert resolve_config(protocol="http").protocol("metrics") == "http/protobuf"


def test_unsupported_protocol_names_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        resolve_config()


def test_endpoint_without_a_scheme_is_plaintext_http() -> None:
    assert normalize_endpoint("127.0.0.1:4317") == "http://127.0.0.1:4317"
    assert normalize_endpoint("https://otel.example:443/") == "https://otel.example:443"
    assert resolve_config(endpoint="localhost:4318").endpoint == "http://localhost:4318"
    assert resolve_config().endpoint is None
    assert signal_url("http://h:4318", "logs") == "http://h:4318/v1/logs"
