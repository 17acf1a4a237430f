"""Query benchmark: dashboard PromQL on Observatory and on Prometheus, over the same data.

`--series` vLLM-like series (20 per inference engine: a request counter by finished reason,
three gauges, two token counters and a classic time-to-first-token histogram of 10 buckets
with _sum and _count), across 50 `model_name`s and 20 instances, every 15 s for `--hours`.
The same samples are remote-written to a fresh `observatory serve` and backfilled into
Debian's Prometheus with `promtool tsdb create-blocks-from openmetrics`. Then each query is
run `--repeat` times against both, alternating, at evaluation times spread over the data, the
first run of each discarded as warm-up, and every answer of Observatory is compared with
Prometheus's.

    .venv/bin/python bench/promql.py                       # 10,000 series, 24 h
    .venv/bin/python bench/promql.py --series 2000 --hours 6
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    HOST,
    Row,
    Server,
    StoreReader,
    fmt_int,
    fmt_mib,
    free_ports,
    get_text,
    log,
    percentile,
    print_table,
    rate,
    self_metric,
)
from _prom import (
    ApiClient,
    OtherCpu,
    SeriesTemplate,
    compress,
    disk_rows,
    encode_labels,
    encode_samples,
    encode_series,
    run_remote_write,
)

STEP_MS = 15_000
SERIES_PER_ENGINE = 20
INSTANCES = 20
F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

_BASES = (
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct",
    "mistralai/Mistral-Small-24B-Instruct-2501", "google/gemma-3-27b-it",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "microsoft/phi-4",
    "ibm-granite/granite-3.1-8b-instruct", "nvidia/Llama-3.1-Nemotron-70B-Instruct",
)  # fmt: skip
_VARIANTS = ("", "-FP8", "-AWQ", "-GPTQ-Int4", "-support-ft")
MODELS = tuple(base + variant for variant in _VARIANTS for base in _BASES)  # 50
TTFT_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, math.inf)
FINISHED = ("stop", "length", "abort")
FINISHED_SHARES = (0.9, 0.08, 0.02)
MISMATCHES_SHOWN = 5


@dataclass(frozen=True)
class Query:
    name: str
    expr: str
    is_range: bool = False
    topk: bool = False  # members tied at the k-th value may legitimately differ


QUERIES = (
    Query("1 rate by model", "sum by (model_name) (rate(vllm:request_success_total[5m]))"),
    Query(
        "2 p95 TTFT by model",
        "histogram_quantile(0.95, sum by (le, model_name) "
        "(rate(vllm:time_to_first_token_seconds_bucket[5m])))",
    ),
    Query(
        "3 topk running by instance",
        "topk(5, sum by (instance) (vllm:num_requests_running))",
        topk=True,
    ),
    Query(
        "4 range: rate, 1 h at 15 s",
        'rate(vllm:request_success_total{finished_reason!="abort"}[5m])',
        is_range=True,
    ),
)


# --- the data -----------------------------------------------------------------------------


@dataclass
class Family:
    name: str  # the OpenMetrics family: a counter's name without _total
    kind: str
    series: list[int] = field(default_factory=list)


class Dataset:
    """Every series' labels and values, one row of `steps` samples per series."""

    def __init__(self, series: int, hours: float, seed: int = 20240602) -> None:
        self.rng = np.random.default_rng(seed)
        self.engines = max(1, series // SERIES_PER_ENGINE)
        self.steps = max(2, int(hours * 3600 * 1000 // STEP_MS))
        # The data ends a few minutes before now, on a whole interval.
        now_ms = time.time_ns() // 1_000_000
        self.start_ms = (now_ms // STEP_MS - self.steps - 20) * STEP_MS
        self.labels: list[list[tuple[str, str]]] = []
        self.rows: list[F64Array] = []
        self.phase: list[int] = []
        self.families = {
            name: Family(name, kind)
            for name, kind in (
                ("vllm:request_success", "counter"), ("vllm:num_requests_running", "gauge"),
                ("vllm:num_requests_waiting", "gauge"), ("vllm:kv_cache_usage_perc", "gauge"),
                ("vllm:prompt_tokens", "counter"), ("vllm:generation_tokens", "counter"),
                ("vllm:time_to_first_token_seconds", "histogram"),
            )
        }  # fmt: skip
        for engine in range(self.engines):
            self._engine(engine)
        self.values = np.vstack(self.rows)
        self.rows = []
        self.phases = np.asarray(self.phase, dtype=np.int64)

    @property
    def series(self) -> int:
        return len(self.labels)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.steps * STEP_MS

    def times(self, index: int) -> I64Array:
        offsets: I64Array = np.arange(self.steps, dtype=np.int64) * STEP_MS
        return offsets + (self.start_ms + int(self.phases[index]))

    def bucket_series(self) -> int:
        return sum(1 for labels in self.labels if labels[0][1].endswith("_bucket"))

    def _add(self, family: str, name: str, labels: list[tuple[str, str]], row: F64Array,
             phase: int) -> None:  # fmt: skip
        self.families[family].series.append(len(self.labels))
        self.labels.append([("__name__", name), *labels])
        self.rows.append(row)
        self.phase.append(phase)

    def _engine(self, engine: int) -> None:
        rng, steps = self.rng, self.steps
        labels = [
            ("job", "vllm"), ("namespace", "inference"),
            ("instance", f"gpu-node-{engine % INSTANCES:02d}:8000"),
            ("pod", f"vllm-{engine:04d}-{rng.bytes(3).hex()}"),
            ("model_name", MODELS[engine % len(MODELS)]), ("engine", "0"),
        ]  # fmt: skip
        # Scrapes are spread over the interval. Every phase is an odd multiple of 125 ms, so
        # no sample ever sits on a whole second: see `evaluation_times`.
        phase = 125 + 250 * (engine % 60)
        requests = rng.poisson(rng.uniform(0.2, 5.0) * STEP_MS / 1000, steps)
        counter = CounterShape(rng, steps)
        for reason, counts in zip(
            FINISHED, rng.multinomial(requests, FINISHED_SHARES).T, strict=True
        ):
            self._add(
                "vllm:request_success",
                "vllm:request_success_total",
                [*labels, ("finished_reason", reason)],
                counter.values(counts),
                phase,
            )
        running = np.clip(
            np.rint(requests * rng.uniform(0.5, 2.0) + rng.normal(0, 3, steps)), 0, 256
        )
        self._add("vllm:num_requests_running", "vllm:num_requests_running", labels, running, phase)
        waiting = np.maximum(0.0, rng.poisson(2.0, steps) - 2.0)
        self._add("vllm:num_requests_waiting", "vllm:num_requests_waiting", labels, waiting, phase)
        usage = np.clip(running / 256 + rng.normal(0, 0.02, steps), 0.0, 1.0)
        self._add("vllm:kv_cache_usage_perc", "vllm:kv_cache_usage_perc", labels, usage, phase)
        for name, per_request in (("prompt_tokens", 900), ("generation_tokens", 250)):
            tokens = rng.poisson(requests * per_request).astype(np.float64)
            self._add(f"vllm:{name}", f"vllm:{name}_total", labels, counter.values(tokens), phase)
        self._histogram(labels, requests, counter, phase)

    def _histogram(self, labels: list[tuple[str, str]], requests: npt.NDArray[np.int64],
                   counter: CounterShape, phase: int) -> None:  # fmt: skip
        rng = self.rng
        # Log-normal time to first token, its median between 50 and 500 ms per engine.
        median, sigma = float(rng.uniform(0.05, 0.5)), 0.8
        cdf = [_lognormal_cdf(b, median, sigma) for b in TTFT_BOUNDS]
        shares = np.diff([0.0, *cdf])
        per_bucket = rng.multinomial(requests, shares / shares.sum())  # (steps, buckets)
        cumulative = np.cumsum(per_bucket, axis=1)
        family = "vllm:time_to_first_token_seconds"
        for column, bound in enumerate(TTFT_BOUNDS):
            le = "+Inf" if math.isinf(bound) else repr(bound)
            row = counter.values(cumulative[:, column].astype(np.float64))
            self._add(family, f"{family}_bucket", [*labels, ("le", le)], row, phase)
        seconds = requests * median * rng.gamma(4.0, 0.25 * math.exp(sigma**2 / 2), len(requests))
        self._add(family, f"{family}_sum", labels, counter.values(seconds), phase)
        self._add(
            family, f"{family}_count", labels, counter.values(requests.astype(np.float64)), phase
        )


class CounterShape:
    """Where an engine's counters start, and the one restart some engines have in the data."""

    def __init__(self, rng: np.random.Generator, steps: int) -> None:
        self.warm = float(rng.uniform(100, 10_000))  # scrapes the process ran before the data
        restarts = rng.random() < 0.3
        self.reset_at = int(rng.integers(steps // 10, steps * 9 // 10)) if restarts else 0

    def values(self, increments: F64Array) -> F64Array:
        """Cumulative values: started at a warm offset, back to zero at the restart, if any."""
        total = np.cumsum(increments, dtype=np.float64)
        total += math.floor(self.warm * float(increments.mean()))
        if self.reset_at:
            total[self.reset_at :] -= total[self.reset_at - 1]
        return total


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if math.isinf(x):
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


# --- loading Observatory ------------------------------------------------------------------


def observatory_payloads(data: Dataset, batch: int, order: str) -> list[bytes]:
    """Remote-write requests of about `batch` samples holding the whole data set.

    `series` order: a few series per request, each with all its samples, the way a tool
    copying series out of another TSDB sends them. `time` order: every series in each
    request, a few consecutive samples each, oldest first, the way a live sender does.
    """
    labels = [encode_labels(labels) for labels in data.labels]
    if order == "series":
        per_request = max(1, batch // data.steps)
        return [
            compress(b"".join(
                encode_series(labels[i], encode_samples(data.times(i), data.values[i]))
                for i in range(first, min(first + per_request, data.series))
            ))
            for first in range(0, data.series, per_request)
        ]  # fmt: skip
    per_series = max(1, batch // data.series)
    payloads = []
    offsets = np.arange(data.steps, dtype=np.int64) * STEP_MS
    times = data.start_ms + data.phases[:, None] + offsets[None, :]
    templates: dict[int, SeriesTemplate] = {}
    for first in range(0, data.steps, per_series):
        last = min(first + per_series, data.steps)
        if last - first not in templates:
            templates[last - first] = SeriesTemplate(labels, last - first)
        template = templates[last - first]
        payloads.append(template.render(times[:, first:last], data.values[:, first:last]))
    return payloads


@dataclass(frozen=True)
class LoadFigures:
    seconds: float
    requests: int
    failed: int
    latency_p50: float


def load_observatory(server: Server, payloads: Sequence[bytes], senders: int) -> LoadFigures:
    started = time.perf_counter()
    # No deadline: every payload is sent, and the figures say whether all were acknowledged.
    result = run_remote_write(server.http_port, payloads, senders, duration=24 * 3600)
    return LoadFigures(
        seconds=time.perf_counter() - started,
        requests=len(payloads),
        failed=len(payloads) - len(result.acked),
        latency_p50=percentile(result.latencies, 50),
    )


# --- loading Prometheus -------------------------------------------------------------------


def write_openmetrics(data: Dataset, path: Path) -> int:
    """The data set as OpenMetrics text, family by family, series by series; returns bytes."""
    stamps = {
        phase: [f"{t // 1000}.{t % 1000:03d}" for t in data.times(index).tolist()]
        for phase, index in _first_of_each_phase(data)
    }
    size = 0
    with path.open("w", encoding="utf-8", buffering=1 << 24) as out:
        for family in data.families.values():
            size += out.write(f"# TYPE {family.name} {family.kind}\n")
            for index in family.series:
                head = _series_text(data.labels[index])
                times = stamps[int(data.phases[index])]
                values = data.values[index].tolist()
                size += out.write(
                    "".join([f"{head} {v} {t}\n" for v, t in zip(values, times, strict=True)])
                )
        size += out.write("# EOF\n")
    return size


def _first_of_each_phase(data: Dataset) -> Iterator[tuple[int, int]]:
    phases, first = np.unique(data.phases, return_index=True)
    return zip(phases.tolist(), first.tolist(), strict=True)


def _series_text(labels: Sequence[tuple[str, str]]) -> str:
    name = labels[0][1]
    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in labels[1:])
    return f"{name}{{{pairs}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def backfill(openmetrics: Path, tsdb: Path) -> float:
    """promtool's backfill; blocks as long as it allows, so it reads the file fewer times."""
    started = time.perf_counter()
    # promtool reads the whole file once per block range; 486 h is the largest block it makes,
    # so a day of data is one or two blocks.
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
         "--max-block-duration=486h", str(openmetrics), str(tsdb)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


class Prometheus:
    """Debian's Prometheus on a free port over a backfilled TSDB, scraping nothing."""

    def __init__(self, root: Path, tsdb: Path) -> None:
        self.root = root
        self.tsdb = tsdb
        self.port = free_ports(1)[0]
        self.log_path = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> float:
        config = self.root / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        started = time.perf_counter()
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.tsdb}",
                 f"--web.listen-address={HOST}:{self.port}",
                 "--storage.tsdb.retention.time=30d"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_tail()}")
            if self._ready():
                return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        client = ApiClient(self.port, timeout=2)
        try:
            return client.get("/-/ready", {})[0] == 200
        except OSError:
            return False
        finally:
            client.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "level=error" in line or "level=warn" in line]

    def block_bytes(self) -> int:
        """Bytes of the persisted blocks (chunks and index), not the empty WAL."""
        blocks = [p for p in self.tsdb.iterdir() if p.is_dir() and (p / "meta.json").exists()]
        return sum(f.stat().st_size for block in blocks for f in block.rglob("*") if f.is_file())


def wait_idle(pids: Sequence[int], limit: float = 120.0, threshold: float = 0.05) -> float:
    """Wait until no process uses more than `threshold` of a core over 2 s; returns seconds.

    Observatory's store merges the parts of a large load in the background, and Prometheus
    may compact blocks after start: latency measured during either is measuring them.
    """
    processes = [psutil.Process(pid) for pid in pids]
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = [_cpu(p) for p in processes]
        time.sleep(2.0)
        busy = [(_cpu(p) - b) / 2.0 for p, b in zip(processes, before, strict=True)]
        if max(busy) < threshold:
            break
    return time.perf_counter() - started


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


# --- querying and comparing ---------------------------------------------------------------


def evaluation_times(data: Dataset, count: int, seed: int = 7) -> list[int]:
    """Whole seconds, spread over the data, each with an hour and 5 minutes of data before it.

    Samples are never on a whole second. Prometheus 2 (this Debian one) includes a sample at
    exactly t - 5m in `[5m]` and Prometheus 3, whose semantics Observatory follows, excludes
    it: avoiding such coincidences compares the two engines where they are meant to agree.
    """
    rng = np.random.default_rng(seed)
    first = data.start_ms // 1000 + 3600 + 300 + 1
    last = data.end_ms // 1000 - 1
    if last <= first:
        raise SystemExit("--hours must be more than 1.1 for the 1 h range query")
    return sorted(int(t) for t in rng.integers(first, last, count))


@dataclass
class Timings:
    observatory: list[float] = field(default_factory=list)
    prometheus: list[float] = field(default_factory=list)


@dataclass
class Mismatch:
    query: str
    at: int
    kind: str
    labels: str
    observatory: str
    prometheus: str


@dataclass
class QueryReport:
    query: Query
    timings: Timings = field(default_factory=Timings)
    mismatches: list[Mismatch] = field(default_factory=list)
    ties: int = 0
    series: list[int] = field(default_factory=list)  # result series per answer


def run_queries(
    observatory: ApiClient, prometheus: ApiClient, times: Sequence[int], repeat: int
) -> list[QueryReport]:
    reports = []
    for query in QUERIES:
        log(f"  {query.name}: {query.expr}")
        report = QueryReport(query)
        for run, at in enumerate(times[:repeat]):
            params = _params(query, at)
            path = "/api/v1/query_range" if query.is_range else "/api/v1/query"
            # Alternating keeps anything slow in the background from falling on one side.
            obs = _timed(observatory, path, params)
            prom = _timed(prometheus, path, params)
            if run:  # the first run warms caches and is left out
                report.timings.observatory.append(obs[0])
                report.timings.prometheus.append(prom[0])
            compare(report, at, obs[1], prom[1])
        reports.append(report)
    return reports


def _params(query: Query, at: int) -> dict[str, str]:
    if query.is_range:
        return {"query": query.expr, "start": str(at - 3600), "end": str(at), "step": "15"}
    return {"query": query.expr, "time": str(at)}


def _timed(client: ApiClient, path: str, params: dict[str, str]) -> tuple[float, Any]:
    started = time.perf_counter()
    status, body = client.get(path, params)
    elapsed = time.perf_counter() - started
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {"status": "error", "error": body[:200].decode(errors="replace")}
    if status != 200 and answer.get("status") == "success":
        answer = {"status": "error", "error": f"HTTP {status}"}
    return elapsed, answer


Points = dict[tuple[tuple[str, str], ...], dict[float, str]]


def _points(answer: Any) -> Points:
    """Series (sorted labels) to {timestamp: value text}, for vectors and matrices alike."""
    data = answer["data"]
    out: Points = {}
    for item in data["result"]:
        key = tuple(sorted(item["metric"].items()))
        pairs = item["values"] if "values" in item else [item["value"]]
        out[key] = {float(t): v for t, v in pairs}
    return out


def compare(report: QueryReport, at: int, obs: Any, prom: Any) -> None:
    name = report.query.name
    if obs.get("status") != "success" or prom.get("status") != "success":
        report.mismatches.append(Mismatch(name, at, "error", "", _error(obs), _error(prom)))
        return
    mine, theirs = _points(obs), _points(prom)
    report.series.append(len(theirs))
    only_mine = mine.keys() - theirs.keys()
    only_theirs = theirs.keys() - mine.keys()
    if report.query.topk and only_mine and _tied(mine, theirs, only_mine, only_theirs):
        report.ties += 1
        only_mine = only_theirs = set()
    for key in sorted(only_mine):
        report.mismatches.append(Mismatch(name, at, "only in Observatory", _fmt(key),
                                          _fmt_points(mine[key]), "(absent)"))  # fmt: skip
    for key in sorted(only_theirs):
        report.mismatches.append(Mismatch(name, at, "only in Prometheus", _fmt(key),
                                          "(absent)", _fmt_points(theirs[key])))  # fmt: skip
    for key in sorted(mine.keys() & theirs.keys()):
        report.mismatches.extend(_compare_points(name, at, key, mine[key], theirs[key]))


def _tied(mine: Points, theirs: Points, only_mine: set[Any], only_theirs: set[Any]) -> bool:
    """topk's members differ only among series whose value equals the k-th value."""

    def value(points: Points, key: Any) -> float:
        return float(next(iter(points[key].values())))

    if not theirs:
        return False
    kth = min(value(theirs, key) for key in theirs)
    return all(value(mine, k) == kth for k in only_mine) and all(
        value(theirs, k) == kth for k in only_theirs
    )


def _compare_points(name: str, at: int, key: Any, mine: dict[float, str],
                    theirs: dict[float, str]) -> list[Mismatch]:  # fmt: skip
    out = []
    for t in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(t), theirs.get(t)
        if a is None or b is None or not almost_equal(float(a), float(b)):
            out.append(Mismatch(name, at, f"value at {_stamp(t)}", _fmt(key), str(a), str(b)))
    return out


def _stamp(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def almost_equal(a: float, b: float, epsilon: float = 1e-6) -> bool:
    """Prometheus's test comparison (util/almost): relative, NaN equal to NaN."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    diff = abs(a - b)
    if a == 0 or b == 0 or abs(a) + abs(b) < sys.float_info.min:
        return diff < epsilon * sys.float_info.min
    return diff / min(abs(a) + abs(b), sys.float_info.max) < epsilon


def _error(answer: Any) -> str:
    if answer.get("status") == "success":
        return "success"
    return f"{answer.get('errorType', '')}: {answer.get('error', '')}"[:200]


def _fmt(key: Sequence[tuple[str, str]]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _fmt_points(points: dict[float, str]) -> str:
    items = sorted(points.items())
    text = ", ".join(f"{v} @{_stamp(t)}" for t, v in items[:3])
    return text + (f" ... ({len(items)} points)" if len(items) > 3 else "")


# --- the run ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-promql-"))
    server = Server(root)
    prometheus = Prometheus(root, root / "prometheus")
    try:
        rows, reports = run(args, root, server, prometheus)
    finally:
        server.kill()
        prometheus.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept data dirs and logs under {root}")
    print_table("PromQL benchmark: setup", rows)
    print_reports(reports)
    if args.json:
        args.json.write_text(json.dumps(_json(rows, reports), indent=2) + "\n")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000,
                        help=f"series ({SERIES_PER_ENGINE} per engine)")  # fmt: skip
    parser.add_argument("--hours", type=float, default=24.0, help="hours of data at 15 s")
    parser.add_argument("--repeat", type=int, default=20,
                        help="runs of each query per server, the first one a warm-up")  # fmt: skip
    parser.add_argument(
        "--batch",
        type=int,
        default=40_000,
        help="samples per remote-write request while loading Observatory",
    )
    parser.add_argument("--senders", type=int, default=4, help="remote-write senders")
    parser.add_argument(
        "--load-order", choices=("series", "time"), default="series",
        help="remote-write whole series per request (default) or all series, oldest first",
    )  # fmt: skip
    parser.add_argument(
        "--no-disk",
        action="store_true",
        help="skip measuring Observatory's bytes per sample at the end",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    return parser.parse_args(argv)


def run(
    args: argparse.Namespace, root: Path, server: Server, prometheus: Prometheus
) -> tuple[list[Row], list[QueryReport]]:
    started = time.perf_counter()
    log(f"generating {args.series:,} series over {args.hours:g} h ...")
    data = Dataset(args.series, args.hours)
    rows = dataset_rows(data)
    rows += load_prometheus(data, root, prometheus)
    rows += load_into_observatory(data, args, server, prometheus.pid)
    log("waiting for both servers to go idle (merges, compactions) ...")
    assert server.process is not None
    idle = wait_idle([server.process.pid, prometheus.pid])
    rows.append(("waited for idle servers before querying", f"{idle:.0f} s"))
    times = evaluation_times(data, args.repeat)
    log(f"querying, {args.repeat} runs per query and server ...")
    observatory, prom = ApiClient(server.http_port), ApiClient(prometheus.port)
    others = OtherCpu([server.process.pid, prometheus.pid])
    try:
        reports = run_queries(observatory, prom, times, args.repeat)
    finally:
        observatory.close()
        prom.close()
    rows.append(("other processes' CPU during the queries (cores)", f"{others.cores():.2f}"))
    rows += after_rows(server, prometheus, data, args)
    rows.append(("whole run", f"{time.perf_counter() - started:.0f} s"))
    return rows, reports


def dataset_rows(data: Dataset) -> list[Row]:
    samples = data.series * data.steps
    span = f"{data.steps * STEP_MS / 3_600_000:g} h"
    return [
        ("series / of them histogram buckets",
         f"{fmt_int(data.series)} / {fmt_int(data.bucket_series())}"),
        ("engines / models / instances",
         f"{data.engines} / {min(len(MODELS), data.engines)} / {min(INSTANCES, data.engines)}"),
        ("samples per series / in all", f"{fmt_int(data.steps)} ({span} at 15 s) / "
                                        f"{fmt_int(samples)}"),
    ]  # fmt: skip


def load_prometheus(data: Dataset, root: Path, prometheus: Prometheus) -> list[Row]:
    openmetrics = root / "data.om"
    log("writing the OpenMetrics file ...")
    started = time.perf_counter()
    size = write_openmetrics(data, openmetrics)
    written = time.perf_counter() - started
    log(f"backfilling Prometheus from {size / 1024**3:.1f} GiB of OpenMetrics ...")
    seconds = backfill(openmetrics, prometheus.tsdb)
    openmetrics.unlink()
    blocks = prometheus.block_bytes()
    ready = prometheus.start()
    return [
        ("Prometheus: OpenMetrics file (written in)", f"{fmt_mib(size)} ({written:.0f} s)"),
        ("Prometheus: promtool backfill", f"{seconds:.0f} s "
                                          f"({fmt_int(rate(data.series * data.steps, seconds))} "
                                          "samples/s)"),
        ("Prometheus: blocks on disk, bytes/sample",
         f"{blocks / (data.series * data.steps):.2f} ({fmt_mib(blocks)})"),
        ("Prometheus: start to ready", f"{ready:.1f} s"),
    ]  # fmt: skip


def load_into_observatory(
    data: Dataset, args: argparse.Namespace, server: Server, prometheus_pid: int
) -> list[Row]:
    log(f"encoding remote-write requests ({args.load_order} order) ...")
    started = time.perf_counter()
    payloads = observatory_payloads(data, args.batch, args.load_order)
    encoded = time.perf_counter() - started
    size = sum(len(p) for p in payloads)
    log(f"starting Observatory and remote-writing {len(payloads)} requests ...")
    server.start()
    assert server.process is not None
    others = OtherCpu([server.process.pid, prometheus_pid])
    figures = load_observatory(server, payloads, args.senders)
    del payloads
    exposition = get_text(server.http_port, "/metrics")
    accepted = self_metric(exposition, "observatory_accepted_items_total", "metrics")
    return [
        ("Observatory: requests, samples each, snappy bytes (encoded in)",
         f"{fmt_int(figures.requests)}, {fmt_int(data.series * data.steps / figures.requests)},"
         f" {fmt_mib(size)} ({encoded:.0f} s)"),
        ("Observatory: load order, senders", f"{args.load_order}, {args.senders}"),
        ("Observatory: remote-write load",
         f"{figures.seconds:.0f} s ({fmt_int(rate(accepted, figures.seconds))} samples/s, "
         f"request p50 {figures.latency_p50 * 1000:,.0f} ms)"),
        ("Observatory: requests not acknowledged", fmt_int(figures.failed)),
        ("Observatory: samples accepted (its /metrics)", fmt_int(accepted)),
        ("other processes' CPU during the load (cores)", f"{others.cores():.2f}"),
    ]  # fmt: skip


def after_rows(
    server: Server, prometheus: Prometheus, data: Dataset, args: argparse.Namespace
) -> list[Row]:
    prometheus_rss = psutil.Process(prometheus.pid).memory_info().rss
    rows: list[Row] = [
        ("Observatory RSS at ready / peak", f"{fmt_mib(server.rss_at_ready)} / "
                                            f"{fmt_mib(server.rss_peak)}"),
        ("Prometheus RSS after the queries", fmt_mib(prometheus_rss)),
    ]  # fmt: skip
    problems = server.log_problems()
    rows.append(("Observatory log warnings/errors", fmt_int(len(problems))))
    rows += [(f"  log line {n}", line[:160]) for n, line in enumerate(problems[:5], start=1)]
    prom_problems = prometheus.log_problems()
    rows.append(("Prometheus log warnings/errors", fmt_int(len(prom_problems))))
    rows += [(f"  log line {n}", line[:160]) for n, line in enumerate(prom_problems[:5], start=1)]
    log("stopping the servers ...")
    stopped = server.stop()
    prometheus.stop()
    rows.append(("Observatory stop (SIGTERM to exit)",
                 f"{stopped.seconds:.1f} s, exit code {stopped.exit_code}"))  # fmt: skip
    if not args.no_disk:
        log("measuring Observatory's store on disk ...")
        store = StoreReader(server.data_dir)
        try:
            rows += disk_rows(store)
        finally:
            store.close()
    return rows


def print_reports(reports: Sequence[QueryReport]) -> None:
    header = ("query", "series", "Obs p50", "Obs p95", "Prom p50", "Prom p95", "p95 ratio",
              "mismatches")  # fmt: skip
    lines = [header]
    for r in reports:
        obs, prom = r.timings.observatory, r.timings.prometheus
        ratio = percentile(obs, 95) / percentile(prom, 95) if prom else math.nan
        series = f"{min(r.series)}-{max(r.series)}" if r.series else "-"
        lines.append((r.query.name, series, _ms(percentile(obs, 50)), _ms(percentile(obs, 95)),
                      _ms(percentile(prom, 50)), _ms(percentile(prom, 95)), f"{ratio:.2f}x",
                      str(len(r.mismatches))))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(f"\nQuery latency ({len(reports[0].timings.observatory)} timed runs each, "
          "the first of each run left out)")  # fmt: skip
    for number, line in enumerate(lines):
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
        if number == 0:
            print("-+-".join("-" * w for w in widths))
    for r in reports:
        print(f"  {r.query.name}: {r.query.expr}")
        if r.ties:
            print(f"    topk answers differing only among series tied at the k-th value: {r.ties}")
    print_mismatches(reports)


def print_mismatches(reports: Sequence[QueryReport]) -> None:
    total = sum(len(r.mismatches) for r in reports)
    print(f"\nMismatches between Observatory and Prometheus: {total}")
    for r in reports:
        if not r.mismatches:
            continue
        kinds = Counter(m.kind.split(" at ")[0] for m in r.mismatches)
        runs = len({m.at for m in r.mismatches})
        summary = ", ".join(f"{kind}: {count}" for kind, count in kinds.most_common())
        print(f"  {r.query.name}: {len(r.mismatches)} in {runs} of {len(r.series) or '?'} "
              f"answers ({summary})")  # fmt: skip
        for m in r.mismatches[:MISMATCHES_SHOWN]:
            print(f"    at {m.at}: {m.kind} {m.labels}")
            print(f"      Observatory: {m.observatory}")
            print(f"      Prometheus:  {m.prometheus}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _json(rows: Sequence[Row], reports: Sequence[QueryReport]) -> dict[str, Any]:
    return {
        "setup": dict(rows),
        "queries": [
            {
                "name": r.query.name,
                "expr": r.query.expr,
                "observatory_seconds": r.timings.observatory,
                "prometheus_seconds": r.timings.prometheus,
                "mismatches": len(r.mismatches),
                "topk_ties": r.ties,
            }
            for r in reports
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
