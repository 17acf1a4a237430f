"""Rule evaluation benchmark: 1,000 Prometheus rules at a 15 s interval over 10,000 live series.

The data is `bench/promql.py`'s vLLM data set (`--series` series, 20 per engine: request
counters by finished reason, three gauges, two token counters and a 10-bucket time-to-first-
token histogram, over 50 `model_name`s and 20 instances), shifted to end now and covering the
last `--hours`. It is inserted straight into the store with the server stopped (the bench
process opens the data dir with `EmbeddedStore`, as `bench/traces.py` does), so the server
under test does no loading work. While the server runs, a sender remote-writes one new sample
per series every 15 s (at each engine's scrape phase, flushed every 5 s in requests of at most
2,000 series, as Prometheus's remote write batches), continuing the history: counters grow by
the increments of a random earlier step, gauges take that step's value. So every evaluation
sees current data; nothing is written ahead of the clock.

The rule file has `--groups` groups (default 20) of 50 rules at `interval: 15s`: 15 recording
rules (request rate, TTFT P95 from the histogram, KV-cache usage, token throughput, requests
in flight; each over the whole fleet, over one model family and over one instance) and 35
alerting rules, all with `for` and templated annotations (aborted-request share, TTFT P95 over
the histogram and over the recorded series, KV-cache usage, queue length, a throughput drop
against 30 minutes earlier, prompt tokens per request; five scopes and thresholds each). The
server is `observatory serve` with `OBSERVATORY_RULE_FILES='["<file>"]'`.

Measured, after `--warmup` seconds and for `--duration` seconds:
- each group evaluation's duration, from `GET /api/v1/rules` polled every `--poll` seconds
  (one record per `lastEvaluation`, so each evaluation counts once; missed iterations also
  follow from the gaps between a group's evaluations); this API answers on the event loop, so
  it stays readable when the server's worker threads are saturated;
- from `GET /metrics`, read by another thread at the same pace: the
  `observatory_rule_group_last_duration_seconds` gauge, and at both ends of the window the
  deltas of `observatory_rule_group_iterations_total`, `..._iterations_missed_total`,
  `observatory_rule_evaluation_failures_total` and the per-rule
  `observatory_rule_evaluation_duration_seconds` histogram; also how long `/metrics` takes;
- the server's CPU (user + system, all threads), other processes' CPU, and peak RSS; at the
  end, rule health, alerts firing and pending, the recorded and ALERTS series, and how old
  the newest pushed sample is; the live sender's latency and failures.
The run ends early, and says why, if the server exits or no group evaluation finishes for
`--stall` seconds (with the server's CPU meanwhile: near 0 means blocked, not busy).

The goal (issue 7): group evaluation p99 under 10 % of the interval, no missed iterations.
The server is the `observatory` importable by the bench's Python (`PYTHONPATH=<tree>/src`
measures another checkout).

    .venv/bin/python bench/rules.py                  # 1,000 rules, 10,000 series, 10 minutes
    .venv/bin/python bench/rules.py --duration 120   # a trial run
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
import pyarrow as pa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    HOST,
    Row,
    Server,
    StopResult,
    fmt_int,
    fmt_mib,
    fmt_ms,
    log,
    percent,
    percentile,
    print_table,
)
from _prom import (
    WRITE_HEADERS,
    WRITE_PATH,
    ApiClient,
    OtherCpu,
    compress,
    encode_labels,
    encode_samples,
    encode_series,
)
from observatory.signals.columns import build_table
from observatory.signals.metrics import SAMPLE_SCHEMA, SERIES_SCHEMA, series_fingerprint
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import Retention, migrate
from promql import MODELS, STEP_MS, Dataset

TENANT = "default"
RULES_PER_GROUP = 50
INTERVAL_S = 15
FLUSH_SECONDS = 5.0  # Prometheus's remote-write batch_send_deadline
SERIES_PER_REQUEST = 2_000  # Prometheus's max_samples_per_send
JOIN_SECONDS = 10.0  # how long stopping waits for a watcher thread's request in flight
GOAL_SHARE = 0.10  # of the interval, for the group evaluation p99
PROBE_RULE = "bench:model_name:requests:rate5m"  # in every group; polled to see each group
BASES = MODELS[:10]  # MODELS lists the ten base models first, then their variants
F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]


# --- the data -----------------------------------------------------------------------------


def dataset(series: int, hours: float) -> Dataset:
    """promql.py's data set, moved to end on the current 15 s step instead of 5 minutes ago."""
    data = Dataset(series, hours)
    lag_steps = (time.time_ns() // 1_000_000 - data.end_ms) // STEP_MS
    data.start_ms += lag_steps * STEP_MS
    return data


def store_history(data_dir: Path, data: Dataset, chunk_series: int = 1_000) -> float:
    """Insert every series and sample straight into the store; the server is not running."""
    started = time.perf_counter()
    names = [labels[0][1] for labels in data.labels]
    rest = [dict(labels[1:]) for labels in data.labels]
    fingerprints = np.asarray(
        [series_fingerprint(n, r) for n, r in zip(names, rest, strict=True)], dtype=np.uint64
    )
    store = EmbeddedStore(data_dir)
    try:
        migrate(store, Retention(7, 30, 90, 30, 7))
        last_seen = [int(data.times(i)[-1]) for i in range(data.series)]
        store.insert("series", build_table(SERIES_SCHEMA, {
            "tenant": [TENANT] * data.series, "metric_name": names, "fingerprint": fingerprints,
            "labels": [list(r.items()) for r in rest], "last_seen": last_seen,
        }))  # fmt: skip
        for first in range(0, data.series, chunk_series):
            chosen = range(first, min(first + chunk_series, data.series))
            store.insert("samples", _samples_table(data, names, fingerprints, chosen))
    finally:
        store.close()
    return time.perf_counter() - started


def _samples_table(
    data: Dataset, names: list[str], fingerprints: npt.NDArray[np.uint64], chosen: range
) -> pa.Table:
    rows = len(chosen) * data.steps
    times = np.concatenate([data.times(i) for i in chosen])
    return build_table(SAMPLE_SCHEMA, {
        "tenant": pa.array([TENANT] * rows, pa.string()),
        "metric_name": pa.array(np.repeat(np.asarray(names, dtype=object)[chosen.start:chosen.stop],
                                          data.steps), pa.string()),
        "fingerprint": pa.array(np.repeat(fingerprints[chosen.start:chosen.stop], data.steps)),
        "timestamp": pa.array(times, pa.timestamp("ms")),
        "value": pa.array(data.values[chosen.start:chosen.stop].reshape(-1)),
    })  # fmt: skip


def cumulative_series(data: Dataset) -> npt.NDArray[np.bool_]:
    """Which series only grow (counters, histogram buckets, _sum, _count): the rest are gauges."""
    out = np.zeros(data.series, dtype=bool)
    for family in data.families.values():
        if family.kind in ("counter", "histogram"):
            out[family.series] = True
    return out


# --- the rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    name: str
    matcher: str  # a label matcher added to every selector; empty for the whole fleet


def scopes(group: int) -> tuple[Scope, ...]:
    """Five scopes a team's rules use: fleet, model family, instance, one model, all but FP8."""
    base = BASES[group % len(BASES)].replace(".", "\\\\.")
    return (
        Scope("fleet", ""),
        Scope("family", f'model_name=~"{base}.*"'),
        Scope("instance", f'instance="gpu-node-{group % 20:02d}:8000"'),
        Scope("model", f'model_name="{MODELS[(7 * group + 3) % len(MODELS)]}"'),
        Scope("no_fp8", 'model_name!~".*-FP8"'),
    )


def sel(metric: str, scope: Scope, *matchers: str) -> str:
    inner = ",".join(m for m in (*matchers, scope.matcher) if m)
    return f"{metric}{{{inner}}}" if inner else metric


def recording_rules(group: int) -> list[dict[str, Any]]:
    rules = []
    for scope in scopes(group)[:3]:
        exprs = {
            PROBE_RULE: "sum by (model_name) "
            f"(rate({sel('vllm:request_success_total', scope)}[5m]))",
            "bench:model_name:ttft_p95:5m": "histogram_quantile(0.95, sum by (le, model_name) "
            f"(rate({sel('vllm:time_to_first_token_seconds_bucket', scope)}[5m])))",
            "bench:instance:kv_cache_usage:avg": "avg by (instance) "
            f"({sel('vllm:kv_cache_usage_perc', scope)})",
            "bench:model_name:generation_tokens:rate5m": "sum by (model_name) "
            f"(rate({sel('vllm:generation_tokens_total', scope)}[5m]))",
            "bench:model_name_instance:requests_in_flight": "sum by (model_name, instance) "
            f"({sel('vllm:num_requests_running', scope)}) + sum by (model_name, instance) "
            f"({sel('vllm:num_requests_waiting', scope)})",
        }  # fmt: skip
        labels = {"bench_group": f"g{group:02d}", "scope": scope.name}
        rules += [
            {"record": name, "expr": expr, "labels": dict(labels)} for name, expr in exprs.items()
        ]
    return rules


FORS = ("1m", "2m", "5m", "10m", "3m")
SEVERITIES = ("critical", "warning", "warning", "info", "warning")


ALERT_KINDS = (
    "VllmAbortedRequestsHigh", "VllmTtftP95High", "VllmKvCacheUsageHigh", "VllmRequestsWaiting",
    "VllmThroughputDrop", "VllmPromptTokensPerRequestHigh", "VllmRecordedTtftP95High",
)  # fmt: skip


# Thresholds per scope, chosen so that some alerts fire and most do not, as in a real pack.
THRESHOLDS: dict[str, tuple[float, ...]] = {
    "VllmAbortedRequestsHigh": (0.03, 0.028, 0.035, 0.025, 0.04),
    "VllmTtftP95High": (2.2, 2.0, 1.8, 2.0, 2.4),
    "VllmKvCacheUsageHigh": (0.55, 0.5, 0.45, 0.4, 0.6),
    "VllmRequestsWaiting": (4, 3, 3, 2, 5),
    "VllmThroughputDrop": (0.5, 0.6, 0.7, 0.8, 0.5),
    "VllmPromptTokensPerRequestHigh": (960, 940, 1000, 930, 1100),
    "VllmRecordedTtftP95High": (2.2, 2.0, 1.8, 2.0, 2.4),
}
SUMMARIES = {
    "VllmAbortedRequestsHigh": "{{ $labels.model_name }}: {{ $value | humanizePercentage }} "
    "of requests aborted",
    "VllmTtftP95High": "{{ $labels.model_name }}: TTFT P95 {{ $value | humanizeDuration }}",
    "VllmKvCacheUsageHigh": "{{ $labels.instance }}: KV cache {{ $value | humanizePercentage }}",
    "VllmRequestsWaiting": "{{ $labels.model_name }} on {{ $labels.instance }}: "
    "{{ $value }} requests waiting",
    "VllmThroughputDrop": "{{ $labels.model_name }}: throughput at "
    "{{ $value | humanizePercentage }} of 30 minutes ago",
    "VllmPromptTokensPerRequestHigh": "{{ $labels.model_name }}: {{ $value | humanize }} "
    "prompt tokens per request",
    "VllmRecordedTtftP95High": "{{ $labels.model_name }}: TTFT P95 {{ $value | humanize }}s",
}


def alert_expr(kind: str, scope: Scope, threshold: float, recorded: str) -> str:
    rate = "sum by (model_name) (rate({}[5m]))"
    success = sel("vllm:request_success_total", scope)
    if kind == "VllmAbortedRequestsHigh":
        aborted = sel("vllm:request_success_total", scope, 'finished_reason="abort"')
        return f"{rate.format(aborted)} / {rate.format(success)} > {threshold:g}"
    if kind == "VllmTtftP95High":
        buckets = sel("vllm:time_to_first_token_seconds_bucket", scope)
        return (f"histogram_quantile(0.95, sum by (le, model_name) (rate({buckets}[5m]))) "
                f"> {threshold:g}")  # fmt: skip
    if kind == "VllmKvCacheUsageHigh":
        return f"max by (instance) ({sel('vllm:kv_cache_usage_perc', scope)}) > {threshold:g}"
    if kind == "VllmRequestsWaiting":
        waiting = sel("vllm:num_requests_waiting", scope)
        return f"max by (model_name, instance) ({waiting}) > {threshold:g}"
    if kind == "VllmThroughputDrop":
        tokens = sel("vllm:generation_tokens_total", scope)
        earlier = f"sum by (model_name) (rate({tokens}[5m] offset 30m))"
        return f"{rate.format(tokens)} / {earlier} < {threshold:g}"
    if kind == "VllmPromptTokensPerRequestHigh":
        prompt = sel("vllm:prompt_tokens_total", scope)
        return f"{rate.format(prompt)} / {rate.format(success)} > {threshold:g}"
    return f"{recorded} > {threshold:g}"  # VllmRecordedTtftP95High


def alerting_rules(group: int) -> list[dict[str, Any]]:
    rules = []
    own = scopes(group)
    for kind in ALERT_KINDS:
        for index, scope in enumerate(own):
            # Alerts over a recorded series select it by the labels its recording rule set
            # (the recorded TTFT exists for the first three scopes).
            recorded = sel(
                "bench:model_name:ttft_p95:5m",
                Scope("", ""),
                f'bench_group="g{group:02d}"',
                f'scope="{own[index % 3].name}"',
            )
            rules.append({
                "alert": kind,
                "expr": alert_expr(kind, scope, THRESHOLDS[kind][index], recorded),
                "for": FORS[index],
                "labels": {"severity": SEVERITIES[index], "team": f"team-{group:02d}",
                           "scope": scope.name},
                "annotations": {
                    "summary": SUMMARIES[kind],
                    "description": "{{ $labels }} at {{ $value }} for " + FORS[index] + ".",
                    "runbook_url": f"https://runbooks.example.com/{kind}.md",
                },
            })  # fmt: skip
    return rules


def rule_file(groups: int) -> dict[str, Any]:
    out = []
    for group in range(groups):
        rules = recording_rules(group) + alerting_rules(group)
        assert len(rules) == RULES_PER_GROUP, len(rules)
        out.append({"name": f"bench-{group:02d}", "interval": f"{INTERVAL_S}s", "rules": rules})
    return {"groups": out}


def write_rule_file(path: Path, groups: int) -> tuple[int, int]:
    """Writes the file; returns (alerting, recording) rule counts."""
    content = rule_file(groups)
    path.write_text(yaml.safe_dump(content, sort_keys=False, width=200))
    rules = [r for g in content["groups"] for r in g["rules"]]
    alerting = sum(1 for r in rules if "alert" in r)
    return alerting, len(rules) - alerting


# --- live samples -------------------------------------------------------------------------


@dataclass
class _Step:
    base_ms: int  # the step's start; each series' sample is at base + its scrape phase
    values: F64Array
    pushed: npt.NDArray[np.bool_]


@dataclass
class PushStats:
    samples: int = 0
    requests: int = 0
    failed: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # age of a flush's oldest sample at send
    errors: Counter[str] = field(default_factory=Counter)


class LivePusher(threading.Thread):
    """Remote-writes each series' next sample once its scrape time has passed.

    Every `FLUSH_SECONDS` the samples that came due since the last flush are sent, at most
    `SERIES_PER_REQUEST` series a request, as Prometheus's remote write batches a scrape
    loop's output. Values continue the history: counters add the increments of a random
    earlier step (a counter reset there adds nothing), gauges repeat that step's value, so
    buckets stay cumulative and rates look like the history's.
    """

    def __init__(self, port: int, data: Dataset, seed: int = 11) -> None:
        super().__init__(name="live-pusher", daemon=True)
        self.port = port
        self.data = data
        self.labels = [encode_labels(labels) for labels in data.labels]
        self.cumulative = cumulative_series(data)
        self.last = data.values[:, -1].copy()
        self.next_base_ms = data.end_ms
        self.pending: list[_Step] = []
        self.rng = np.random.default_rng(seed)
        self.stats = PushStats()
        self._stopped = threading.Event()
        self._conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def run(self) -> None:
        try:
            while not self._stopped.is_set():
                self.flush(time.time_ns() // 1_000_000)
                self._stopped.wait(FLUSH_SECONDS)
        finally:
            self._conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(JOIN_SECONDS)

    def flush(self, now_ms: int) -> None:
        while self.next_base_ms <= now_ms:
            self.pending.append(self._next_step())
        due: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for step in self.pending:
            times = step.base_ms + self.data.phases
            ready = np.flatnonzero(~step.pushed & (times <= now_ms))
            step.pushed[ready] = True
            for i, t, v in zip(ready.tolist(), times[ready].tolist(), step.values[ready].tolist(),
                               strict=True):  # fmt: skip
                due[i][0].append(t)
                due[i][1].append(v)
        self.pending = [s for s in self.pending if not s.pushed.all()]
        if due:
            oldest = min(times[0] for times, _ in due.values())
            self.stats.lags.append((now_ms - oldest) / 1000)
        series = sorted(due)
        for first in range(0, len(series), SERIES_PER_REQUEST):
            chunk = series[first : first + SERIES_PER_REQUEST]
            body = compress(b"".join(
                encode_series(self.labels[i], encode_samples(
                    np.asarray(due[i][0], dtype=np.int64), np.asarray(due[i][1])))
                for i in chunk
            ))  # fmt: skip
            if self._send(body):
                self.stats.samples += sum(len(due[i][0]) for i in chunk)

    def _next_step(self) -> _Step:
        values = self.data.values
        source = int(self.rng.integers(1, self.data.steps))
        increments = np.maximum(0.0, values[:, source] - values[:, source - 1])
        self.last = np.where(self.cumulative, self.last + increments, values[:, source])
        step = _Step(self.next_base_ms, self.last.copy(), np.zeros(self.data.series, dtype=bool))
        self.next_base_ms += STEP_MS
        return step

    def _send(self, body: bytes) -> bool:
        """POST until acknowledged (204), refused for good, or failed twice."""
        self.stats.requests += 1
        for attempt in range(5):
            started = time.perf_counter()
            try:
                self._conn.request("POST", WRITE_PATH, body, WRITE_HEADERS)
                response = self._conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                self._conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                if attempt:
                    self.stats.errors[type(exc).__name__] += 1
                    break
                continue
            if response.status == 204:
                self.stats.latencies.append(time.perf_counter() - started)
                return True
            if response.status in (429, 503):
                self.stats.refused += 1
                time.sleep(float(response.getheader("Retry-After") or 1))
                continue
            self.stats.errors[f"HTTP {response.status}"] += 1
            break
        self.stats.failed += 1
        return False


# --- watching the server ------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Exposition = dict[str, list[tuple[dict[str, str], float]]]


def parse_exposition(text: str) -> Exposition:
    """Prometheus text format: each metric name's samples with their labels."""
    out: Exposition = defaultdict(list)
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        out[name].append((dict(_LABEL.findall(labels or "")), float(value)))
    return out


def metric_total(exposition: Exposition, name: str) -> float:
    return sum(value for _, value in exposition.get(name, []))


def per_group(exposition: Exposition, name: str) -> dict[str, float]:
    return {group_name(labels.get("rule_group", "")): value
            for labels, value in exposition.get(name, [])}  # fmt: skip


def group_name(rule_group: str) -> str:
    """`file;group`, Prometheus's rule_group label, without the file."""
    return rule_group.rsplit(";", 1)[-1]


def buckets(exposition: Exposition, name: str) -> dict[float, float]:
    return {float(labels["le"]): value for labels, value in exposition.get(f"{name}_bucket", [])}


def bucket_quantile(q: float, cumulative: dict[float, float]) -> float:
    """Prometheus's histogram_quantile over cumulative bucket counts: linear within a bucket."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return math.nan
    rank = q * cumulative[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # the highest finite bound, as Prometheus answers
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass
class Evaluation:
    group: str
    started: float  # the group's lastEvaluation, epoch seconds
    seconds: float  # its evaluationTime


class Every(threading.Thread):
    """Calls `poll` every `interval` seconds, counted from the end of the previous call."""

    def __init__(self, name: str, interval: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.errors: Counter[str] = Counter()
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.poll()
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                self.errors[type(exc).__name__] += 1

    def stop(self) -> None:
        # A read in flight to a stalled server is left to its timeout; what was read stays.
        self._stopped.set()
        self.join(JOIN_SECONDS)

    def poll(self) -> None:
        raise NotImplementedError


class RulesPoller(Every):
    """Each group's last evaluation, from `/api/v1/rules`: one record per evaluation.

    The API answers on the event loop, without the store, so it stays readable when the
    server's worker threads are saturated; only the probe rule is asked for, which keeps
    the answer small.
    """

    def __init__(self, port: int, interval: float) -> None:
        super().__init__("rules-poller", interval)
        self.client = ApiClient(port, timeout=60)
        self.seen: set[tuple[str, str]] = set()
        self.evaluations: list[Evaluation] = []
        self.polls = 0
        self.last_new = time.monotonic()  # when an evaluation was last seen to finish

    def stop(self) -> None:
        """Stops after one last read, which sees the evaluations that just ended."""
        super().stop()
        try:
            self.poll()
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            self.errors[type(exc).__name__] += 1
        self.client.close()

    def poll(self) -> None:
        params = {"exclude_alerts": "true", "rule_name[]": PROBE_RULE}
        status, answer = self.client.get_json("/api/v1/rules", params)
        if status != 200:
            self.errors[f"HTTP {status}"] += 1
            return
        self.polls += 1
        for group in answer["data"]["groups"]:
            key = (group["name"], group["lastEvaluation"])
            if group["lastEvaluation"].startswith("0001-") or key in self.seen:
                continue  # not evaluated yet, or this evaluation is already counted
            self.seen.add(key)
            started = datetime.fromisoformat(group["lastEvaluation"].replace("Z", "+00:00"))
            seconds = float(group["evaluationTime"])
            self.evaluations.append(Evaluation(group["name"], started.timestamp(), seconds))
            self.last_new = time.monotonic()


class MetricsPoller(Every):
    """The last-duration gauge from `/metrics`, and how long `/metrics` takes to answer."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__("metrics-poller", interval)
        self.port = port
        self.gauge: list[tuple[float, float]] = []  # (read time, seconds)
        self.latencies: list[tuple[float, float]] = []  # (read time, seconds to answer)

    def poll(self) -> None:
        exposition, seconds = read_metrics(self.port, timeout=120)
        now = time.time()
        self.latencies.append((now, seconds))
        gauge = per_group(exposition, "observatory_rule_group_last_duration_seconds")
        self.gauge += [(now, value) for value in gauge.values()]


def read_metrics(port: int, timeout: float) -> tuple[Exposition, float]:
    """One GET, not retried: a timeout is itself the finding."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    if status != 200:
        raise ValueError(f"/metrics answered HTTP {status}")
    return parse_exposition(body.decode()), time.perf_counter() - started


def inferred_missed(evaluations: Sequence[Evaluation], since: float, until: float) -> int:
    """Missed iterations from the gaps between a group's evaluations, as seen by the API."""
    by_group: dict[str, list[float]] = defaultdict(list)
    for e in evaluations:
        by_group[e.group].append(e.started)
    missed = 0
    for starts in by_group.values():
        starts.sort()
        for earlier, later in itertools.pairwise(starts):
            if since <= later < until:
                missed += max(0, round((later - earlier) / INTERVAL_S) - 1)
    return missed


# --- the run ------------------------------------------------------------------------------


class RuleServer(Server):
    """The harness's server with the rule file in its environment.

    `env` execs the server in place, so the pid the harness samples is the server's own.
    """

    def __init__(self, root: Path, rule_file: Path) -> None:
        super().__init__(root)
        self.rule_file = rule_file

    def command(self) -> list[str]:
        files = json.dumps([str(self.rule_file)])
        return ["env", f"OBSERVATORY_RULE_FILES={files}", *super().command()]


@dataclass(frozen=True)
class Snapshot:
    at: float  # epoch seconds
    cpu: float  # the server's CPU seconds so far
    client_cpu: float  # this process's
    exposition: Exposition | None  # None when /metrics did not answer
    metrics_seconds: float  # how long /metrics took to answer
    error: str = ""

    @classmethod
    def take(cls, server: Server, timeout: float = 300.0) -> Snapshot:
        """Times and CPU are read once /metrics has answered: a busy server may take tens of
        seconds to, and writes the answer's counters at the end of that wait."""
        started = time.perf_counter()
        try:
            exposition, seconds = read_metrics(server.http_port, timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            exposition, seconds, error = None, time.perf_counter() - started, repr(exc)
        else:
            error = ""
        return cls(time.time(), server_cpu(server), time.process_time(), exposition, seconds,
                   error)  # fmt: skip


def server_cpu(server: Server) -> float:
    """The server's CPU seconds so far; NaN once it has exited."""
    try:
        return server.cpu_seconds()
    except psutil.Error:
        return math.nan


@dataclass
class Outcome:
    """Everything measured; turned into tables at the end."""

    rules: tuple[int, int]  # alerting, recording
    load_seconds: float
    start: Snapshot
    end: Snapshot
    rules_poller: RulesPoller
    metrics_poller: MetricsPoller
    push: PushStats
    other_cores: float
    final_rules: Any
    final_alerts: Any
    queries: dict[str, str]
    log_problems_running: int  # warnings and errors in the server's log before SIGTERM
    ended_early: str = ""  # why the run stopped before `--duration`: the server died or stalled


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-rules-"))
    try:
        rows, groups, summary = run(args, root, argv)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept the data dir, rule file and server log under {root}")
    for title, table in rows:
        print_table(title, table)
    print_groups(groups)
    print_summary(summary)
    if args.json:
        out: dict[str, Any] = {title: dict(table) for title, table in rows}
        out["groups"] = {g[0]: dict(zip(GROUP_HEADER[1:], g[1:], strict=True)) for g in groups}
        out["summary"] = dict(summary)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000, help="series (20 per engine)")
    parser.add_argument("--hours", type=float, default=1.0, help="hours of history at 15 s")
    parser.add_argument("--groups", type=int, default=20, help="rule groups of 50 rules")
    parser.add_argument("--duration", type=float, default=600.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=45.0,
                        help="seconds after start before measuring (first evaluations, "
                             "catch-up of the live samples)")  # fmt: skip
    parser.add_argument("--poll", type=float, default=4.0,
                        help="seconds between reads of /api/v1/rules and /metrics")  # fmt: skip
    parser.add_argument(
        "--stall", type=float, default=180.0,
        help="end the run once no group evaluation has finished for this long",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    args = parser.parse_args(argv)
    if args.poll >= INTERVAL_S:
        parser.error(f"--poll must be under the {INTERVAL_S} s interval to see every evaluation")
    return args


Tables = list[tuple[str, list[Row]]]


def run(
    args: argparse.Namespace, root: Path, argv: Sequence[str] | None
) -> tuple[Tables, list[tuple[str, ...]], list[Row]]:
    log(f"generating {args.series:,} series over {args.hours:g} h ...")
    data = dataset(args.series, args.hours)
    rule_path = root / "rules.yml"
    rules = write_rule_file(rule_path, args.groups)
    server = RuleServer(root, rule_path)
    log(f"inserting {data.series * data.steps:,} samples into {server.data_dir} ...")
    load_seconds = store_history(server.data_dir, data)
    log(f"starting the server with {sum(rules):,} rules in {args.groups} groups ...")
    server.start()
    try:
        outcome = observe(server, data, args, rules, load_seconds)
        log("stopping the server (SIGTERM) ...")
        stopped = server.stop(60.0 if outcome.ended_early else 300.0)
    finally:
        server.kill()
    return report(outcome, server, stopped, data, args, argv)


def observe(
    server: Server,
    data: Dataset,
    args: argparse.Namespace,
    rules: tuple[int, int],
    load_seconds: float,
) -> Outcome:
    assert server.process is not None
    pusher = LivePusher(server.http_port, data)
    rules_poller = RulesPoller(server.http_port, args.poll)
    metrics_poller = MetricsPoller(server.http_port, args.poll)
    for thread in (pusher, rules_poller, metrics_poller):
        thread.start()
    ended = wait(server, args.warmup, "warming up", rules_poller, max(args.stall, args.warmup))
    # An overloaded server answers /metrics late (its worker threads are busy); a stalled one
    # never does, and a short wait is then enough to say so.
    start = Snapshot.take(server, 10.0 if ended else args.stall)
    others = OtherCpu([server.process.pid])
    if not ended:
        ended = wait(server, args.duration, "measuring", rules_poller, args.stall, start.at)
    end = Snapshot.take(server, 10.0 if ended else args.stall)
    other_cores = others.cores()
    if ended:
        log(f"the run ended early: {ended.splitlines()[0]}")
    log("reading the final state ...")
    final_rules, final_alerts, queries = final_state(server, args.stall, queries=not ended)
    for thread in (rules_poller, metrics_poller, pusher):
        thread.stop()
    problems = len(server.log_problems())
    return Outcome(rules, load_seconds, start, end, rules_poller, metrics_poller, pusher.stats,
                   other_cores, final_rules, final_alerts, queries, problems, ended)  # fmt: skip


def wait(
    server: Server,
    seconds: float,
    what: str,
    poller: RulesPoller,
    stall: float,
    since: float = 0.0,
) -> str:
    """Sleeps, logging progress each minute; returns why the run must end early, if it must:
    the server exited, or no group evaluation finished for `stall` seconds."""
    assert server.process is not None
    log(f"{what} for {seconds:g} s ...")
    deadline = time.monotonic() + seconds
    next_report = time.monotonic() + 60
    last_new, cpu_then = poller.last_new, server_cpu(server)
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        if server.process.poll() is not None:
            return f"server exited with {server.process.returncode}:\n{server.log_tail()}"
        if poller.last_new != last_new:
            last_new, cpu_then = poller.last_new, server_cpu(server)
        quiet = time.monotonic() - last_new
        if quiet > stall:
            cores = (server_cpu(server) - cpu_then) / quiet
            return (f"stalled: no rule group evaluation finished for {quiet:.0f} s, while the "
                    f"server used {cores:.2f} cores (near 0: blocked, not busy)")  # fmt: skip
        if time.monotonic() >= next_report:
            next_report += 60
            durations = [e.seconds for e in poller.evaluations if e.started >= since]
            worst = max(durations, default=math.nan)
            log(f"  {len(durations)} group evaluations so far, "
                f"p99 {_ms(percentile(durations, 99))}, max {_ms(worst)}")  # fmt: skip
    return ""


FINAL_QUERIES = {
    "recorded series (bench:*)": 'count({__name__=~"bench:.+"})',
    "ALERTS series": "count(ALERTS)",
    "ALERTS_FOR_STATE series": "count(ALERTS_FOR_STATE)",
    "newest live sample age (s)": "time() - max(timestamp(vllm:num_requests_running))",
}


def final_state(server: Server, timeout: float, queries: bool) -> tuple[Any, Any, dict[str, str]]:
    """Every rule's health and the active alerts (the event loop answers these), and with
    `queries` a few checks through the query API (which needs the server's worker threads)."""
    assert server.process is not None
    if server.process.poll() is not None:
        return {}, {}, {}
    client = ApiClient(server.http_port, timeout=timeout)
    try:
        _, rules = client.get_json("/api/v1/rules", {"exclude_alerts": "true"})
        _, alerts = client.get_json("/api/v1/alerts", {})
        if not queries:
            return rules, alerts, {"query checks": "skipped: the run ended early"}
        checks = {name: instant_value(client, expr) for name, expr in FINAL_QUERIES.items()}
        return rules, alerts, checks
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {}, {}, {"final state": f"not read: {exc!r}"}
    finally:
        client.close()


def instant_value(client: ApiClient, expr: str) -> str:
    """The query's single value; or what went wrong, with how long it took."""
    started = time.perf_counter()
    try:
        status, answer = client.get_json("/api/v1/query", {"query": expr})
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"failed after {time.perf_counter() - started:.0f} s: {exc!r}"
    took = f"(answered in {time.perf_counter() - started:.1f} s)"
    if status != 200:
        return f"HTTP {status}: {str(answer)[:100]} {took}"
    result = answer["data"]["result"]
    return f"{float(result[0]['value'][1]):,.1f} {took}" if result else f"empty {took}"


# --- the figures --------------------------------------------------------------------------

GROUP_HEADER = ("group", "evaluations", "p50", "p99", "max", "iterations", "missed")


def report(
    outcome: Outcome,
    server: Server,
    stopped: StopResult,
    data: Dataset,
    args: argparse.Namespace,
    argv: Sequence[str] | None,
) -> tuple[Tables, list[tuple[str, ...]], list[Row]]:
    window = Window(outcome, args.groups)
    tables: Tables = [
        ("Rule evaluation benchmark: setup", setup_rows(outcome, data, args)),
        (f"Group evaluations over {window.seconds:.0f} s", evaluation_rows(window)),
        ("Rules, alerts and data at the end", end_rows(outcome)),
        ("Live samples (remote write)", push_rows(outcome.push)),
        ("Resources", resource_rows(outcome, window, server, stopped)),
    ]
    if outcome.ended_early:
        tables.insert(0, ("THE RUN ENDED EARLY", [("why", outcome.ended_early[:2000])]))
    command = " ".join([".venv/bin/python", "bench/rules.py", *(argv or sys.argv[1:])])
    return tables, window.group_rows(), summary_rows(outcome, window, server, data, command)


class Window:
    """The measured window's figures: evaluations seen and the server's counter deltas."""

    def __init__(self, outcome: Outcome, groups: int) -> None:
        start, end = outcome.start, outcome.end
        self.start, self.end, self.groups = start, end, groups
        self.seconds = end.at - start.at
        seen = outcome.rules_poller.evaluations
        self.evaluations = [e for e in seen if start.at <= e.started < end.at]
        self.durations = [e.seconds for e in self.evaluations]
        self.inferred_missed = inferred_missed(seen, start.at, end.at)
        poller = outcome.metrics_poller
        self.gauge = [v for t, v in poller.gauge if start.at <= t < end.at]
        self.metrics_seconds = [v for t, v in poller.latencies if start.at <= t < end.at]
        self.cpu = end.cpu - start.cpu
        self.client_cpu = end.client_cpu - start.client_cpu
        # The server's counters, when /metrics answered at both ends of the window.
        self.counted = start.exposition is not None and end.exposition is not None
        self.scheduled = self._delta("observatory_rule_group_iterations_total")
        self.missed = self._delta("observatory_rule_group_iterations_missed_total")
        self.failures = self._delta("observatory_rule_evaluation_failures_total")
        self.rule_evaluations = self._delta("observatory_rule_evaluations_total")
        name = "observatory_rule_evaluation_duration_seconds"
        before, after = buckets(start.exposition or {}, name), buckets(end.exposition or {}, name)
        self.rule_buckets = {le: count - before.get(le, 0.0) for le, count in after.items()}
        self.rule_count = self._delta_total(f"{name}_count")
        self.rule_sum = self._delta_total(f"{name}_sum")

    def _delta(self, name: str) -> dict[str, float]:
        if not self.counted:
            return {}
        before = per_group(self.start.exposition or {}, name)
        after = per_group(self.end.exposition or {}, name)
        return {group: value - before.get(group, 0.0) for group, value in after.items()}

    def _delta_total(self, name: str) -> float:
        if not self.counted:
            return math.nan
        start, end = self.start.exposition or {}, self.end.exposition or {}
        return metric_total(end, name) - metric_total(start, name)

    def total(self, counts: dict[str, float]) -> str:
        return fmt_int(sum(counts.values())) if self.counted else "n/a"

    def group_rows(self) -> list[tuple[str, ...]]:
        by_group: dict[str, list[float]] = defaultdict(list)
        for e in self.evaluations:
            by_group[e.group].append(e.seconds)
        rows = []
        for group in sorted(set(by_group) | set(self.scheduled)):
            durations = by_group.get(group, [])
            counted = (self.scheduled.get(group, math.nan), self.missed.get(group, math.nan))
            rows.append((group, fmt_int(len(durations)), _ms(percentile(durations, 50)),
                         _ms(percentile(durations, 99)), _ms(max(durations, default=math.nan)),
                         *(fmt_int(c) if self.counted else "n/a" for c in counted)))  # fmt: skip
        return rows


def setup_rows(outcome: Outcome, data: Dataset, args: argparse.Namespace) -> list[Row]:
    alerting, recording = outcome.rules
    return [
        ("series / of them histogram buckets",
         f"{fmt_int(data.series)} / {fmt_int(data.bucket_series())}"),
        ("history per series, inserted with the server stopped",
         f"{fmt_int(data.steps)} samples ({args.hours:g} h at 15 s), "
         f"{fmt_int(data.series * data.steps)} in all, in {outcome.load_seconds:.0f} s"),
        ("rules: alerting (all with `for`) + recording",
         f"{fmt_int(alerting)} + {fmt_int(recording)} = {fmt_int(alerting + recording)}"),
        ("groups x rules, interval", f"{args.groups} x {RULES_PER_GROUP}, {INTERVAL_S} s"),
        ("warm-up / measured / poll", f"{args.warmup:g} s / {args.duration:g} s / "
                                      f"every {args.poll:g} s"),
    ]  # fmt: skip


def evaluation_rows(window: Window) -> list[Row]:
    durations = window.durations
    interval = float(INTERVAL_S)
    p99 = percentile(durations, 99)
    slots = window.seconds / interval * window.groups
    count, total = window.rule_count, window.rule_sum
    scheduled, missed = sum(window.scheduled.values()), sum(window.missed.values())
    problems = [f"{when}: {snap.error}" for when, snap in (("start", window.start),
                ("end", window.end)) if snap.error]  # fmt: skip
    return [
        ("group evaluations seen (API) / slots in the window",
         f"{fmt_int(len(durations))} / {fmt_int(slots)}"),
        ("group evaluation p50 / p95 / p99 / max",
         " / ".join(_ms(percentile(durations, q)) for q in (50, 95, 99, 100))),
        ("group evaluation p99, share of the interval",
         _share(p99)),
        ("sum of evaluation time / window (groups busy at once)",
         f"{sum(durations) / window.seconds:.2f}" if window.seconds > 0 else "n/a"),
        ("last-duration gauge samples: count, p50 / p99 / max",
         f"{fmt_int(len(window.gauge))}, "
         + " / ".join(_ms(percentile(window.gauge, q)) for q in (50, 99, 100))),
        ("iterations run / missed (server counters)",
         f"{fmt_int(scheduled - missed)} / {fmt_int(missed)} "
         f"(goal 0 missed: {_verdict(missed == 0 and scheduled > 0)})"
         if window.counted else "n/a: " + "; ".join(problems)),
        ("iterations missed, from gaps between evaluations (API)",
         fmt_int(window.inferred_missed)),
        ("rule evaluations / failures (server counters)",
         f"{window.total(window.rule_evaluations)} / {window.total(window.failures)}"),
        ("per-rule evaluation: count, mean, p50 / p99 (histogram)",
         f"{fmt_int(count) if window.counted else 'n/a'}, "
         f"{_ms(total / count if count else math.nan)}, "
         f"{_ms(bucket_quantile(0.5, window.rule_buckets))} / "
         f"{_ms(bucket_quantile(0.99, window.rule_buckets))}"),
        ("GET /metrics answer time: start, end / polls p50, max",
         f"{_ms(window.start.metrics_seconds)}, {_ms(window.end.metrics_seconds)} / "
         f"{_ms(percentile(window.metrics_seconds, 50))}, "
         f"{_ms(max(window.metrics_seconds, default=math.nan))}"),
    ]  # fmt: skip


def end_rows(outcome: Outcome) -> list[Row]:
    groups = outcome.final_rules.get("data", {}).get("groups", []) if outcome.final_rules else []
    rules = [rule for group in groups for rule in group["rules"]]
    unhealthy = [r for r in rules if r.get("health") != "ok"]
    alerts = outcome.final_alerts.get("data", {}).get("alerts", []) if outcome.final_alerts else []
    states = Counter(a["state"] for a in alerts)
    active_rules = Counter(r.get("state") for r in rules if r["type"] == "alerting")
    rows: list[Row] = [
        ("rules listed / not healthy", f"{fmt_int(len(rules))} / {fmt_int(len(unhealthy))}"),
        ("alerts firing / pending", f"{fmt_int(states['firing'])} / {fmt_int(states['pending'])}"),
        ("alerting rules firing / pending / inactive",
         f"{active_rules['firing']} / {active_rules['pending']} / {active_rules['inactive']}"),
    ]  # fmt: skip
    errors = Counter(f"{r.get('health')}: {r.get('lastError', '')}" for r in unhealthy)
    rows += [(f"  not healthy x{n}", text[:160]) for text, n in errors.most_common(3)]
    by_name = Counter(a["labels"].get("alertname", "") for a in alerts)
    rows.append(
        (
            "active alerts by alertname",
            ", ".join(f"{name} {count}" for name, count in by_name.most_common()) or "none",
        )
    )
    slowest = sorted(rules, key=lambda r: -float(r.get("evaluationTime", 0)))[:5]
    for number, rule in enumerate(slowest, start=1):
        rows.append((f"slowest rule {number} (last evaluation)",
                     f"{_ms(float(rule['evaluationTime']))}: {rule['query'][:120]}"))  # fmt: skip
    rows += list(outcome.queries.items())
    return rows


def push_rows(push: PushStats) -> list[Row]:
    errors = ", ".join(f"{k}: {v}" for k, v in push.errors.items()) or "none"
    return [
        ("samples acknowledged / requests", f"{fmt_int(push.samples)} / {fmt_int(push.requests)}"),
        ("requests failed / refusals (429, 503)", f"{push.failed} / {push.refused} ({errors})"),
        ("request latency p50 / p99 / max",
         " / ".join(_ms(percentile(push.latencies, q)) for q in (50, 99, 100))),
        ("oldest sample's age at flush p50 / max",
         f"{percentile(push.lags, 50):.1f} s / {max(push.lags, default=math.nan):.1f} s"),
    ]  # fmt: skip


def resource_rows(
    outcome: Outcome, window: Window, server: Server, stopped: StopResult
) -> list[Row]:
    cores = psutil.cpu_count() or 1
    busy = window.cpu / window.seconds if window.seconds > 0 else math.nan
    problems = server.log_problems()
    rows: list[Row] = [
        ("server CPU (cores busy, share of the machine)",
         f"{busy:.2f} of {cores} ({percent(busy, cores)})"),
        ("bench process CPU (cores busy)", f"{window.client_cpu / max(1e-9, window.seconds):.2f}"),
        ("other processes' CPU (cores busy)", f"{outcome.other_cores:.2f}"),
        ("server RSS at ready / peak", f"{fmt_mib(server.rss_at_ready)} / "
                                       f"{fmt_mib(server.rss_peak)}"),
        ("server stop (SIGTERM to exit)", f"{stopped.seconds:.1f} s, exit code "
                                          f"{stopped.exit_code}"
                                          + (" (killed)" if stopped.killed else "")),
        ("reads of /api/v1/rules / failed",
         f"{outcome.rules_poller.polls} / {_counts(outcome.rules_poller.errors)}"),
        ("reads of /metrics / failed",
         f"{len(outcome.metrics_poller.latencies)} / {_counts(outcome.metrics_poller.errors)}"),
        ("server log warnings/errors while running / after SIGTERM",
         f"{fmt_int(outcome.log_problems_running)} / "
         f"{fmt_int(len(problems) - outcome.log_problems_running)}"),
    ]  # fmt: skip
    for when, lines in (("running", problems[: outcome.log_problems_running]),
                        ("after SIGTERM", problems[outcome.log_problems_running :])):  # fmt: skip
        distinct: dict[str, str] = {}
        for line in lines:
            # Past the time stamp, the first words tell kinds of problem apart.
            distinct.setdefault(line.split(" ", 2)[-1][:60], line)
        rows += [(f"  {when} {n}", line[:160]) for n, line in enumerate(distinct.values(), 1)][:3]
    return rows


def summary_rows(
    outcome: Outcome, window: Window, server: Server, data: Dataset, command: str
) -> list[Row]:
    durations = window.durations
    p99 = percentile(durations, 99)
    scheduled, missed = sum(window.scheduled.values()), sum(window.missed.values())
    alerts = outcome.final_alerts.get("data", {}).get("alerts", []) if outcome.final_alerts else []
    states = Counter(a["state"] for a in alerts)
    busy = window.cpu / window.seconds if window.seconds > 0 else math.nan
    alerting, recording = outcome.rules
    counted = (f"{fmt_int(scheduled - missed)} / **{fmt_int(missed)}** "
               f"(goal 0: {_verdict(missed == 0 and scheduled > 0)})"
               if window.counted else "n/a (/metrics did not answer)")  # fmt: skip
    return [
        ("command", f"`{command}`"),
        ("rules", f"{fmt_int(alerting + recording)} ({fmt_int(alerting)} alerting with `for`, "
                  f"{fmt_int(recording)} recording) in {window.groups} groups at "
                  f"{INTERVAL_S} s"),
        ("series", f"{fmt_int(data.series)}, live (one sample each per 15 s)"),
        ("measured", f"{window.seconds:.0f} s: {fmt_int(len(durations))} group evaluations "
                     f"seen of {fmt_int(window.seconds / INTERVAL_S * window.groups)} slots"),
        ("group evaluation p50 / p95 / p99 / max",
         " / ".join(_ms(percentile(durations, q)) for q in (50, 95, 99, 100))),
        ("p99 as share of the 15 s interval",
         _share(p99, bold=True)),
        ("iterations run / missed (server counters)", counted),
        ("iterations missed (gaps between evaluations, API)", fmt_int(window.inferred_missed)),
        ("rule evaluation failures", window.total(window.failures)),
        ("server CPU", f"{busy:.2f} cores (other processes: {outcome.other_cores:.2f})"),
        ("server peak RSS", fmt_mib(server.rss_peak)),
        ("alerts at the end", f"{fmt_int(states['firing'])} firing, "
                              f"{fmt_int(states['pending'])} pending"),
    ]  # fmt: skip


def print_groups(rows: list[tuple[str, ...]]) -> None:
    lines = [GROUP_HEADER, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(GROUP_HEADER))]
    print("\nPer group (evaluations seen in the window; iterations from the server's counters)")
    for number, line in enumerate(lines):
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
        if number == 0:
            print("-+-".join("-" * w for w in widths))


def print_summary(rows: list[Row]) -> None:
    print("\nSummary for docs/benchmarks.md\n")
    print("| figure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else fmt_ms(seconds)


def _share(p99: float, bold: bool = False) -> str:
    """The p99 as a share of the interval, and whether it meets the goal."""
    if math.isnan(p99):
        return "n/a (no evaluation finished)"
    share = percent(p99, INTERVAL_S)
    verdict = _verdict(p99 < GOAL_SHARE * INTERVAL_S)
    return f"{f'**{share}**' if bold else share} (goal < {GOAL_SHARE * 100:.0f} %: {verdict})"


def _counts(counts: Counter[str]) -> str:
    total = sum(counts.values())
    return f"{total} ({', '.join(f'{k}: {v}' for k, v in counts.items())})" if total else "0"


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
