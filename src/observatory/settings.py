"""Every setting of the program in one declarative table.

A setting is read, lowest precedence first, from its default, the YAML file given with
`--config`, the environment variable `OBSERVATORY_<NAME>`, and a command-line flag (only the
few in DESIGN.md have one). `docs/configuration.md` documents every row; a test checks it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from observatory.errors import ConfigError

SettingValue = str | int | float | bool | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: SettingValue
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    flag: bool = False

    @property
    def env_var(self) -> str:
        return f"OBSERVATORY_{self.name.upper()}"


MIB = 1024 * 1024

SETTINGS: tuple[Setting, ...] = (
    # Listening.
    Setting("host", str, "127.0.0.1", "Address every listener binds to.", flag=True),
    Setting(
        "http_port",
        int,
        3300,
        "HTTP API port: queries, OTLP/HTTP, health, self-metrics.",
        0,
        65535,
        flag=True,
    ),
    Setting("otlp_grpc_port", int, 4317, "OTLP/gRPC port.", 0, 65535, flag=True),
    Setting(
        "otlp_http_port",
        int,
        4318,
        "OTLP/HTTP port (the same routes also answer on the HTTP API port).",
        0,
        65535,
        flag=True,
    ),
    # Storage.
    Setting("data_dir", str, "./data", "Folder of the embedded store.", flag=True),
    Setting(
        "store_engine",
        str,
        "embedded",
        "Store engine: `embedded` (chDB in-process).",
        choices=("embedded",),
    ),
    Setting("retention_traces_days", int, 7, "Days spans are kept.", 1, 36500),
    Setting("retention_metrics_days", int, 30, "Days metric samples are kept.", 1, 36500),
    Setting(
        "retention_logs_error_days",
        int,
        90,
        "Days log records of severity ERROR and FATAL are kept.",
        1,
        36500,
    ),
    Setting(
        "retention_logs_info_days",
        int,
        30,
        "Days log records of severity INFO and WARN (and unspecified) are kept.",
        1,
        36500,
    ),
    Setting(
        "retention_logs_debug_days",
        int,
        7,
        "Days log records of severity TRACE and DEBUG are kept.",
        1,
        36500,
    ),
    # Tenancy.
    Setting(
        "default_tenant", str, "default", "Tenant of requests that carry no `X-Scope-OrgID` header."
    ),
    Setting(
        "require_tenant",
        bool,
        False,
        "Refuse requests without `X-Scope-OrgID` (401) instead of using the default tenant.",
    ),
    # Pipeline.
    Setting(
        "queue_max_items",
        int,
        200_000,
        "Items (spans, data points, log records) waiting for commit, per signal, before "
        "new requests are refused with 429.",
        1,
        100_000_000,
    ),
    Setting(
        "queue_max_bytes",
        int,
        256 * MIB,
        "Decoded request bytes waiting for commit, per signal, before new requests are "
        "refused with 429.",
        1024,
        64 * 1024 * MIB,
    ),
    Setting(
        "memory_limit_bytes",
        int,
        1536 * MIB,
        "Resident memory of the process and its decoder processes above which ingest is "
        "refused with 503.",
        64 * MIB,
        1024 * 1024 * MIB,
    ),
    Setting(
        "batch_max_items",
        int,
        20_000,
        "Items per group commit: a batch is written once it holds this many.",
        1,
        10_000_000,
    ),
    Setting(
        "batch_timeout_ms",
        int,
        20,
        "How long an idle writer lingers for more requests before it writes a batch; "
        "requests that arrive while a batch is being written go in the next one at once.",
        0,
        60_000,
    ),
    Setting(
        "decode_workers",
        int,
        0,
        "Processes that decode OTLP traces and logs beside the main one (0: decode in the "
        "main process). Worth it with four or more cores; on two, the store's inserts and "
        "merges already use the second core. Metrics are always decoded in the main process.",
        0,
        64,
    ),
    Setting(
        "retry_after_seconds", int, 1, "The `Retry-After` value sent with 429 answers.", 1, 3600
    ),
    Setting(
        "resource_processor",
        list,
        [],
        "Resource attribute actions applied to every resource, in order: a list of "
        "`{action: insert|upsert|delete, key: ..., value: ...}`. From the environment, "
        "as JSON.",
    ),
    Setting(
        "max_attributes_per_item",
        int,
        128,
        "Attributes per span, log record, event or link, and per resource; the rest are "
        "dropped and counted.",
        1,
        100_000,
    ),
    Setting(
        "max_attribute_value_length",
        int,
        4096,
        "Characters in one string attribute value.",
        1,
        10 * MIB,
    ),
    Setting(
        "attribute_limit_action",
        str,
        "truncate",
        "What happens to an item over an attribute limit: `truncate` it, or `reject` it "
        "(reported in the OTLP partial success).",
        choices=("truncate", "reject"),
    ),
    # Request limits.
    Setting(
        "max_request_bytes",
        int,
        16 * MIB,
        "Largest request body as sent (compressed); larger gets 413.",
        1024,
        1024 * MIB,
    ),
    Setting(
        "max_decompressed_bytes",
        int,
        64 * MIB,
        "Largest request body after decompression; larger gets 413.",
        1024,
        4096 * MIB,
    ),
    # Log ingest: Loki push limits and enrichment at ingest.
    Setting(
        "logs_max_line_bytes",
        int,
        256 * 1024,
        "Longest Loki-pushed log line in bytes; longer entries are refused (`line_too_long`, "
        "400) and the rest of the request is kept.",
        1,
        64 * MIB,
    ),
    Setting(
        "logs_max_labels_per_stream",
        int,
        15,
        "Labels per Loki stream, `service_name` not counted; streams with more are refused "
        "(`max_label_names_per_series`, 400) and the rest of the request is kept.",
        1,
        1000,
    ),
    Setting(
        "logs_max_streams_per_tenant",
        int,
        10_000,
        "Loki streams a tenant may have active (pushed to in the last hour); a push bringing "
        "more is refused whole (`stream_limit`, 429).",
        1,
        100_000_000,
    ),
    Setting(
        "logs_ingestion_rate_mb",
        float,
        64.0,
        "Loki push bytes (lines and structured metadata) per second and tenant; a push over "
        "it is refused whole (`rate_limited`, 429).",
        0.001,
        1_000_000,
    ),
    Setting(
        "logs_ingestion_burst_mb",
        float,
        128.0,
        "Loki push bytes a tenant may send at once above `logs_ingestion_rate_mb`.",
        0.001,
        1_000_000,
    ),
    Setting(
        "logs_trace_id_patterns",
        list,
        [
            r'(?i)"(?:otel)?trace[_.-]?id"\s*:\s*"([^"]*)"',
            r'(?i)trace[_.-]?id="?(\w+)',
        ],
        "Regexes, each with one capture group, that find a trace id in a log line without "
        "one (Loki lines, OTLP records without `traceId`); only 32 hex digits are kept. "
        "From the environment, as JSON.",
    ),
    Setting(
        "logs_span_id_patterns",
        list,
        [
            r'(?i)"(?:otel)?span[_.-]?id"\s*:\s*"([^"]*)"',
            r'(?i)\b(?:otel)?span[_.-]?id="?(\w+)',
        ],
        "Regexes, each with one capture group, that find the span id of a log line whose "
        "trace id was found the same way; only 16 hex digits are kept. From the environment, "
        "as JSON.",
    ),
    # Metric ingest beyond OTLP.
    Setting(
        "scrape_config_file",
        str,
        "",
        "A Prometheus-format YAML file with `scrape_configs` to scrape (empty: no scraping). "
        "Re-read on SIGHUP.",
    ),
    Setting(
        "pushgateway_interval_seconds",
        float,
        15.0,
        "How often pushed groups are written again, as a Prometheus scraping a Pushgateway "
        "would see them, so queries keep finding them until they are deleted.",
        1,
        3600,
    ),
    # Span-derived metrics.
    Setting(
        "span_metrics_interval_seconds",
        float,
        15.0,
        "How often span metrics, service-graph edges and GenAI metrics derived from spans are "
        "written as samples.",
        0.1,
        3600,
    ),
    Setting(
        "span_metrics_dimensions",
        list,
        [],
        "Extra span or resource attribute names to add as labels of the span metrics "
        "(from the environment, as JSON).",
    ),
    Setting(
        "span_metrics_max_series",
        int,
        100_000,
        "Span-metric series kept per tenant; the least recently updated are dropped past it.",
        100,
        10_000_000,
    ),
    Setting(
        "span_metrics_edge_wait_seconds",
        float,
        10.0,
        "How long a client or server span waits for its other half before it becomes an edge "
        "to a virtual node, or is dropped.",
        0.1,
        600,
    ),
    Setting(
        "span_metrics_max_pending_edges",
        int,
        10_000,
        "Unpaired span halves kept per tenant while they wait for their other half.",
        100,
        10_000_000,
    ),
    # Queries.
    Setting(
        "query_lookback_delta_seconds",
        int,
        300,
        "How far back PromQL looks for a series' latest sample at each evaluation time.",
        1,
        86_400,
    ),
    Setting(
        "query_max_samples",
        int,
        50_000_000,
        "Samples one PromQL query may load into memory; more is an `execution` error.",
        1_000,
        2_000_000_000,
    ),
    Setting(
        "query_max_points_per_series",
        int,
        11_000,
        "Points per series a range query may return: (end - start) / step + 1.",
        1,
        1_000_000,
    ),
    Setting(
        "query_timeout_seconds",
        float,
        120.0,
        "Longest one query may run before it is answered with a `timeout` error.",
        0.1,
        3600,
    ),
    Setting(
        "query_max_concurrency",
        int,
        20,
        "Queries evaluated at once per process; more get 503 with `Retry-After`.",
        1,
        1000,
    ),
    Setting(
        "logs_query_max_entries",
        int,
        5000,
        "Most log entries one LogQL log query may return (`limit` above it is a 400).",
        1,
        1_000_000,
    ),
    Setting(
        "logs_query_max_series",
        int,
        500,
        "Most series one LogQL metric query may return.",
        1,
        1_000_000,
    ),
    # Alerting.
    Setting(
        "rule_files",
        list,
        [],
        "Prometheus rule files (paths or globs) evaluated for the default tenant; re-read on "
        "SIGHUP and `POST /-/reload`. From the environment, as JSON.",
    ),
    Setting(
        "rules_dir",
        str,
        "",
        "Folder of per-tenant rule files, `<rules_dir>/<tenant>/*.yml` (the Mimir and Loki "
        "ruler layout); empty: none.",
    ),
    Setting(
        "rule_evaluation_interval_seconds",
        float,
        60.0,
        "Evaluation interval of rule groups that do not set their own `interval`.",
        1,
        86400,
    ),
    Setting(
        "external_labels",
        dict,
        {},
        "Labels added to every alert sent (Prometheus's `external_labels`), also `$externalLabels` "
        "in templates. From the environment, as JSON.",
    ),
    Setting(
        "external_url",
        str,
        "",
        "The URL users reach this server at, for alert links (`generatorURL`, `$externalURL`); "
        "empty: http://<host>:<http_port>.",
    ),
    Setting(
        "alertmanager_config_file",
        str,
        "",
        "An Alertmanager-format YAML file (route, receivers, inhibit_rules) for the built-in "
        "Alertmanager; re-read on SIGHUP. Empty: one receiver that only records alerts "
        "(see rules/alertmanager.yml for a full example).",
    ),
    Setting(
        "alerting_alertmanagers",
        list,
        [],
        "URLs of external Alertmanagers to send alerts to instead of the built-in one, e.g. "
        '`["http://alertmanager:9093"]`. From the environment, as JSON.',
    ),
    Setting(
        "alertmanager_silence_retention_hours",
        float,
        120.0,
        "Hours expired silences and notification-log entries are kept.",
        1,
        100000,
    ),
    # Self.
    Setting(
        "log_level",
        str,
        "info",
        "Log level of the program's own log.",
        choices=("debug", "info", "warning", "error"),
    ),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _parse_list(raw: str) -> list[Any]:
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError("expected a JSON list")
    return value


def _parse_dict(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


_PARSERS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: _parse_bool,
    list: _parse_list,
    dict: _parse_dict,
}


def _coerce(setting: Setting, raw: Any, source: str) -> SettingValue:
    try:
        if isinstance(raw, str) and setting.type is not str:
            value = _PARSERS[setting.type](raw)
        elif setting.type is float and isinstance(raw, int) and not isinstance(raw, bool):
            value = float(raw)
        else:
            value = raw
        if not isinstance(value, setting.type) or (setting.type is int and isinstance(value, bool)):
            raise ValueError(f"expected {setting.type.__name__}")
    except ValueError as exc:
        raise ConfigError(f"setting {setting.name} from {source}: {exc}") from exc
    _check_limits(setting, value, source)
    return cast(SettingValue, value)


def _check_limits(setting: Setting, value: Any, source: str) -> None:
    if setting.choices and value not in setting.choices:
        raise ConfigError(
            f"setting {setting.name} from {source}: {value!r} is not one of "
            f"{', '.join(setting.choices)}"
        )
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"setting {setting.name} from {source}: {value} < {setting.minimum}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"setting {setting.name} from {source}: {value} > {setting.maximum}")


@dataclass(frozen=True)
class Settings:
    """The resolved value of every setting; read them as attributes."""

    values: Mapping[str, SettingValue] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: SettingValue) -> Settings:
        merged = dict(self.values)
        for name, raw in changes.items():
            merged[name] = _coerce(SETTINGS_BY_NAME[name], raw, "override")
        return Settings(merged)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: expected a mapping of setting names")
    unknown = sorted(set(loaded) - set(SETTINGS_BY_NAME))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return loaded


def load_settings(
    config_file: str | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting: defaults < YAML file < environment < flags."""
    env = os.environ if environ is None else environ
    config_file = config_file or env.get("OBSERVATORY_CONFIG")
    from_file = _read_yaml(Path(config_file)) if config_file else {}
    given_flags = {k: v for k, v in (flags or {}).items() if v is not None}
    values: dict[str, SettingValue] = {}
    for setting in SETTINGS:
        if setting.name in given_flags:
            values[setting.name] = _coerce(setting, given_flags[setting.name], "flag")
        elif setting.env_var in env:
            values[setting.name] = _coerce(setting, env[setting.env_var], setting.env_var)
        elif setting.name in from_file:
            values[setting.name] = _coerce(setting, from_file[setting.name], str(config_file))
        else:
            values[setting.name] = setting.default
    return Settings(values)
