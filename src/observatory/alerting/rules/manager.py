"""The rule manager: groups per tenant, evaluated on schedule, reloaded without losing state.

Files named in `rule_files` (globs) belong to the default tenant; `<rules_dir>/<tenant>/*.yml`
holds each tenant's files, the local layout of Mimir's and Loki's rulers. Each group runs in
its own task at Prometheus's slots: every `interval`, shifted by a hash of `file;group` so
groups spread over the interval, each evaluation at the slot's timestamp and off the event
loop. An evaluation that overruns skips the slots it covered, counted as missed iterations.

A reload keeps a group whose spec is unchanged running untouched, and hands the alerts of a
changed group to its replacement (rules matched by name and labels). A tenant whose files do
not load keeps its running rules, and the reload reports the error, as Prometheus does.
Groups of the first load restore pending alerts' `for` state from ALERTS_FOR_STATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from observatory.alerting.model import Alert
from observatory.alerting.rules import ExpandFunc, QueryFunc, Sample
from observatory.alerting.rules.alerting import for_state_from_query, for_state_from_source
from observatory.alerting.rules.group import GroupResult, GroupStatus, RuleGroup
from observatory.alerting.rules.loader import GroupSpec, TemplateCheck, load_rule_files
from observatory.errors import ConfigError
from observatory.query.promql.source import SeriesSource
from observatory.signals.metrics import MetricColumns

log = logging.getLogger("observatory.rules")

WriteFunc = Callable[[str, list[Sample]], Awaitable[None]]
SendFunc = Callable[[str, list[Alert]], Awaitable[None]]
RULE_FILE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleManagerConfig:
    rule_files: tuple[str, ...] = ()  # paths or globs, for the default tenant
    rules_dir: Path | None = None  # <rules_dir>/<tenant>/*.yml
    default_tenant: str = "default"
    evaluation_interval_seconds: float = 60.0  # for groups without `interval`
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    query_offset_seconds: float = 0.0  # for groups without `query_offset`
    resend_delay_seconds: float = 60.0
    outage_tolerance_seconds: float = 3600.0
    for_grace_period_seconds: float = 600.0


class RuleMetrics(Protocol):
    """Where the manager counts; `rule_group` is `file;group` as in Prometheus."""

    def group_started(self, rule_group: str) -> None: ...

    def group_removed(self, rule_group: str) -> None: ...

    def iterations(self, rule_group: str, scheduled: int, missed: int) -> None: ...

    def evaluated(self, rule_group: str, result: GroupResult) -> None: ...


class NullRuleMetrics:
    def group_started(self, rule_group: str) -> None:
        pass

    def group_removed(self, rule_group: str) -> None:
        pass

    def iterations(self, rule_group: str, scheduled: int, missed: int) -> None:
        pass

    def evaluated(self, rule_group: str, result: GroupResult) -> None:
        pass


def sample_columns(tenant: str, samples: list[Sample]) -> MetricColumns:
    """Rule samples as the metric batch the pipeline writes (name apart from labels)."""
    columns = MetricColumns(tenant)
    for labels, timestamp_ms, value in samples:
        rest = {k: v for k, v in labels.items() if k != "__name__"}
        columns.add_sample(labels["__name__"], rest, timestamp_ms, value)
    return columns


EVALUATION_THREADS = 2


def _evaluation_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(EVALUATION_THREADS, thread_name_prefix="rule-evaluation")


def eval_slot_ms(key: str, interval_ms: int, now_ms: int) -> int:
    """The latest of the group's evaluation slots at or before `now_ms`."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") % interval_ms
    shifted = now_ms - offset
    return shifted - shifted % interval_ms + offset


class _Running:
    """A group and the task evaluating it."""

    def __init__(self, tenant: str, group: RuleGroup) -> None:
        self.tenant = tenant
        self.group = group
        self.task: asyncio.Task[None] | None = None
        self.busy = False  # an evaluation is running in a worker thread
        self.stopping = False
        self.iterations = 0

    async def stop(self, wait: bool) -> None:
        """Stops the task; with `wait`, lets an evaluation in progress finish first."""
        self.stopping = True
        if self.task is None:
            return
        if not (wait and self.busy):
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class RuleManager:
    def __init__(
        self,
        config: RuleManagerConfig,
        *,
        query_for: Callable[[str], QueryFunc],
        write: WriteFunc,
        send: SendFunc,
        metrics: RuleMetrics | None = None,
        source_for: Callable[[str], SeriesSource] | None = None,
        expand: ExpandFunc | None = None,
        check_template: TemplateCheck | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.metrics: RuleMetrics = metrics or NullRuleMetrics()
        self._query_for = query_for
        self._source_for = source_for
        self._write_func = write
        self._send_func = send
        self._expand = expand
        self._check = check_template
        self._clock = clock
        self._sleep = sleep
        self._running: dict[tuple[str, str], _Running] = {}
        # Rule evaluation has threads of its own: a rule that waits for a commit must not
        # hold a thread of the pool the commit itself (and the API) runs on.
        self._executor = _evaluation_pool()
        self._lock = asyncio.Lock()
        self._started = False
        self.last_reload_successful = True
        self.last_reload_error = ""

    # Life cycle.

    async def start(self, strict: bool = True) -> None:
        """Loads every rule file and starts evaluating.

        A broken file raises ConfigError before anything starts, as Prometheus refuses to
        start; with `strict=False` the tenants whose files load start anyway and the error is
        only recorded (`last_reload_error`), as a multi-tenant ruler keeps serving the others.
        """
        async with self._lock:
            loaded, errors = await asyncio.to_thread(self._load)
            self._record_reload(errors)
            if errors and strict:
                raise ConfigError("\n".join(errors.values()))
            for tenant, specs in loaded.items():
                await self._apply(tenant, specs, restore=True)
            self._started = True
            log.info("evaluating %d rule groups", len(self._running))

    async def reload(self) -> None:
        """Loads the files again; a tenant whose files fail keeps its rules (ConfigError)."""
        if not self._started:
            await self.start()
            return
        async with self._lock:
            loaded, errors = await asyncio.to_thread(self._load)
            tenants = set(loaded) | {tenant for tenant, _ in self._running}
            for tenant in sorted(tenants - set(errors)):
                await self._apply(tenant, loaded.get(tenant, []), restore=False)
            self._record_reload(errors)
        if errors:
            raise ConfigError(
                "error loading rules, previous rule set restored:\n" + "\n".join(errors.values())
            )
        log.info("rules reloaded: %d rule groups", len(self._running))

    async def stop(self) -> None:
        async with self._lock:
            for entry in self._running.values():
                entry.group.abort.set()
                await entry.stop(wait=False)
            self._running.clear()
            self._started = False
            # An evaluation in a worker thread stops after its current rule; wait for it, so
            # nothing queries the store once it is closed.
            await asyncio.to_thread(self._executor.shutdown, True)
            self._executor = _evaluation_pool()

    def _record_reload(self, errors: dict[str, str]) -> None:
        self.last_reload_successful = not errors
        self.last_reload_error = "\n".join(errors.values())
        for message in errors.values():
            log.error("loading rules failed: %s", message)

    # The read-only view the API shows.

    def tenants(self) -> list[str]:
        return sorted({tenant for tenant, _ in self._running})

    def groups(self, tenant: str) -> list[GroupStatus]:
        found = [entry.group for (t, _), entry in self._running.items() if t == tenant]
        found.sort(key=lambda g: (g.spec.file, g.spec.name))
        return [group.status() for group in found]

    # Loading.

    def _load(self) -> tuple[dict[str, list[GroupSpec]], dict[str, str]]:
        loaded: dict[str, list[GroupSpec]] = {}
        errors: dict[str, str] = {}
        files, missing = self._files()
        if missing:
            errors[self.config.default_tenant] = "\n".join(missing)
        interval_ms = round(self.config.evaluation_interval_seconds * 1000)
        for tenant, paths in files.items():
            if tenant in errors:
                continue
            try:
                loaded[tenant] = load_rule_files(
                    paths, default_interval_ms=interval_ms, check_template=self._check
                )
            except ConfigError as exc:
                errors[tenant] = exc.message
        return loaded, errors

    def _files(self) -> tuple[dict[str, list[Path]], list[str]]:
        """Rule files per tenant, and the named (not globbed) files that do not exist."""
        files: dict[str, list[Path]] = {}
        missing: list[str] = []
        default: list[Path] = []
        for pattern in self.config.rule_files:
            found = sorted(glob.glob(pattern))
            if not found and not any(c in pattern for c in "*?["):
                missing.append(f"{pattern}: rule file not found")
            default += [Path(p) for p in found if Path(p) not in default]
        files[self.config.default_tenant] = default
        root = self.config.rules_dir
        if root is not None and root.is_dir():
            for folder in sorted(root.iterdir()):
                if folder.is_dir() and not folder.name.startswith("."):
                    own = files.setdefault(folder.name, [])
                    own += sorted(p for p in folder.iterdir() if _is_rule_file(p))
        return files, missing

    # Running groups.

    async def _apply(self, tenant: str, specs: list[GroupSpec], restore: bool) -> None:
        old = {key: entry for (t, key), entry in self._running.items() if t == tenant}
        for spec in specs:
            current = old.pop(spec.key, None)
            if current is not None and current.group.spec == spec:
                continue  # unchanged: keeps running as it was
            group = self._group(tenant, spec, restore=restore and current is None)
            if current is not None:
                await current.stop(wait=True)
                group.copy_state(current.group)
            self._launch(tenant, group)
        for key, gone in old.items():
            await gone.stop(wait=True)
            del self._running[(tenant, key)]
            self.metrics.group_removed(key)
            await self._write(tenant, gone.group.stale_samples(self._now_ms()))

    def _group(self, tenant: str, spec: GroupSpec, restore: bool) -> RuleGroup:
        config = self.config
        query = self._query_for(tenant)
        source = self._source_for(tenant) if self._source_for is not None else None
        return RuleGroup(
            spec,
            query,
            expand=self._expand,
            external_labels=config.external_labels,
            external_url=config.external_url,
            restore=restore,
            for_state=for_state_from_source(source) if source else for_state_from_query(query),
            default_query_offset_ms=round(config.query_offset_seconds * 1000),
            resend_delay_ms=round(config.resend_delay_seconds * 1000),
            outage_tolerance_ms=round(config.outage_tolerance_seconds * 1000),
            for_grace_period_ms=round(config.for_grace_period_seconds * 1000),
            clock=self._clock,
        )

    def _launch(self, tenant: str, group: RuleGroup) -> None:
        entry = _Running(tenant, group)
        self._running[(tenant, group.key)] = entry
        self.metrics.group_started(group.key)
        entry.task = asyncio.create_task(self._loop(entry), name=f"rules {group.key}")

    async def _loop(self, entry: _Running) -> None:
        group = entry.group
        interval = group.spec.interval_ms
        # The first slot after now, as Prometheus waits for it.
        ts = eval_slot_ms(group.key, interval, self._now_ms()) + interval
        await self._sleep(max(0, ts - self._now_ms()) / 1000)
        while not entry.stopping:
            await self._iterate(entry, ts)
            if entry.stopping:
                return
            ts = await self._next_slot(entry, ts)

    async def _next_slot(self, entry: _Running, ts: int) -> int:
        """Waits for the slot after `ts`; after an overrun, the latest slot passed instead."""
        interval = entry.group.spec.interval_ms
        now = self._now_ms()
        if now < ts + interval:
            await self._sleep((ts + interval - now) / 1000)
            now = self._now_ms()
        missed = max(0, (now - ts) // interval - 1)
        if missed:
            self.metrics.iterations(entry.group.key, scheduled=missed, missed=missed)
            log.warning("rule group %s missed %d iterations", entry.group.key, missed)
        return ts + (missed + 1) * interval

    async def _iterate(self, entry: _Running, ts: int) -> None:
        group = entry.group
        self.metrics.iterations(group.key, scheduled=1, missed=0)
        entry.busy = True
        try:
            loop = asyncio.get_running_loop()
            commit = self._committer(entry.tenant)
            result = await loop.run_in_executor(self._executor, group.evaluate, ts, commit)
            entry.iterations += 1
            # As Prometheus: after the second evaluation, once recording rules are fresh.
            if group.should_restore and entry.iterations >= 2:
                now = self._now_ms()
                await loop.run_in_executor(self._executor, group.restore_for_state, now)
        except Exception:  # rules catch their own errors; this is a bug, keep the loop going
            log.exception("evaluating rule group %s", group.key)
            return
        finally:
            entry.busy = False
        self.metrics.evaluated(group.key, result)
        await self._write(entry.tenant, result.samples[result.committed :])
        if result.alerts_to_send:
            await self._send(entry.tenant, result.alerts_to_send)

    def _committer(self, tenant: str) -> Callable[[list[Sample]], None]:
        """Writes samples from the evaluating thread, waiting until they are committed."""
        loop = asyncio.get_running_loop()

        def commit(samples: list[Sample]) -> None:
            asyncio.run_coroutine_threadsafe(self._write(tenant, samples), loop).result()

        return commit

    async def _write(self, tenant: str, samples: list[Sample]) -> None:
        if not samples:
            return
        try:
            await self._write_func(tenant, samples)
        except Exception as exc:  # counted by the pipeline; the next evaluation writes again
            log.warning("writing %d rule samples for tenant %s: %s", len(samples), tenant, exc)

    async def _send(self, tenant: str, alerts: list[Alert]) -> None:
        try:
            await self._send_func(tenant, alerts)
        except Exception as exc:  # alerts are sent again at the next resend
            log.warning("sending %d alerts for tenant %s: %s", len(alerts), tenant, exc)

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)


def _is_rule_file(path: Path) -> bool:
    return path.is_file() and path.suffix in RULE_FILE_SUFFIXES and not path.name.startswith(".")


class PrometheusRuleMetrics:
    """RuleMetrics on prometheus_client, named as Prometheus's own with `observatory_`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["rule_group"]
        self.last_duration = Gauge(
            "observatory_rule_group_last_duration_seconds",
            "The duration of the last rule group evaluation.",
            label,
            registry=registry,
        )
        self.evaluations = Counter(
            "observatory_rule_evaluations_total",
            "Rule evaluations.",
            label,
            registry=registry,
        )
        self.failures = Counter(
            "observatory_rule_evaluation_failures_total",
            "Rule evaluations that failed.",
            label,
            registry=registry,
        )
        self.missed = Counter(
            "observatory_rule_group_iterations_missed_total",
            "Rule group evaluations missed because an evaluation overran its interval.",
            label,
            registry=registry,
        )
        self.scheduled = Counter(
            "observatory_rule_group_iterations_total",
            "Scheduled rule group evaluations, run or missed.",
            label,
            registry=registry,
        )
        self.duration = Histogram(
            "observatory_rule_evaluation_duration_seconds",
            "The duration of one rule's evaluation.",
            registry=registry,
        )
        self._labelled = (self.last_duration, self.evaluations, self.failures, self.missed)

    def group_started(self, rule_group: str) -> None:
        for metric in (*self._labelled, self.scheduled):
            metric.labels(rule_group)  # exported as 0 from the start

    def group_removed(self, rule_group: str) -> None:
        for metric in (*self._labelled, self.scheduled):
            with contextlib.suppress(KeyError):
                metric.remove(rule_group)

    def iterations(self, rule_group: str, scheduled: int, missed: int) -> None:
        self.scheduled.labels(rule_group).inc(scheduled)
        if missed:
            self.missed.labels(rule_group).inc(missed)

    def evaluated(self, rule_group: str, result: GroupResult) -> None:
        self.last_duration.labels(rule_group).set(result.duration_seconds)
        self.evaluations.labels(rule_group).inc(len(result.rule_seconds))
        if result.failures:
            self.failures.labels(rule_group).inc(result.failures)
        for seconds in result.rule_seconds:
            self.duration.observe(seconds)
