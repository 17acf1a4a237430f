"""Ingest benchmark: Prometheus remote write 1.0 of vLLM and DCGM-exporter series.

A fleet of GPU nodes (8 GPUs each, one vLLM engine per GPU) is scraped every 15 s: per GPU 47
vLLM series (gauges, counters, three classic histograms with 10 buckets each) and 13 DCGM
series. As Prometheus's remote-write queue does, each request carries `--batch` samples of
many series, one sample per series: the fleet's series are shuffled once and cut into groups
of `--batch`, and request i is group i mod G at scrape round i div G, so timestamps advance
round by round and the last round is the present. Every (series, round) sample is sent once,
so after the run the store is checked timestamp by timestamp, and its size on disk is
measured per sample.

    .venv/bin/python bench/remote_write.py --duration 30
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    LoadResult,
    Row,
    Server,
    StopResult,
    StoreReader,
    add_output_args,
    fmt_int,
    fmt_mib,
    fmt_ms,
    get_text,
    log,
    percent,
    percentile,
    print_table,
    rate,
    self_metric,
)
from _prom import OtherCpu, SeriesTemplate, disk_rows, encode_labels, run_remote_write
from observatory.receivers.prompb import parse_write_request
from observatory.receivers.remote_write import snappy_decompress

INTERVAL_MS = 15_000
GPUS_PER_NODE = 8
F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct",
    "mistralai/Mistral-Small-24B-Instruct-2501", "google/gemma-3-27b-it",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "microsoft/phi-4",
)  # fmt: skip


class Kind(IntEnum):
    """How a series' value moves from one scrape to the next."""

    COUNTER = 0  # += Poisson(rate): request, token and bucket counts
    FLOAT_COUNTER = 1  # += a positive float: a histogram's _sum
    INT_GAUGE = 2  # an integer random walk between lo and hi: utilisation, temperature
    FLOAT_GAUGE = 3  # a float random walk between lo and hi, rounded to `decimals` if >= 0


@dataclass(frozen=True)
class Motion:
    kind: Kind
    rate: float = 0.0  # counters: mean increase per scrape; gauges: step size
    lo: float = 0.0
    hi: float = 0.0
    decimals: int = -1


# vLLM's classic histograms: bounds, the share of observations at or below each, the mean
# observation (for _sum), and whether they count requests (1) or tokens (200 a request).
TTFT = ((0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        (0.02, 0.1, 0.3, 0.55, 0.8, 0.92, 0.97, 0.99, 0.998), 0.2, 1)  # fmt: skip
E2E = ((0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0),
       (0.01, 0.05, 0.2, 0.4, 0.65, 0.8, 0.9, 0.96, 0.995), 7.0, 1)  # fmt: skip
ITL = ((0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5),
       (0.05, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.995, 0.999), 0.04, 200)  # fmt: skip
HISTOGRAMS = {
    "vllm:time_to_first_token_seconds": TTFT,
    "vllm:e2e_request_latency_seconds": E2E,
    "vllm:inter_token_latency_seconds": ITL,
}
FINISHED = {"stop": 0.9, "length": 0.08, "abort": 0.02}
DCGM_GAUGES = {
    "DCGM_FI_DEV_GPU_UTIL": Motion(Kind.INT_GAUGE, 10, 0, 100),
    "DCGM_FI_DEV_MEM_COPY_UTIL": Motion(Kind.INT_GAUGE, 5, 0, 100),
    "DCGM_FI_DEV_FB_USED": Motion(Kind.INT_GAUGE, 40, 60_000, 79_000),
    "DCGM_FI_DEV_FB_FREE": Motion(Kind.INT_GAUGE, 40, 2_000, 21_000),
    "DCGM_FI_DEV_GPU_TEMP": Motion(Kind.INT_GAUGE, 1, 30, 85),
    "DCGM_FI_DEV_MEMORY_TEMP": Motion(Kind.INT_GAUGE, 1, 30, 90),
    "DCGM_FI_DEV_POWER_USAGE": Motion(Kind.FLOAT_GAUGE, 25, 80, 700, 3),
    "DCGM_FI_DEV_SM_CLOCK": Motion(Kind.INT_GAUGE, 0, 1_980, 1_980),
    "DCGM_FI_DEV_MEM_CLOCK": Motion(Kind.INT_GAUGE, 0, 2_619, 2_619),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": Motion(Kind.FLOAT_GAUGE, 0.05, 0, 1, 6),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": Motion(Kind.FLOAT_GAUGE, 0.05, 0, 1, 6),
    "DCGM_FI_PROF_DRAM_ACTIVE": Motion(Kind.FLOAT_GAUGE, 0.05, 0, 1, 6),
}
# Energy in millijoules: about 400 W over 15 s.
DCGM_ENERGY = ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", Motion(Kind.COUNTER, 6_000_000.0))
SERIES_PER_GPU = 3 + 5 + len(FINISHED) + 12 * len(HISTOGRAMS) + len(DCGM_GAUGES) + 1


@dataclass
class SeriesSpec:
    labels: list[tuple[str, str]]
    motion: Motion
    target: int  # the scrape target: its series share a timestamp


class FleetBuilder:
    """The label sets and value motions of every series of a fleet of GPU nodes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.series: list[SeriesSpec] = []
        self.targets = 0

    def node(self, number: int) -> None:
        ip = f"10.{20 + number // 250}.{number % 250}"
        hostname = f"gpu-node-{number:03d}"
        model = MODELS[number % len(MODELS)]
        dcgm = self._target()
        dcgm_pod = f"nvidia-dcgm-exporter-{self._suffix()}"
        for gpu in range(GPUS_PER_NODE):
            pod = f"vllm-{model.split('/')[1].lower()[:20]}-{self._suffix()}"
            self._engine(
                [("job", "vllm"), ("namespace", "inference"), ("pod", pod),
                 ("instance", f"{ip}.{10 + gpu}:8000"), ("model_name", model), ("engine", "0")]
            )  # fmt: skip
            common = [
                ("job", "dcgm-exporter"), ("namespace", "gpu-operator"), ("pod", dcgm_pod),
                ("instance", f"{ip}.2:9400"), ("gpu", str(gpu)), ("device", f"nvidia{gpu}"),
                ("UUID", f"GPU-{uuid.UUID(bytes=self.rng.bytes(16))}"),
                ("modelName", "NVIDIA H100 80GB HBM3"), ("Hostname", hostname),
                ("container", "vllm"), ("exported_namespace", "inference"),
                ("exported_pod", pod),
            ]  # fmt: skip
            for name, motion in (*DCGM_GAUGES.items(), DCGM_ENERGY):
                self._add(name, common, motion, dcgm)

    def _target(self) -> int:
        self.targets += 1
        return self.targets - 1

    def _suffix(self) -> str:
        return self.rng.bytes(4).hex()[:5]

    def _add(self, name: str, labels: list[tuple[str, str]], motion: Motion, target: int) -> None:
        self.series.append(SeriesSpec([("__name__", name), *labels], motion, target))

    def _engine(self, labels: list[tuple[str, str]]) -> None:
        target = self._target()
        per_scrape = float(self.rng.uniform(0.2, 5.0)) * INTERVAL_MS / 1000  # requests
        add = self._add
        add("vllm:num_requests_running", labels, Motion(Kind.INT_GAUGE, 4, 0, 256), target)
        add("vllm:num_requests_waiting", labels, Motion(Kind.INT_GAUGE, 2, 0, 64), target)
        add("vllm:kv_cache_usage_perc", labels, Motion(Kind.FLOAT_GAUGE, 0.02, 0, 1), target)
        for name, tokens in (
            ("prompt_tokens", 800),
            ("generation_tokens", 200),
            ("prefix_cache_queries", 800),
            ("prefix_cache_hits", 300),
        ):
            add(f"vllm:{name}_total", labels, Motion(Kind.COUNTER, per_scrape * tokens), target)
        add("vllm:num_preemptions_total", labels, Motion(Kind.COUNTER, 0.05), target)
        for reason, share in FINISHED.items():
            add("vllm:request_success_total", [*labels, ("finished_reason", reason)],
                Motion(Kind.COUNTER, per_scrape * share), target)  # fmt: skip
        for name, (bounds, shares, mean, scale) in HISTOGRAMS.items():
            count = per_scrape * scale
            for bound, share in zip((*bounds, math.inf), (*shares, 1.0), strict=True):
                le = "+Inf" if math.isinf(bound) else repr(bound)
                add(f"{name}_bucket", [*labels, ("le", le)],
                    Motion(Kind.COUNTER, count * share), target)  # fmt: skip
            add(f"{name}_count", labels, Motion(Kind.COUNTER, count), target)
            add(f"{name}_sum", labels, Motion(Kind.FLOAT_COUNTER, count * mean), target)


class Values:
    """Every series' value, one scrape round after the other, vectorized by kind."""

    def __init__(self, specs: Sequence[SeriesSpec], rng: np.random.Generator) -> None:
        self.rng = rng
        kinds = np.array([s.motion.kind for s in specs])
        self.rate = np.array([s.motion.rate for s in specs])
        self.lo = np.array([s.motion.lo for s in specs])
        self.hi = np.array([s.motion.hi for s in specs])
        self.decimals = np.array([s.motion.decimals for s in specs])
        self.by_kind = {kind: np.flatnonzero(kinds == kind) for kind in Kind}
        # Counters start where a process that has run for a while would be; gauges anywhere.
        self.state = np.where(
            kinds <= Kind.FLOAT_COUNTER,
            np.floor(self.rate * rng.uniform(100, 10_000, len(specs))),
            np.floor(rng.uniform(self.lo, self.hi + 1)),
        )
        self.state = np.minimum(self.state, np.where(kinds >= Kind.INT_GAUGE, self.hi, np.inf))
        rounded = self.by_kind[Kind.FLOAT_GAUGE]
        self.state[rounded] = self._round(rounded, rng.uniform(self.lo[rounded], self.hi[rounded]))

    def _round(self, index: npt.NDArray[np.intp], values: F64Array) -> F64Array:
        out = values.copy()
        for decimals in np.unique(self.decimals[index]):
            if decimals >= 0:
                mask = self.decimals[index] == decimals
                out[mask] = np.round(values[mask], int(decimals))
        return out

    def step(self) -> F64Array:
        rng, state = self.rng, self.state
        index = self.by_kind[Kind.COUNTER]
        state[index] += rng.poisson(self.rate[index])
        index = self.by_kind[Kind.FLOAT_COUNTER]
        state[index] += self.rate[index] * rng.gamma(4.0, 0.25, index.size)
        index = self.by_kind[Kind.INT_GAUGE]
        step = np.rint(self.rate[index] * rng.uniform(-1, 1, index.size))
        state[index] = np.clip(state[index] + step, self.lo[index], self.hi[index])
        index = self.by_kind[Kind.FLOAT_GAUGE]
        moved = state[index] + self.rate[index] * rng.normal(0, 1, index.size)
        state[index] = self._round(index, np.clip(moved, self.lo[index], self.hi[index]))
        return state.copy()


@dataclass
class Group:
    """A fixed set of series sent together; a request is a group at one scrape round."""

    series: npt.NDArray[np.intp]
    template: SeriesTemplate
    phases: I64Array

    def render(self, round_ms: int, values: F64Array) -> bytes:
        return self.template.render(round_ms + self.phases, values[self.series])


class RemoteWriteWorkload:
    def __init__(self, series: int, batch: int, seed: int = 20240602) -> None:
        rng = np.random.default_rng(seed)
        builder = FleetBuilder(rng)
        self.nodes = max(1, math.ceil(series / (GPUS_PER_NODE * SERIES_PER_GPU)))
        for node in range(self.nodes):
            builder.node(node)
        self.specs = builder.series
        self.values = Values(self.specs, rng)
        labels = [encode_labels(s.labels) for s in self.specs]
        self.label_bytes = sum(len(b) for b in labels) / len(labels)
        # Each target is scraped at its own offset within the interval, as Prometheus spreads
        # its scrapes; whole milliseconds, as scrape timestamps are.
        target_phase = rng.integers(0, INTERVAL_MS, builder.targets)
        self.phases = target_phase[[s.target for s in self.specs]].astype(np.int64)
        order = rng.permutation(len(self.specs))
        count = max(1, round(len(self.specs) / batch))
        self.groups = [
            Group(group, SeriesTemplate([labels[i] for i in group], 1), self.phases[group])
            for group in np.array_split(order, count)
        ]
        self.base_ms = 0
        self.rounds = 0

    @property
    def series(self) -> int:
        return len(self.specs)

    def samples(self, index: int) -> int:
        return len(self.groups[index % len(self.groups)].series)

    def generate(self, rounds: int) -> list[bytes]:
        """Every group at every round; the last round ends just before now."""
        self.rounds = rounds
        now_ms = time.time_ns() // 1_000_000
        self.base_ms = (now_ms // INTERVAL_MS - rounds) * INTERVAL_MS
        payloads: list[bytes] = []
        for number in range(rounds):
            values = self.values.step()
            round_ms = self.base_ms + number * INTERVAL_MS
            payloads.extend(group.render(round_ms, values) for group in self.groups)
        return payloads

    def expected_per_timestamp(self, acked: Sequence[int]) -> dict[int, int]:
        """Samples each timestamp must hold: acknowledged requests' samples by timestamp."""
        per_group = [np.unique(g.phases, return_counts=True) for g in self.groups]
        times: list[I64Array] = []
        counts: list[npt.NDArray[np.int64]] = []
        for index in acked:
            phases, count = per_group[index % len(self.groups)]
            times.append(self.base_ms + (index // len(self.groups)) * INTERVAL_MS + phases)
            counts.append(count)
        if not times:
            return {}
        keys, inverse = np.unique(np.concatenate(times), return_inverse=True)
        sums = np.bincount(inverse, weights=np.concatenate(counts)).astype(np.int64)
        return dict(zip(keys.tolist(), sums.tolist(), strict=True))


def parse_only(payload: bytes) -> int:
    """Decompress, decode and walk every label and sample in Python; returns the samples."""
    request = parse_write_request(snappy_decompress(payload, 1 << 30))
    samples = 0
    for series in request.timeseries:
        _ = {label.name: label.value for label in series.labels}
        for sample in series.samples:
            _ = (sample.timestamp, sample.value)
            samples += 1
    return samples


def measure_parse_only(payloads: Sequence[bytes], seconds: float) -> float:
    samples = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for payload in payloads:
            samples += parse_only(payload)
    return samples / (time.perf_counter() - started)


def self_test(workload: RemoteWriteWorkload) -> None:
    """The hand-encoded requests decode with the server's own message classes."""
    group = workload.groups[0]
    values = np.arange(workload.series, dtype=np.float64) + 0.5
    request = parse_write_request(
        snappy_decompress(group.render(1_700_000_000_000, values), 1 << 30)
    )
    got = [(list(s.labels), s.samples[0].timestamp, s.samples[0].value) for s in request.timeseries]
    for (labels, stamp, value), index in zip(got, group.series, strict=True):
        spec = workload.specs[index]
        if [(p.name, p.value) for p in labels] != sorted(spec.labels):
            raise RuntimeError(f"labels of series {index} do not round-trip")
        if stamp != 1_700_000_000_000 + workload.phases[index] or value != index + 0.5:
            raise RuntimeError(f"sample of series {index} does not round-trip")


# --- running ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log("building the fleet ...")
    workload = RemoteWriteWorkload(args.series, args.batch)
    self_test(workload)
    log(f"{fmt_int(workload.series)} series in {len(workload.groups)} groups; measuring the "
        "parse-only ceiling ...")  # fmt: skip
    now_ms = time.time_ns() // 1_000_000
    sample = [g.render(now_ms, workload.values.state) for g in workload.groups[:16]]
    ceiling = measure_parse_only(sample, seconds=3.0)
    payloads = generate(workload, args, ceiling, len(sample[0]))
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-rw-"))
    server = Server(root)
    try:
        rows = run(server, workload, payloads, args, ceiling)
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept data dir and log under {root}")
    print_table("Prometheus remote-write ingest", rows)
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=2) + "\n")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--senders", type=int, default=8, help="concurrent connections")
    parser.add_argument("--batch", type=int, default=2000, help="samples per request")
    parser.add_argument(
        "--series", type=int, default=100_000,
        help=f"series in the fleet (rounded up to whole nodes of {GPUS_PER_NODE} GPUs, "
             f"{GPUS_PER_NODE * SERIES_PER_GPU} series each)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=0,
        help="scrape rounds to generate (default: enough for the duration, estimated from "
             "the parse-only rate)",
    )  # fmt: skip
    add_output_args(parser)
    return parser.parse_args(argv)


def generate(
    workload: RemoteWriteWorkload, args: argparse.Namespace, ceiling: float, payload_size: int
) -> list[bytes]:
    rounds = int(args.rounds)
    if rounds <= 0:
        # The server decodes in Python too: it cannot outrun a bare decode in one process.
        wanted = args.duration * ceiling / workload.series
        budget = args.payload_budget_mib * 1024**2 / (payload_size * len(workload.groups))
        if wanted > budget:
            log(f"payload budget allows {budget:.0f} rounds of the {wanted:.0f} wanted")
        rounds = max(1, math.ceil(min(wanted, budget)))
    started = time.perf_counter()
    payloads = workload.generate(rounds)
    size = sum(len(p) for p in payloads)
    log(f"generated {len(payloads)} payloads ({rounds} rounds), {size / 1024**2:,.0f} MiB, "
        f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return payloads


def run(
    server: Server,
    workload: RemoteWriteWorkload,
    payloads: Sequence[bytes],
    args: argparse.Namespace,
    ceiling: float,
) -> list[Row]:
    log(f"starting the server ({server.root}) ...")
    server.start()
    log(f"remote-writing for {args.duration:g} s with {args.senders} senders ...")
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    assert server.process is not None
    others = OtherCpu([server.process.pid])
    result = run_remote_write(server.http_port, payloads, args.senders, args.duration)
    cpu = (server.cpu_seconds() - server_cpu, time.process_time() - client_cpu, others.cores())
    exposition = get_text(server.http_port, "/metrics")
    log("stopping the server (SIGTERM) ...")
    stopped = server.stop()
    rows = workload_rows(workload, payloads)
    rows += load_rows(workload, result, args, len(payloads), ceiling)
    rows += [
        ("server CPU during load (cores busy)", f"{cpu[0] / result.elapsed:.2f}"),
        ("bench client CPU during load (cores busy)", f"{cpu[1] / result.elapsed:.2f}"),
        ("other processes' CPU during load (cores busy)", f"{cpu[2]:.2f}"),
    ]
    rows += self_metric_rows(exposition, result.elapsed)
    rows += server_rows(server, stopped)
    log("checking the store and measuring it on disk ...")
    store = StoreReader(server.data_dir)
    try:
        rows += store_rows(store, workload, result.acked)
        rows += disk_rows(store)
    finally:
        store.close()
    return rows


def workload_rows(workload: RemoteWriteWorkload, payloads: Sequence[bytes]) -> list[Row]:
    compressed = sum(len(p) for p in payloads) / len(payloads)
    raw = sum(len(g.template.data) for g in workload.groups) / len(workload.groups)
    return [
        ("fleet: nodes / GPUs / series",
         f"{workload.nodes} / {workload.nodes * GPUS_PER_NODE} / {fmt_int(workload.series)}"),
        ("request: samples / bytes protobuf / bytes snappy",
         f"{fmt_int(workload.samples(0))} / {fmt_int(raw)} / {fmt_int(compressed)}"),
        ("mean encoded labels per series", f"{workload.label_bytes:,.0f} bytes"),
        ("scrape rounds generated (15 s apart)", fmt_int(workload.rounds)),
    ]  # fmt: skip


def load_rows(
    workload: RemoteWriteWorkload,
    result: LoadResult,
    args: argparse.Namespace,
    generated: int,
    ceiling: float,
) -> list[Row]:
    samples = sum(workload.samples(i) for i in result.acked)
    throughput = rate(samples, result.elapsed)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(result.errors.items())) or "none"
    refusals = ", ".join(f"{k}: {v}" for k, v in sorted(result.refusals.items()))
    rows: list[Row] = [
        ("senders", str(args.senders)),
        ("elapsed (last answer)", f"{result.elapsed:.1f} s"),
        ("payloads generated / sent", f"{fmt_int(generated)} / {fmt_int(result.taken)}"),
        ("requests acknowledged", fmt_int(len(result.acked))),
        ("requests/s", f"{rate(len(result.acked), result.elapsed):,.1f}"),
        ("samples acknowledged", fmt_int(samples)),
        ("samples/s", fmt_int(throughput)),
        ("latency p50 / p99 / max",
         " / ".join(fmt_ms(percentile(result.latencies, q)) for q in (50, 99, 100))),
        ("refused answers (429/503)",
         fmt_int(result.refused) + (f" ({refusals})" if refusals else "")),
        ("payloads abandoned after refusals", fmt_int(result.abandoned)),
        ("other failures", errors),
        ("parse-only ceiling, samples/s (1 process)", fmt_int(ceiling)),
        ("throughput / parse-only ceiling", percent(throughput, ceiling)),
    ]  # fmt: skip
    if result.exhausted:
        rows.append(("WARNING", "ran out of payloads before the deadline: raise --rounds"))
    return rows


def self_metric_rows(exposition: str, elapsed: float) -> list[Row]:
    accepted = self_metric(exposition, "observatory_accepted_items_total", "metrics")
    commits = self_metric(exposition, "observatory_batch_commit_seconds_count", "metrics")
    commit_time = self_metric(exposition, "observatory_batch_commit_seconds_sum", "metrics")
    batch_items = self_metric(exposition, "observatory_batch_items_sum", "metrics")
    return [
        ("server: samples accepted (its /metrics)", fmt_int(accepted)),
        ("server: commits, mean samples / mean time",
         f"{fmt_int(commits)}, {fmt_int(rate(batch_items, commits))} / "
         f"{fmt_ms(rate(commit_time, commits))}"),
        ("server: share of wall time committing", percent(commit_time, elapsed)),
    ]  # fmt: skip


def server_rows(server: Server, stopped: StopResult) -> list[Row]:
    problems = server.log_problems()
    rows: list[Row] = [
        ("server RSS at ready / peak",
         f"{fmt_mib(server.rss_at_ready)} / {fmt_mib(server.rss_peak)}"),
        ("server stop (SIGTERM to exit)",
         f"{stopped.seconds:.1f} s, exit code {stopped.exit_code}"
         + (" (killed after timeout)" if stopped.killed else "")),
        ("server log warnings/errors", fmt_int(len(problems))),
    ]  # fmt: skip
    seen: set[str] = set()
    for line in problems:
        text = line.split(" ", 2)[-1]  # timestamps make every line distinct
        if text not in seen and len(seen) < 5:
            seen.add(text)
            rows.append((f"  log line {len(seen)}", line[:160]))
    return rows


def store_rows(
    store: StoreReader, workload: RemoteWriteWorkload, acked: Sequence[int]
) -> list[Row]:
    raw = store.raw(
        "SELECT toInt64(toUnixTimestamp64Milli(timestamp)) AS t, count(), uniqExact(fingerprint) "
        "FROM samples GROUP BY t"
    )
    table = np.frombuffer(raw, dtype=[("t", "<i8"), ("rows", "<u8"), ("distinct", "<u8")])
    stored = {int(t): (int(r), int(d)) for t, r, d in table}
    expected = workload.expected_per_timestamp(acked)
    want = sum(expected.values())
    found = sum(min(stored.get(t, (0, 0))[1], n) for t, n in expected.items())
    duplicates = sum(r - d for r, d in stored.values())
    extra = sum(max(0, d - expected.get(t, 0)) for t, (_, d) in stored.items())
    rows = int(store.scalar("SELECT count() FROM samples"))
    series = int(store.scalar("SELECT uniqExact(fingerprint) FROM samples"))
    return [
        ("store: rows in samples (count())", fmt_int(rows)),
        ("store: acknowledged samples found",
         f"{fmt_int(found)} / {fmt_int(want)} ({percent(found, want)})"),
        ("store: acknowledged samples missing", fmt_int(want - found)),
        ("store: samples stored more than once (extra rows)", fmt_int(duplicates)),
        ("store: samples stored but not acknowledged", fmt_int(extra)),
        ("store: distinct series / fleet", f"{fmt_int(series)} / {fmt_int(workload.series)}"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
