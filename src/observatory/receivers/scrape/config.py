"""The scrape config file: Prometheus's `scrape_configs`, the subset Observatory runs.

Keys a job may have but Observatory cannot honour (service discovery other than static and
file, authentication, TLS settings) are refused with an error naming them, rather than
ignored into scrapes that quietly fail. Top-level sections other than `global` and
`scrape_configs` (rule files, alerting, remote write) are ignored, so a prometheus.yml works.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from observatory.errors import ConfigError
from observatory.receivers.relabel import RelabelConfig, parse_rules

DEFAULT_SCRAPE_INTERVAL = 60.0
DEFAULT_SCRAPE_TIMEOUT = 10.0
DEFAULT_REFRESH_INTERVAL = 300.0
SCHEMES = ("http", "https")
JOB_KEYS = frozenset(
    (
        "job_name",
        "scrape_interval",
        "scrape_timeout",
        "metrics_path",
        "scheme",
        "params",
        "honor_labels",
        "honor_timestamps",
        "static_configs",
        "file_sd_configs",
        "relabel_configs",
        "metric_relabel_configs",
    )
)
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TargetGroup:
    """Targets sharing labels, from `static_configs` or one entry of a file_sd file."""

    targets: tuple[str, ...]
    labels: Pairs = ()


@dataclass(frozen=True)
class FileSdConfig:
    files: tuple[str, ...]
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL


@dataclass(frozen=True)
class ScrapeConfig:
    job_name: str
    scrape_interval: float
    scrape_timeout: float
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    honor_labels: bool = False
    honor_timestamps: bool = True
    static_configs: tuple[TargetGroup, ...] = ()
    file_sd_configs: tuple[FileSdConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()


@dataclass(frozen=True)
class ScrapeFile:
    jobs: tuple[ScrapeConfig, ...]

    def refresh_interval(self) -> float | None:
        """How often file_sd files are read again; None when no job uses them."""
        intervals = [sd.refresh_interval for job in self.jobs for sd in job.file_sd_configs]
        return min(intervals) if intervals else None


def parse_duration(value: object, where: str) -> float:
    """Seconds of a Prometheus duration such as `15s`, `1m30s` or `500ms`."""
    text = str(value)
    match = _DURATION.match(text) if isinstance(value, str) else None
    if not text or match is None:
        raise ConfigError(f"{where}: invalid duration {value!r}; use e.g. 15s, 1m, 1h30m, 500ms")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if n)


def load_config(path: Path) -> ScrapeFile:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read scrape config {path}: {exc}") from exc
    return parse_config(raw or {}, path.parent, str(path))


def parse_config(raw: object, base_dir: Path, where: str = "scrape config") -> ScrapeFile:
    root = _mapping(raw, where)
    defaults = _global_defaults(root.get("global") or {}, f"{where}: global")
    jobs_raw = root.get("scrape_configs") or []
    if not isinstance(jobs_raw, list):
        raise ConfigError(f"{where}: scrape_configs must be a list")
    jobs = tuple(
        _job(_mapping(job, f"{where}: scrape_configs[{i}]"), defaults, base_dir, where)
        for i, job in enumerate(jobs_raw)
    )
    _check_unique_names(jobs, where)
    return ScrapeFile(jobs)


def _global_defaults(raw: object, where: str) -> tuple[float, float]:
    section = _mapping(raw, where)
    interval = parse_duration(section.get("scrape_interval", "1m"), f"{where}.scrape_interval")
    timeout = parse_duration(section.get("scrape_timeout", "10s"), f"{where}.scrape_timeout")
    return interval, timeout


def _job(
    raw: Mapping[str, Any], defaults: tuple[float, float], base_dir: Path, where: str
) -> ScrapeConfig:
    name = raw.get("job_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: every scrape config needs a job_name")
    where = f"{where}: job {name!r}"
    unknown = set(raw) - JOB_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unsupported keys {sorted(unknown)}; supported: {sorted(JOB_KEYS)}"
        )
    interval, timeout = _interval_and_timeout(raw, defaults, where)
    return ScrapeConfig(
        job_name=name,
        scrape_interval=interval,
        scrape_timeout=timeout,
        metrics_path=_metrics_path(raw.get("metrics_path", "/metrics"), where),
        scheme=_scheme(raw.get("scheme", "http"), where),
        params=_params(raw.get("params") or {}, where),
        honor_labels=_flag(raw, "honor_labels", False, where),
        honor_timestamps=_flag(raw, "honor_timestamps", True, where),
        static_configs=_static_configs(raw.get("static_configs") or [], where),
        file_sd_configs=_file_sd_configs(raw.get("file_sd_configs") or [], base_dir, where),
        relabel_configs=parse_rules(raw.get("relabel_configs"), f"{where}: relabel_configs"),
        metric_relabel_configs=parse_rules(
            raw.get("metric_relabel_configs"), f"{where}: metric_relabel_configs"
        ),
    )


def _interval_and_timeout(
    raw: Mapping[str, Any], defaults: tuple[float, float], where: str
) -> tuple[float, float]:
    interval = defaults[0]
    if "scrape_interval" in raw:
        interval = parse_duration(raw["scrape_interval"], f"{where}: scrape_interval")
    if interval <= 0:
        raise ConfigError(f"{where}: scrape_interval must be positive")
    if "scrape_timeout" not in raw:
        # As Prometheus: the global timeout, but never longer than the job's interval.
        return interval, min(defaults[1], interval)
    timeout = parse_duration(raw["scrape_timeout"], f"{where}: scrape_timeout")
    if not 0 < timeout <= interval:
        raise ConfigError(
            f"{where}: scrape_timeout {raw['scrape_timeout']} must be positive and not longer "
            "than scrape_interval"
        )
    return interval, timeout


def _metrics_path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{where}: metrics_path must be a path starting with '/', got {value!r}")
    return value


def _scheme(value: object, where: str) -> str:
    if value not in SCHEMES:
        raise ConfigError(f"{where}: scheme must be one of {SCHEMES}, got {value!r}")
    return str(value)


def _flag(raw: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _params(raw: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    params = _mapping(raw, f"{where}: params")
    result = []
    for name, values in params.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: params.{name} must be a non-empty list of strings")
        result.append((str(name), tuple(str(value) for value in values)))
    return tuple(result)


def _static_configs(raw: object, where: str) -> tuple[TargetGroup, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: static_configs must be a list")
    return tuple(target_group(item, f"{where}: static_configs[{i}]") for i, item in enumerate(raw))


def target_group(raw: object, where: str) -> TargetGroup:
    """One `{targets: [...], labels: {...}}` entry, from the config or a file_sd file."""
    group = _mapping(raw, where)
    unknown = set(group) - {"targets", "labels"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; use targets and labels")
    targets = group.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise ConfigError(f"{where}: targets must be a list of host:port strings")
    labels = _mapping(group.get("labels") or {}, f"{where}: labels")
    if not all(isinstance(name, str) and name for name in labels):
        raise ConfigError(f"{where}: label names must be non-empty strings")
    return TargetGroup(tuple(targets), tuple((k, str(v)) for k, v in labels.items()))


def _file_sd_configs(raw: object, base_dir: Path, where: str) -> tuple[FileSdConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: file_sd_configs must be a list")
    return tuple(
        _file_sd(item, base_dir, f"{where}: file_sd_configs[{i}]") for i, item in enumerate(raw)
    )


def _file_sd(raw: object, base_dir: Path, where: str) -> FileSdConfig:
    config = _mapping(raw, where)
    files = config.get("files")
    if not isinstance(files, list) or not files:
        raise ConfigError(f"{where}: files must be a non-empty list of paths or globs")
    for pattern in files:
        if not str(pattern).endswith((".json", ".yml", ".yaml")):
            raise ConfigError(f"{where}: file {pattern!r} must end in .json, .yml or .yaml")
    refresh = parse_duration(config.get("refresh_interval", "5m"), f"{where}: refresh_interval")
    # Relative paths are relative to the config file, as in Prometheus.
    resolved = tuple(str(base_dir / str(pattern)) for pattern in files)
    return FileSdConfig(resolved, max(refresh, 0.001))


def _check_unique_names(jobs: tuple[ScrapeConfig, ...], where: str) -> None:
    seen: set[str] = set()
    for job in jobs:
        if job.job_name in seen:
            raise ConfigError(f"{where}: job_name {job.job_name!r} is used more than once")
        seen.add(job.job_name)


def _mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw
