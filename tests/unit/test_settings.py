from __future__ import annotations

from pathlib import Path

import pytest

from observatory.errors import ConfigError
from observatory.settings import SETTINGS, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting: object) -> None:
    text = DOCS.read_text()
    assert f"`{setting.name}`" in text, f"{setting.name} missing from docs/configuration.md"  # type: ignore[attr-defined]
    assert f"`{setting.env_var}`" in text  # type: ignore[attr-defined]


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    config = tmp_path / "observatory.yaml"
    config.write_text("http_port: 4000\notlp_grpc_port: 5000\nretention_traces_days: 3\n")
    env = {"OBSERVATORY_OTLP_GRPC_PORT": "6000", "OBSERVATORY_REQUIRE_TENANT": "yes"}
    settings = load_settings(str(config), {"otlp_grpc_port": None, "http_port": 7000}, env)
    assert settings.http_port == 7000
    assert settings.otlp_grpc_port == 6000
    assert settings.retention_traces_days == 3
    assert settings.require_tenant is True
    assert settings.host == "127.0.0.1"


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="http_port"):
        load_settings(None, {}, {"OBSERVATORY_HTTP_PORT": "eighty"})
    with pytest.raises(ConfigError, match="retention_traces_days"):
        load_settings(None, {}, {"OBSERVATORY_RETENTION_TRACES_DAYS": "0"})
    with pytest.raises(ConfigError, match="attribute_limit_action"):
        load_settings(None, {}, {"OBSERVATORY_ATTRIBUTE_LIMIT_ACTION": "ignore"})
    config = tmp_path / "bad.yaml"
    config.write_text("no_such_setting: 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings(str(config), {}, {})


def test_list_setting_from_environment_as_json() -> None:
    env = {"OBSERVATORY_RESOURCE_PROCESSOR": '[{"action": "delete", "key": "k"}]'}
    assert load_settings(None, {}, env).resource_processor == [{"action": "delete", "key": "k"}]


def test_documented_table_is_current() -> None:
    from observatory.settings_docs import rewrite

    text = DOCS.read_text()
    assert rewrite(text) == text, "run: python -m observatory.settings_docs docs/configuration.md"
