"""Shared machinery of the ingest benchmarks.

A server under test in its own process and data dir, a closed-loop load generator over
plain `http.client` connections, distinct payloads stamped out of serialized templates, the
store check after the run, and the results table.

The machine is small (client and server share two cores), so everything on the client side
that can be done before the clock starts is done before it starts.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import psutil

HOST = "127.0.0.1"
PROTOBUF = "application/x-protobuf"
Row = tuple[str, str]
U64Array = npt.NDArray[np.uint64]

# A payload refused after the deadline is retried for this long at most, so a server that
# keeps refusing cannot hold the run open forever.
RETRY_GRACE_SECONDS = 15.0
# Generated payloads stay in memory for the whole run, next to the server's own memory: the
# default cap leaves most of a 24 GiB machine alone.
DEFAULT_PAYLOAD_BUDGET_BYTES = 2 * 1024**3


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)


# --- the server under test -------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    # Holding every socket open until all are bound keeps the ports distinct.
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class RssSampler(threading.Thread):
    """Samples a process's resident memory every `interval` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stopped = threading.Event()
        self.peak = 0
        self.last = 0

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.last = self._process.memory_info().rss
            self.peak = max(self.peak, self.last)

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.sample()

    def stop(self) -> None:
        self._stopped.set()
        self.join()


@dataclass(frozen=True)
class StopResult:
    exit_code: int | None
    seconds: float
    killed: bool


class Server:
    """`observatory serve` on free loopback ports with a data dir of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log_path = root / "server.log"
        self.http_port, self.grpc_port, self.otlp_http_port = free_ports(3)
        self.process: subprocess.Popen[bytes] | None = None
        self.rss: RssSampler | None = None
        self.rss_at_ready = 0

    def command(self) -> list[str]:
        script = Path(sys.executable).parent / "observatory"
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "observatory.cli"]
        return [
            *launcher, "serve",
            "--data-dir", str(self.data_dir),
            "--http-port", str(self.http_port),
            "--otlp-grpc-port", str(self.grpc_port),
            "--otlp-http-port", str(self.otlp_http_port),
        ]  # fmt: skip

    def start(self, timeout: float = 120.0) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command(), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready(timeout)
        self.rss = RssSampler(self.process.pid)
        self.rss.sample()
        self.rss_at_ready = self.rss.last
        self.rss.start()

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log_tail()}")
            if _get_status(self.http_port, "/ready") == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process, all its threads."""
        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    @property
    def rss_peak(self) -> int:
        return self.rss.peak if self.rss else 0

    def stop(self, timeout: float = 300.0) -> StopResult:
        """SIGTERM, then wait: the server commits what it acknowledged before it exits."""
        assert self.process is not None
        started = time.perf_counter()
        killed = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                killed = True
        if self.rss is not None:
            self.rss.stop()
        return StopResult(self.process.returncode, time.perf_counter() - started, killed)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.rss is not None and self.rss.is_alive():
            self.rss.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Warnings, errors and tracebacks (as their exception line) in the server's log."""
        problems: list[str] = []
        lines = self.log_text().splitlines()
        for number, line in enumerate(lines):
            if line.startswith("Traceback"):
                problems.append("Traceback: " + _exception_line(lines, number))
            elif line.startswith(_LEVEL_PREFIXES) or any(m in line for m in _LEVEL_MARKERS):
                problems.append(line)
        return problems


# Uvicorn's own lines start with the level; the server's carry it after the time.
_LEVEL_PREFIXES = ("WARNING:", "ERROR:", "CRITICAL:")
_LEVEL_MARKERS = (" WARNING ", " ERROR ", " CRITICAL ")


def _exception_line(lines: list[str], start: int) -> str:
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            return line
    return "(log ends inside the traceback)"


def get_json(port: int, path: str) -> tuple[int, Any]:
    """A GET on the API: the status and the decoded JSON body (the text if not JSON)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body.decode(errors="replace")


def get_text(port: int, path: str) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode(errors="replace")
    finally:
        conn.close()


def self_metric(exposition: str, name: str, signal: str) -> float:
    """The sum of a metric's samples for one signal in Prometheus text; NaN if absent."""
    total, seen = 0.0, False
    for line in exposition.splitlines():
        if line.startswith(name + "{") and f'signal="{signal}"' in line:
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else math.nan


def _get_status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# --- payloads ---------------------------------------------------------------------------


class Template:
    """A serialized payload whose placeholders are overwritten to stamp out distinct copies.

    Building and serializing protobuf messages costs milliseconds per payload; copying bytes
    and overwriting a few hundred fixed-width ids costs a fraction of that, so thousands of
    distinct payloads are ready in seconds. Placeholders are random, so they occur nowhere
    else in the bytes; each may occur several times (a span id is also its children's
    parent id) and every occurrence gets the same new value.
    """

    def __init__(self, data: bytes, placeholders: Sequence[bytes]) -> None:
        self.data = data
        self.slots: list[tuple[tuple[int, ...], int]] = []
        for placeholder in placeholders:
            offsets = tuple(_find_all(data, placeholder))
            if not offsets:
                raise ValueError(f"placeholder {placeholder.hex()} is not in the template")
            self.slots.append((offsets, len(placeholder)))

    def render(self, values: Sequence[bytes]) -> bytes:
        buffer = bytearray(self.data)
        for (offsets, width), value in zip(self.slots, values, strict=True):
            if len(value) != width:
                raise ValueError(f"value of {len(value)} bytes for a {width}-byte slot")
            for offset in offsets:
                buffer[offset : offset + width] = value
        return bytes(buffer)


def _find_all(data: bytes, needle: bytes) -> Iterator[int]:
    start = data.find(needle)
    while start != -1:
        yield start
        start = data.find(needle, start + 1)


def unique_placeholder(rng: np.random.Generator, width: int, taken: set[bytes]) -> bytes:
    while True:
        value = rng.bytes(width)
        if value not in taken:
            taken.add(value)
            return value


# --- the closed-loop load generator ---------------------------------------------------


@dataclass
class SenderStats:
    acked: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    refusals: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    abandoned: int = 0
    taken: int = 0
    exhausted: bool = False


@dataclass(frozen=True)
class LoadResult:
    elapsed: float
    acked: list[int]
    latencies: list[float]
    refusals: Counter[int]
    errors: Counter[str]
    abandoned: int
    taken: int
    exhausted: bool

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())


class _Sender(threading.Thread):
    """One client: its own connection, taking the next payload as soon as one is answered."""

    def __init__(self, name: str, target: _LoadTarget, next_index: Callable[[], int]) -> None:
        super().__init__(name=name, daemon=True)
        self.target = target
        self.next_index = next_index
        self.stats = SenderStats()
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.target.port, timeout=300)

    def run(self) -> None:
        try:
            while time.perf_counter() < self.target.deadline:
                index = self.next_index()
                if index >= len(self.target.payloads):
                    self.stats.exhausted = True
                    return
                self.stats.taken += 1
                self._deliver(index)
        finally:
            self.conn.close()

    def _deliver(self, index: int) -> None:
        """Send one payload until it is acknowledged, fails, or the grace period ends."""
        body = self.target.payloads[index]
        give_up = self.target.deadline + RETRY_GRACE_SECONDS
        reconnected = False
        while True:
            try:
                status, retry_after, elapsed = self._post(body)
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = self._connect()
                # A kept-alive connection the server closed while idle fails before the
                # request is read; once is worth a retry, twice is a real failure.
                if reconnected:
                    self.stats.errors[type(exc).__name__] += 1
                    return
                reconnected = True
                continue
            if status == 200:
                self.stats.acked.append(index)
                self.stats.latencies.append(elapsed)
                return
            if status in (429, 503):
                self.stats.refusals[status] += 1
                if time.perf_counter() + retry_after > give_up:
                    self.stats.abandoned += 1
                    return
                time.sleep(retry_after)
                continue
            self.stats.errors[f"HTTP {status}"] += 1
            return

    def _post(self, body: bytes) -> tuple[int, float, float]:
        started = time.perf_counter()
        self.conn.request("POST", self.target.path, body, self.target.headers)
        response = self.conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        return response.status, _retry_after(response.getheader("Retry-After")), elapsed


@dataclass(frozen=True)
class _LoadTarget:
    port: int
    path: str
    payloads: Sequence[bytes]
    deadline: float
    headers: dict[str, str]


def _retry_after(header: str | None) -> float:
    if header is None:
        return 1.0
    try:
        return max(0.0, float(header))
    except ValueError:
        return 1.0  # an HTTP date; the server sends seconds, so this is only a fallback


def run_load(
    port: int, path: str, payloads: Sequence[bytes], senders: int, duration: float
) -> LoadResult:
    """Closed loop: each sender has one request in flight; new payloads stop at the deadline.

    Every payload is sent by exactly one sender (a shared counter hands them out), so an
    acknowledged payload is acknowledged once and the store check can count duplicates.
    """
    counter = itertools.count()
    started = time.perf_counter()
    target = _LoadTarget(port, path, payloads, started + duration, {"Content-Type": PROTOBUF})
    # itertools.count's __next__ is atomic under the GIL: no lock needed.
    threads = [_Sender(f"sender-{i}", target, counter.__next__) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _merge([t.stats for t in threads], time.perf_counter() - started)


def _merge(stats: list[SenderStats], elapsed: float) -> LoadResult:
    refusals: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for s in stats:
        refusals.update(s.refusals)
        errors.update(s.errors)
    return LoadResult(
        elapsed=elapsed,
        acked=sorted(i for s in stats for i in s.acked),
        latencies=[x for s in stats for x in s.latencies],
        refusals=refusals,
        errors=errors,
        abandoned=sum(s.abandoned for s in stats),
        taken=sum(s.taken for s in stats),
        exhausted=any(s.exhausted for s in stats),
    )


# --- figures ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def fmt_mib(value: float) -> str:
    return f"{value / 1024**2:,.0f} MiB"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def print_table(title: str, rows: Sequence[Row]) -> None:
    width = max(len(name) for name, _ in rows)
    value_width = max(len(value) for _, value in rows)
    rule = "-" * (width + value_width + 3)
    print(f"\n{title}\n{rule}")
    for name, value in rows:
        print(f"{name:<{width}} | {value}")
    print(rule)


# --- the store check --------------------------------------------------------------------


@dataclass(frozen=True)
class IdCheck:
    """Acknowledged ids against stored ids; acknowledged ids are distinct by construction."""

    acknowledged: int
    found: int
    duplicates: int
    unexpected: int

    def rows(self, item: str) -> list[Row]:
        return [
            (f"{item} found in store / acknowledged",
             f"{fmt_int(self.found)} / {fmt_int(self.acknowledged)} "
             f"({percent(self.found, self.acknowledged)})"),
            (f"{item} missing from store", fmt_int(self.acknowledged - self.found)),
            (f"{item} stored more than once (extra rows)", fmt_int(self.duplicates)),
            (f"{item} stored but not acknowledged", fmt_int(self.unexpected)),
        ]  # fmt: skip


def compare_ids(acknowledged: U64Array, stored: U64Array) -> IdCheck:
    distinct, counts = np.unique(stored, return_counts=True)
    return IdCheck(
        acknowledged=int(acknowledged.size),
        found=int(np.isin(acknowledged, distinct).sum()),
        duplicates=int((counts - 1).sum()),
        unexpected=int((~np.isin(distinct, acknowledged)).sum()),
    )


def consecutive_ids(acked: Sequence[int], per_payload: int, base: int) -> U64Array:
    """Ids of the items of the acknowledged payloads, when payload p holds items
    base + p * per_payload ... base + (p + 1) * per_payload - 1."""
    starts = np.asarray(acked, dtype=np.uint64) * np.uint64(per_payload) + np.uint64(base)
    offsets = np.arange(per_payload, dtype=np.uint64)
    return (starts[:, None] + offsets[None, :]).ravel()


class StoreReader:
    """The server's data dir opened in this process; only once the server has exited."""

    def __init__(self, data_dir: Path) -> None:
        import chdb  # the server imports it as well; loading it here only when needed

        self._conn: Any = chdb.connect(str(data_dir))  # type: ignore[no-untyped-call]

    def raw(self, sql: str) -> bytes:
        """The query's result in RowBinary: fixed-width columns come back as packed bytes."""
        result = self._conn.query(sql, "RowBinary")
        data: bytes = result.bytes()
        return data

    def scalar(self, sql: str) -> str:
        return str(self._conn.query(sql, "CSV")).strip()

    def close(self) -> None:
        self._conn.close()


# --- the benchmark driver ---------------------------------------------------------------


class Workload(Protocol):
    """What one benchmark script supplies; the driver does the rest."""

    path: str  # the OTLP/HTTP route, e.g. /v1/traces
    item: str  # what one item is called in the results, e.g. "spans"

    def payload(self, index: int) -> bytes:
        """The index-th distinct payload; the same index gives the same payload."""

    def items(self, index: int) -> int:
        """Items in the index-th payload."""

    def self_test(self) -> None:
        """Raise if stamped payloads do not carry the ids the store check expects."""

    def parse_only(self, payload: bytes) -> int:
        """Decode the payload in pure Python, touching every item; returns the items."""

    def load_rows(self, acked: Sequence[int], elapsed: float) -> list[Row]:
        """Figures of the run beyond acknowledged items per second."""

    def api_check(self, port: int, acked: Sequence[int]) -> list[Row]:
        """Read a few acknowledged items back through the running server's API."""

    def check(self, store: StoreReader, acked: Sequence[int]) -> list[Row]:
        """Are the acknowledged payloads' items in the store, once each?"""


def add_common_args(parser: argparse.ArgumentParser, batch: int, batch_help: str) -> None:
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--senders", type=int, default=8, help="concurrent connections")
    parser.add_argument("--batch", type=int, default=batch, help=batch_help)
    parser.add_argument(
        "--payloads", type=int, default=0,
        help="distinct payloads to generate (default: enough for the duration, estimated "
             "from the parse-only rate)",
    )  # fmt: skip
    add_output_args(parser)


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """The payload memory cap, `--json` and `--keep`, shared by every ingest benchmark."""
    parser.add_argument(
        "--payload-budget-mib", type=int, default=DEFAULT_PAYLOAD_BUDGET_BYTES // 1024**2,
        help="cap on the memory held by generated payloads",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")


def measure_parse_only(workload: Workload, payloads: Sequence[bytes], seconds: float) -> float:
    """Items per second of decoding in pure Python in this one process."""
    items = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for payload in payloads:
            items += workload.parse_only(payload)
        elapsed = time.perf_counter() - started
    return items / elapsed


def payload_count(args: argparse.Namespace, workload: Workload, ceiling: float) -> int:
    if args.payloads > 0:
        return int(args.payloads)
    sample = workload.payload(0)
    # A server that decodes in Python cannot outrun a bare decode in one process: the ceiling
    # for the whole duration is more than it will take. A faster one exhausts the payloads,
    # which the results say.
    wanted = math.ceil(float(args.duration) * ceiling / max(1, workload.items(0)))
    budget = int(args.payload_budget_mib) * 1024**2 // max(1, len(sample))
    if wanted > budget:
        log(f"payload budget allows {budget} payloads of the {wanted} wanted")
    return max(int(args.senders) * 4, min(wanted, budget))


def generate(workload: Workload, count: int) -> list[bytes]:
    started = time.perf_counter()
    payloads = [workload.payload(i) for i in range(count)]
    size = sum(len(p) for p in payloads)
    log(f"generated {count} payloads, {size / 1024**2:,.0f} MiB, "
        f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return payloads


def run_benchmark(title: str, workload: Workload, args: argparse.Namespace) -> list[Row]:
    """Generate, measure the parse-only ceiling, load a fresh server, stop it, check the store."""
    workload.self_test()
    sample = [workload.payload(i) for i in range(16)]
    log("measuring the parse-only ceiling ...")
    ceiling = measure_parse_only(workload, sample, seconds=3.0)
    payloads = generate(workload, payload_count(args, workload, ceiling))
    root = Path(tempfile.mkdtemp(prefix="observatory-bench-"))
    server = Server(root)
    try:
        rows = _run_against(server, workload, payloads, args, ceiling)
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep:
        log(f"kept data dir and log under {root}")
    print_table(title, rows)
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=2) + "\n")
    return rows


def _run_against(
    server: Server,
    workload: Workload,
    payloads: Sequence[bytes],
    args: argparse.Namespace,
    ceiling: float,
) -> list[Row]:
    log(f"starting the server ({server.root}) ...")
    server.start()
    log(f"loading {workload.path} for {args.duration:g} s with {args.senders} senders ...")
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    result = run_load(server.otlp_http_port, workload.path, payloads, args.senders, args.duration)
    cpu_rows: list[Row] = [
        ("server CPU during load (cores busy)",
         f"{(server.cpu_seconds() - server_cpu) / result.elapsed:.2f}"),
        ("bench client CPU during load (cores busy)",
         f"{(time.process_time() - client_cpu) / result.elapsed:.2f}"),
    ]  # fmt: skip
    api_rows = workload.api_check(server.http_port, result.acked)
    try:
        exposition = get_text(server.http_port, "/metrics")
    except (OSError, http.client.HTTPException) as exc:
        api_rows.append(("server /metrics", f"unreachable: {exc!r}"))
    else:
        api_rows += _self_metric_rows(exposition, workload, result)
    log("stopping the server (SIGTERM) ...")
    stopped = server.stop()
    rows = _load_rows(workload, result, args, len(payloads), ceiling)
    rows += [*cpu_rows, *api_rows, *_server_rows(server, stopped)]
    log("checking the store ...")
    store = StoreReader(server.data_dir)
    try:
        rows += workload.check(store, result.acked)
    finally:
        store.close()
    return rows


def _load_rows(
    workload: Workload,
    result: LoadResult,
    args: argparse.Namespace,
    generated: int,
    ceiling: float,
) -> list[Row]:
    items = sum(workload.items(i) for i in result.acked)
    throughput = rate(items, result.elapsed)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(result.errors.items())) or "none"
    refusals = ", ".join(f"{k}: {v}" for k, v in sorted(result.refusals.items()))
    rows: list[Row] = [
        ("senders / items per request", f"{args.senders} / {fmt_int(workload.items(0))}"),
        ("elapsed (last answer)", f"{result.elapsed:.1f} s"),
        ("payloads generated / sent", f"{fmt_int(generated)} / {fmt_int(result.taken)}"),
        ("requests acknowledged", fmt_int(len(result.acked))),
        ("requests/s", f"{rate(len(result.acked), result.elapsed):,.1f}"),
        (f"{workload.item} acknowledged", fmt_int(items)),
        (f"{workload.item}/s", fmt_int(throughput)),
        *workload.load_rows(result.acked, result.elapsed),
        ("latency p50 / p99 / max",
         " / ".join(fmt_ms(percentile(result.latencies, q)) for q in (50, 99, 100))),
        ("refused answers (429/503)",
         f"{fmt_int(result.refused)}" + (f" ({refusals})" if refusals else "")),
        ("payloads abandoned after refusals", fmt_int(result.abandoned)),
        ("other failures", errors),
        (f"parse-only ceiling, {workload.item}/s (1 process)", fmt_int(ceiling)),
        ("throughput / parse-only ceiling", percent(throughput, ceiling)),
    ]  # fmt: skip
    if result.exhausted:
        rows.append(("WARNING", "ran out of payloads before the deadline: raise --payloads"))
    return rows


def _self_metric_rows(exposition: str, workload: Workload, result: LoadResult) -> list[Row]:
    """The server's own account of the run, from its /metrics."""
    signal = workload.path.rsplit("/", 1)[-1]
    accepted = self_metric(exposition, "observatory_accepted_items_total", signal)
    commits = self_metric(exposition, "observatory_batch_commit_seconds_count", signal)
    commit_time = self_metric(exposition, "observatory_batch_commit_seconds_sum", signal)
    batch_items = self_metric(exposition, "observatory_batch_items_sum", signal)
    refused = self_metric(exposition, "observatory_refused_items_total", signal)
    return [
        ("server: items accepted (its /metrics)", fmt_int(accepted)),
        ("server: items refused (its /metrics)", fmt_int(0 if math.isnan(refused) else refused)),
        ("server: commits, mean items / mean time",
         f"{fmt_int(commits)}, {fmt_int(rate(batch_items, commits))} / "
         f"{fmt_ms(rate(commit_time, commits))}"),
        ("server: share of wall time committing", percent(commit_time, result.elapsed)),
    ]  # fmt: skip


def _server_rows(server: Server, stopped: StopResult) -> list[Row]:
    problems = server.log_problems()
    rows: list[Row] = [
        ("server RSS at ready / peak", f"{fmt_mib(server.rss_at_ready)} / "
                                       f"{fmt_mib(server.rss_peak)}"),
        ("server stop (SIGTERM to exit)",
         f"{stopped.seconds:.1f} s, exit code {stopped.exit_code}"
         + (" (killed after timeout)" if stopped.killed else "")),
        ("server log warnings/errors", fmt_int(len(problems))),
    ]  # fmt: skip
    for number, line in enumerate(_distinct(problems)[:5], start=1):
        rows.append((f"  log line {number}", line[:160]))
    return rows


def _distinct(lines: list[str]) -> list[str]:
    # Timestamps make every line unique; compare what follows them.
    seen: dict[str, str] = {}
    for line in lines:
        seen.setdefault(line.split(" ", 2)[-1], line)
    return list(seen.values())


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"
