"""Prometheus remote write and the Pushgateway API against the real server, rows checked in the
store after a clean stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cramjam
import httpx

from observatory.receivers import prompb
from observatory.signals.metrics import STALE_NAN, STALE_NAN_BITS
from tests.server import ServerProcess, query_store

REMOTE_WRITE = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
# Recent: retention drops samples older than its window as soon as they land.
NOW_MS = int(time.time() * 1000)

SAMPLES_SQL = (
    "SELECT s.metric_name AS name, toUnixTimestamp64Milli(s.timestamp) AS ts, "
    "reinterpretAsUInt64(s.value) AS bits, s.value AS value, r.labels AS labels "
    "FROM samples AS s INNER JOIN (SELECT fingerprint, any(labels) AS labels FROM series "
    "WHERE tenant = '{tenant}' GROUP BY fingerprint) AS r USING fingerprint "
    "WHERE s.tenant = '{tenant}' ORDER BY name, ts"
)


def stored(data_dir: Path, tenant: str) -> list[dict[str, Any]]:
    return query_store(data_dir, SAMPLES_SQL.format(tenant=tenant))


def write_request(series: list[tuple[dict[str, str], list[tuple[float, int]]]]) -> bytes:
    message = prompb.WriteRequest(
        timeseries=[
            prompb.TimeSeries(
                labels=[prompb.Label(name=k, value=v) for k, v in labels.items()],
                samples=[prompb.Sample(value=v, timestamp=t) for v, t in samples],
            )
            for labels, samples in series
        ],
        metadata=[
            prompb.MetricMetadata(
                type=2, metric_family_name="vllm:num_requests_running", help="Running."
            )
        ],
    )
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


def test_remote_write_lands_in_the_store(server: ServerProcess) -> None:
    body = write_request(
        [
            (
                {"__name__": "vllm:num_requests_running", "job": "vllm", "model": "llama"},
                [(3.0, NOW_MS - 2000), (4.0, NOW_MS - 1000), (STALE_NAN, NOW_MS)],
            ),
            ({"__name__": "up", "job": "vllm"}, [(1.0, NOW_MS)]),
        ]
    )
    headers = {**REMOTE_WRITE, "X-Scope-OrgID": "rw"}
    response = httpx.post(f"{server.api}/api/v1/write", content=body, headers=headers)
    assert response.status_code == 204, response.text

    nameless = write_request([({"job": "x"}, [(1.0, NOW_MS)])])
    refused = httpx.post(f"{server.api}/api/v1/write", content=nameless, headers=headers)
    assert refused.status_code == 400
    assert "__name__" in refused.text
    unsnappy = httpx.post(
        f"{server.api}/api/v1/write",
        content=b"not snappy",
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert unsnappy.status_code == 400

    assert server.stop() == 0
    rows = stored(server.data_dir, "rw")
    vllm = [row for row in rows if row["name"] == "vllm:num_requests_running"]
    assert [row["ts"] for row in vllm] == [NOW_MS - 2000, NOW_MS - 1000, NOW_MS]
    assert [row["value"] for row in vllm[:2]] == [3.0, 4.0]
    assert int(vllm[2]["bits"]) == STALE_NAN_BITS
    assert vllm[0]["labels"] == {"job": "vllm", "model": "llama"}
    assert [row["name"] for row in rows if row["name"] == "up"] == ["up"]
    metadata = query_store(
        server.data_dir,
        "SELECT type, help FROM metric_metadata "
        "WHERE tenant = 'rw' AND metric_name = 'vllm:num_requests_running'",
    )
    assert metadata == [{"type": "gauge", "help": "Running."}]


def test_pushgateway_push_delete_and_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    pushed = "# TYPE batch_last_success_seconds gauge\nbatch_last_success_seconds 1.7e9\n"
    tenant = {"X-Scope-OrgID": "pg"}
    try:
        url = f"{server.api}/metrics/job/nightly/instance/etl-1"
        assert httpx.put(url, content=pushed, headers=tenant).status_code == 200
        gone = f"{server.api}/metrics/job/one-off"
        assert httpx.put(gone, content="one_off_runs 1\n", headers=tenant).status_code == 200
        assert httpx.delete(gone, headers=tenant).status_code == 202
        timestamps = httpx.put(url, content="m 1 1700000000000\n", headers=tenant)
        assert timestamps.status_code == 400
    finally:
        assert server.stop() == 0
    # A restart brings the groups back: they are written again as soon as it is up.
    server.start()
    assert server.stop() == 0

    rows = stored(server.data_dir, "pg")
    batch = [row for row in rows if row["name"] == "batch_last_success_seconds"]
    assert len(batch) >= 2, rows
    assert batch[0]["labels"] == {"job": "nightly", "instance": "etl-1"}
    assert {row["value"] for row in batch} == {1.7e9}
    push_times = [
        r for r in rows if r["name"] == "push_time_seconds" and r["labels"]["job"] == "nightly"
    ]
    assert push_times and push_times[0]["value"] > 1e9
    # Stale markers are NaN, which the JSON output renders as null.
    failures = [r["value"] for r in rows if r["name"] == "push_failure_time_seconds"]
    assert max(value for value in failures if value is not None) > 1e9
    one_off = [row for row in rows if row["name"] == "one_off_runs"]
    assert [row["value"] for row in one_off[:1]] == [1.0]
    assert int(one_off[-1]["bits"]) == STALE_NAN_BITS
