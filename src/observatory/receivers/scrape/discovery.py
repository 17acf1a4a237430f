"""Targets from `static_configs` and `file_sd_configs`, through `relabel_configs`.

A target's labels start as Prometheus builds them: `job`, `__address__`, `__scheme__`,
`__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__` and `__param_<name>`, under
the group's own labels. Relabeling may change any of them; what is left decides the URL, and
labels starting with `__` are then removed.
"""

from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import yaml

from observatory.errors import ConfigError
from observatory.receivers.relabel import RelabelConfig, relabel
from observatory.receivers.scrape.config import (
    Pairs,
    ScrapeConfig,
    ScrapeFile,
    TargetGroup,
    parse_duration,
    target_group,
)

log = logging.getLogger("observatory.scrape")

ADDRESS = "__address__"
SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM_PREFIX = "__param_"
FILEPATH = "__meta_filepath"
RESERVED_PREFIX = "__"
_DURATION_UNITS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)


@dataclass(frozen=True)
class Target:
    """One endpoint to scrape and what to attach to its samples."""

    job: str
    url: str
    labels: Pairs
    interval: float
    timeout: float
    honor_labels: bool = False
    honor_timestamps: bool = True
    metric_relabel: tuple[RelabelConfig, ...] = ()

    @property
    def key(self) -> tuple[str, str, Pairs]:
        """Who the target is; a target whose key stays is the same target after a reload."""
        return self.job, self.url, self.labels

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def format_duration(seconds: float) -> str:
    """A duration as Prometheus writes it: `15s`, `1m30s`, `500ms`."""
    remaining = round(seconds * 1000)
    parts = []
    for unit, size in _DURATION_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


class Discovery:
    """Every job's targets; file_sd files are read on every call, keeping their last good
    content when a read fails, so a half-written file does not remove its targets."""

    def __init__(self) -> None:
        self._files: dict[str, list[TargetGroup]] = {}

    def targets(self, config: ScrapeFile) -> list[Target]:
        found: dict[tuple[str, str, Pairs], Target] = {}
        for job in config.jobs:
            for group, extra in self._groups(job):
                for target in build_targets(job, group, extra):
                    found.setdefault(target.key, target)
        return list(found.values())

    def _groups(self, job: ScrapeConfig) -> list[tuple[TargetGroup, dict[str, str]]]:
        groups: list[tuple[TargetGroup, dict[str, str]]] = [(g, {}) for g in job.static_configs]
        for sd in job.file_sd_configs:
            for path in _matching_files(sd.files):
                groups.extend((g, {FILEPATH: path}) for g in self._read(path))
        return groups

    def _read(self, path: str) -> list[TargetGroup]:
        try:
            self._files[path] = read_target_file(Path(path))
        except ConfigError as exc:
            log.warning("%s; keeping its previous targets", exc.message)
        return self._files.get(path, [])


def _matching_files(patterns: tuple[str, ...]) -> list[str]:
    return sorted({path for pattern in patterns for path in glob.glob(pattern)})


def read_target_file(path: Path) -> list[TargetGroup]:
    """A file_sd file: a JSON or YAML list of `{targets, labels}` groups."""
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read file_sd file {path}: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError(f"file_sd file {path}: expected a list of target groups")
    return [target_group(item, f"file_sd file {path}[{i}]") for i, item in enumerate(data)]


def build_targets(job: ScrapeConfig, group: TargetGroup, extra: dict[str, str]) -> list[Target]:
    targets = []
    for address in group.targets:
        labels = relabel(initial_labels(job, group, address, extra), job.relabel_configs)
        target = _target(job, labels) if labels is not None else None
        if target is not None:
            targets.append(target)
    return targets


def initial_labels(
    job: ScrapeConfig, group: TargetGroup, address: str, extra: dict[str, str]
) -> dict[str, str]:
    labels = {
        "job": job.job_name,
        SCHEME: job.scheme,
        METRICS_PATH: job.metrics_path,
        SCRAPE_INTERVAL: format_duration(job.scrape_interval),
        SCRAPE_TIMEOUT: format_duration(job.scrape_timeout),
        **{PARAM_PREFIX + name: values[0] for name, values in job.params},
        **extra,
        **dict(group.labels),
    }
    labels[ADDRESS] = address
    return labels


def _target(job: ScrapeConfig, labels: dict[str, str]) -> Target | None:
    if not labels.get(ADDRESS):
        log.warning("job %r: a target has no %s after relabeling; skipped", job.job_name, ADDRESS)
        return None
    durations = _durations(job, labels)
    if durations is None:
        return None
    interval, timeout = durations
    return Target(
        job=job.job_name,
        url=target_url(job, labels),
        labels=public_labels(labels),
        interval=max(interval, 0.001),
        timeout=max(min(timeout, interval), 0.001),
        honor_labels=job.honor_labels,
        honor_timestamps=job.honor_timestamps,
        metric_relabel=job.metric_relabel_configs,
    )


def _durations(job: ScrapeConfig, labels: dict[str, str]) -> tuple[float, float] | None:
    """Interval and timeout, which relabeling may have changed; None if they are invalid."""
    try:
        interval = parse_duration(labels.get(SCRAPE_INTERVAL, ""), SCRAPE_INTERVAL)
        timeout = parse_duration(labels.get(SCRAPE_TIMEOUT, ""), SCRAPE_TIMEOUT)
    except ConfigError as exc:
        log.warning("job %r: target %s skipped: %s", job.job_name, labels[ADDRESS], exc.message)
        return None
    return interval, timeout


def target_url(job: ScrapeConfig, labels: dict[str, str]) -> str:
    params = {name: list(values) for name, values in job.params}
    for name, value in labels.items():
        if name.startswith(PARAM_PREFIX):
            values = params.setdefault(name.removeprefix(PARAM_PREFIX), [value])
            values[0] = value
    scheme = labels.get(SCHEME) or job.scheme
    path = labels.get(METRICS_PATH) or job.metrics_path
    query = urlencode(sorted(params.items()), doseq=True)
    return f"{scheme}://{labels[ADDRESS]}{path}" + (f"?{query}" if query else "")


def public_labels(labels: dict[str, str]) -> Pairs:
    """The labels every sample of the target gets: no `__` ones, `instance` defaulted."""
    public = {k: v for k, v in labels.items() if v and not k.startswith(RESERVED_PREFIX)}
    public.setdefault("instance", labels[ADDRESS])
    return tuple(sorted(public.items()))
