"""Retention by severity: with short tiers, debug lines expire first, errors stay longest."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.server import ServerProcess, query_store

DAY_NS = 86_400 * 10**9
TIERS = {
    "OBSERVATORY_RETENTION_LOGS_DEBUG_DAYS": "1",
    "OBSERVATORY_RETENTION_LOGS_INFO_DAYS": "2",
    "OBSERVATORY_RETENTION_LOGS_ERROR_DAYS": "3",
}
# How far a line is from the end of the one-day debug tier when it is pushed.
MARGIN_S = 6


def _stream(level: str, values: list[list[str]]) -> dict[str, object]:
    return {"stream": {"app": "retention", "level": level}, "values": values}


def test_debug_lines_expire_first(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=TIERS)
    server.start()
    try:
        near_debug_end = time.time_ns() - DAY_NS + MARGIN_S * 10**9
        two_days_ago = time.time_ns() - 2 * DAY_NS + 3600 * 10**9
        push = {
            "streams": [
                _stream("debug", [[str(near_debug_end), "debug line"]]),
                _stream("info", [[str(near_debug_end), "info line"]]),
                _stream("error", [[str(two_days_ago), "old error line"]]),
                # Already past the debug tier: refused, not acknowledged and then dropped.
                _stream("debug", [[str(two_days_ago), "old debug line"]]),
            ]
        }
        response = httpx.post(f"{server.api}/loki/api/v1/push", json=push)
        assert response.status_code == 400
        assert "retention_logs_debug_days" in response.text
        metrics = httpx.get(f"{server.api}/metrics").text
        assert 'reason="greater_than_max_sample_age",signal="logs"' in metrics
    finally:
        server.stop()
    lines = "SELECT body FROM logs ORDER BY body"
    assert [r["body"] for r in query_store(server.data_dir, lines)] == [
        "debug line",
        "info line",
        "old error line",
    ]

    time.sleep(max(0.0, (near_debug_end + DAY_NS - time.time_ns()) / 1e9) + 1.5)
    query_store(server.data_dir, "OPTIMIZE TABLE logs FINAL")
    assert [r["body"] for r in query_store(server.data_dir, lines)] == [
        "info line",
        "old error line",
    ]
