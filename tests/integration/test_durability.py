"""Acknowledged means committed: across kill -9, under overload, and at SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.integration.load import start_load, stop_load
from tests.server import ServerProcess, query_store


def _stored_span_ids(data_dir: Path) -> dict[str, int]:
    rows = query_store(
        data_dir, "SELECT lower(hex(span_id)) AS id, count() AS n FROM spans GROUP BY id"
    )
    return {str(row["id"]): int(str(row["n"])) for row in rows}


def test_kill_9_under_load_loses_no_acknowledged_span(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    stop, threads, result = start_load(f"{server.otlp_http}/v1/traces", senders=6, spans=200)
    time.sleep(4)
    server.kill()
    stop_load(stop, threads)
    assert len(result.acknowledged) > 1000, result.statuses

    server.start()  # the same data dir: a restart after the crash
    assert server.stop() == 0
    stored = _stored_span_ids(server.data_dir)
    missing = result.acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged spans lost"
    duplicated = {i: n for i, n in stored.items() if n > 1}
    assert not duplicated


def test_full_queue_answers_429_with_retry_after_and_keeps_what_it_accepted(
    tmp_path: Path,
) -> None:
    server = ServerProcess(
        tmp_path / "data",
        env={"OBSERVATORY_QUEUE_MAX_ITEMS": "600", "OBSERVATORY_BATCH_TIMEOUT_MS": "300"},
    )
    server.start()
    stop, threads, result = start_load(f"{server.otlp_http}/v1/traces", senders=8, spans=300)
    time.sleep(4)
    stop_load(stop, threads)
    assert result.statuses.get(429, 0) > 0, result.statuses
    assert result.retry_after == {"1"}
    assert httpx.get(f"{server.api}/ready").status_code == 200
    metrics = httpx.get(f"{server.api}/metrics").text
    assert 'observatory_refused_requests_total{reason="queue_full",signal="traces"}' in metrics
    assert server.stop() == 0
    stored = _stored_span_ids(server.data_dir)
    assert result.acknowledged <= set(stored)


def test_sigterm_commits_requests_in_flight(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"OBSERVATORY_BATCH_TIMEOUT_MS": "1000"})
    server.start()
    stop, threads, result = start_load(f"{server.otlp_http}/v1/traces", senders=4, spans=100)
    time.sleep(2)
    assert server.stop() == 0
    stop_load(stop, threads)
    assert result.acknowledged
    assert result.acknowledged <= set(_stored_span_ids(server.data_dir))
