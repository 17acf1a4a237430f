"""Shared pieces of the Prometheus-side benchmarks (remote write and PromQL).

Remote-write 1.0 `WriteRequest`s are encoded here with numpy rather than with protobuf
message objects: building one `Sample` message per sample costs about a microsecond in
Python, tens of seconds for the tens of millions of samples a PromQL data set holds, while a
sample's wire form has a fixed width (18 bytes while timestamps need a 6-byte varint, i.e.
between 2^35 and 2^42 ms: 1971 to 2109) and whole blocks of them are written at once.
`observatory.receivers.prompb` decodes the result in the self-tests, so the hand encoding is
checked against the server's own message classes.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import cramjam
import numpy as np
import numpy.typing as npt
import psutil

from _harness import (
    HOST,
    PROTOBUF,
    LoadResult,
    Row,
    StoreReader,
    _LoadTarget,
    _merge,
    _Sender,
    fmt_mib,
)

WRITE_PATH = "/api/v1/write"
WRITE_HEADERS = {
    "Content-Type": PROTOBUF,
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
Labels = Sequence[tuple[str, str]]
U8Array = npt.NDArray[np.uint8]

# Field tags: WriteRequest.timeseries (1) and TimeSeries.labels (1) / Label.name (1) are all
# length-delimited field 1; Label.value and TimeSeries.samples are length-delimited field 2;
# Sample.value is a fixed64 field 1 and Sample.timestamp a varint field 2.
_TAG_1_BYTES = 0x0A
_TAG_2_BYTES = 0x12
_TAG_VALUE = 0x09
_TAG_TIMESTAMP = 0x10
_TIMESTAMP_VARINT_BYTES = 6
_SAMPLE_BODY_BYTES = 1 + 8 + 1 + _TIMESTAMP_VARINT_BYTES
SAMPLE_BYTES = 2 + _SAMPLE_BODY_BYTES  # tag and length of the embedded Sample, then its body
# The 16-byte content of a Sample: 0x09, the double, 0x10, the timestamp varint.
SAMPLE_CONTENT_OFFSET = 2


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + varint(len(body)) + body


def encode_labels(labels: Labels) -> bytes:
    """The TimeSeries.labels fields, sorted by name as Prometheus sends them."""
    parts = []
    for name, value in sorted(labels):
        label = _length_delimited(_TAG_1_BYTES, name.encode())
        label += _length_delimited(_TAG_2_BYTES, value.encode())
        parts.append(_length_delimited(_TAG_1_BYTES, label))
    return b"".join(parts)


def encode_samples(times_ms: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> U8Array:
    """One row of SAMPLE_BYTES per sample: the TimeSeries.samples field, ready to concatenate."""
    times = np.asarray(times_ms, dtype=np.uint64)
    if times.size and (int(times.min()) >> 35 == 0 or int(times.max()) >> 42 != 0):
        raise ValueError("timestamps outside 1971..2109 do not fit a 6-byte varint")
    out = np.empty((times.size, SAMPLE_BYTES), dtype=np.uint8)
    out[:, 0] = _TAG_2_BYTES
    out[:, 1] = _SAMPLE_BODY_BYTES
    out[:, 2] = _TAG_VALUE
    out[:, 3:11] = np.asarray(values, dtype="<f8").view(np.uint8).reshape(-1, 8)
    out[:, 11] = _TAG_TIMESTAMP
    for k in range(_TIMESTAMP_VARINT_BYTES):
        byte = (times >> np.uint64(7 * k)) & np.uint64(0x7F)
        if k < _TIMESTAMP_VARINT_BYTES - 1:
            byte |= np.uint64(0x80)
        out[:, 12 + k] = byte.astype(np.uint8)
    return out


def encode_series(labels: bytes, samples: U8Array) -> bytes:
    """One WriteRequest.timeseries field: pre-encoded labels and a block of encoded samples."""
    return _length_delimited(_TAG_1_BYTES, labels + samples.tobytes())


class SeriesTemplate:
    """A WriteRequest of fixed series, `per_series` samples each, whose samples are overwritten.

    The labels are encoded once; each request made from the template costs a copy of the
    bytes and one vectorized write of its samples.
    """

    def __init__(self, labels: Sequence[bytes], per_series: int) -> None:
        parts: list[bytes] = []
        offsets: list[int] = []
        position = 0
        placeholder = bytes(SAMPLE_BYTES * per_series)
        for encoded in labels:
            head = bytes([_TAG_1_BYTES]) + varint(len(encoded) + len(placeholder))
            parts.append(head + encoded + placeholder)
            offsets.append(position + len(head) + len(encoded))
            position += len(head) + len(encoded) + len(placeholder)
        self.data = np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
        # Byte positions of every sample's encoding, series after series.
        within = np.arange(SAMPLE_BYTES * per_series)
        self.slots = (np.asarray(offsets, dtype=np.intp)[:, None] + within).reshape(-1)

    def render(self, times_ms: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> bytes:
        """The snappy-compressed request; times and values series-major, sample-minor."""
        buffer = self.data.copy()
        buffer[self.slots] = encode_samples(times_ms.reshape(-1), values.reshape(-1)).reshape(-1)
        return compress(buffer.tobytes())


def compress(request: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(request))


class _RemoteWriteSender(_Sender):
    """The harness's sender, for a receiver that acknowledges with 204 No Content."""

    def _post(self, body: bytes) -> tuple[int, float, float]:
        status, retry_after, elapsed = super()._post(body)
        # The harness counts 200 as acknowledged; remote write's success is 204.
        return (200 if status == 204 else status), retry_after, elapsed


def run_remote_write(
    port: int, payloads: Sequence[bytes], senders: int, duration: float
) -> LoadResult:
    """The harness's closed loop, with the remote-write route, headers and answer.

    `_harness.run_load` sends only a Content-Type and counts only 200 as success; remote
    write also needs the snappy Content-Encoding and answers 204.
    """
    counter = itertools.count()
    started = time.perf_counter()
    target = _LoadTarget(port, WRITE_PATH, payloads, started + duration, WRITE_HEADERS)
    threads = [_RemoteWriteSender(f"sender-{i}", target, counter.__next__) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _merge([t.stats for t in threads], time.perf_counter() - started)


class ApiClient:
    """GETs on one Prometheus-compatible HTTP API over a kept-alive connection."""

    def __init__(self, port: int, timeout: float = 300.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def get(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        url = f"{path}?{urlencode(params)}"
        for attempt in range(2):
            try:
                self._conn.request("GET", url)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                # A kept-alive connection closed by the server while idle: reconnect once.
                self._conn.close()
                self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        status, body = self.get(path, params)
        return status, json.loads(body)

    def close(self) -> None:
        self._conn.close()


class OtherCpu:
    """CPU time spent on the machine by processes other than this one and the given ones.

    The machine may be shared (a test suite started by someone else): a figure taken while
    other processes kept a core busy says so next to it.
    """

    def __init__(self, pids: Sequence[int]) -> None:
        self._processes = [psutil.Process(), *(psutil.Process(pid) for pid in pids)]
        self._started = time.perf_counter()
        self._before = self._others()

    def _others(self) -> float:
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        ours = 0.0
        for process in self._processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                ours += times.user + times.system
        return busy - ours

    def cores(self) -> float:
        """Mean cores busy with other processes since this object was made."""
        elapsed = time.perf_counter() - self._started
        return max(0.0, self._others() - self._before) / elapsed if elapsed > 0 else 0.0


# --- the store on disk ------------------------------------------------------------------


def table_bytes(store: StoreReader, table: str) -> int:
    return int(
        store.scalar(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active "
            f"AND database = currentDatabase() AND table = '{table}'"
        )
    )


def column_bytes(store: StoreReader, table: str) -> list[tuple[str, int]]:
    """Compressed bytes of each column of the table's active parts."""
    csv = store.scalar(
        "SELECT column, sum(column_data_compressed_bytes) FROM system.parts_columns "
        f"WHERE active AND database = currentDatabase() AND table = '{table}' "
        "GROUP BY column ORDER BY column"
    )
    rows = (line.rsplit(",", 1) for line in csv.splitlines() if line)
    return [(name.strip('"'), int(size)) for name, size in rows]


def disk_rows(store: StoreReader) -> list[Row]:
    """Bytes per sample as the server's merges left them, then after OPTIMIZE ... FINAL."""
    rows = int(store.scalar("SELECT count() FROM samples"))
    series = int(store.scalar("SELECT uniqExact(fingerprint) FROM samples"))
    before = table_bytes(store, "samples")
    started = time.perf_counter()
    store.scalar("OPTIMIZE TABLE samples FINAL")
    store.scalar("OPTIMIZE TABLE series FINAL")
    optimize = time.perf_counter() - started
    after = {table: table_bytes(store, table) for table in ("samples", "series")}
    parts = store.scalar(
        "SELECT count() FROM system.parts WHERE active AND table = 'samples' "
        "AND database = currentDatabase()"
    )
    out: list[Row] = [
        ("disk: rows in samples, series, mean samples per series",
         f"{rows:,}, {series:,}, {rows / max(1, series):,.1f}"),
        ("disk: samples table, bytes/sample (server's merges)",
         f"{before / rows:.2f} ({fmt_mib(before)})"),
        ("disk: samples table, bytes/sample after OPTIMIZE FINAL",
         f"{after['samples'] / rows:.2f} ({fmt_mib(after['samples'])}, {parts} parts, "
         f"OPTIMIZE took {optimize:.1f} s)"),
        ("disk: samples + series tables, bytes/sample after OPTIMIZE",
         f"{(after['samples'] + after['series']) / rows:.2f} "
         f"(series table {fmt_mib(after['series'])})"),
    ]  # fmt: skip
    columns = column_bytes(store, "samples")
    # Compact parts (under 10 MiB) keep all columns in one file and report no column sizes.
    if not sum(size for _, size in columns):
        return [*out, ("  per column", "not known: the part is in the compact format")]
    for name, size in columns:
        out.append((f"  column {name}, compressed bytes/sample", f"{size / rows:.3f}"))
    return out
