"""Loki's query API over logs that arrived as OTLP: LogQL, labels, series, stats, live tail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from websockets.sync.client import connect

from tests.server import ServerProcess

TRACE_ID = "5b8efff798038103d269b633813fc60c"
NOW_NS = time.time_ns()
LOKI = "/loki/api/v1"


def _record(offset_s: int, severity: int, body: str, trace_id: str = "") -> dict[str, Any]:
    record: dict[str, Any] = {
        "timeUnixNano": str(NOW_NS - offset_s * 10**9),
        "severityNumber": severity,
        "body": {"stringValue": body},
        "attributes": [{"key": "http.route", "value": {"stringValue": "/v1/chat"}}],
    }
    if trace_id:
        record["traceId"] = trace_id
    return record


def _logs_document(service: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    attributes = [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "prod"}},
        {"key": "host.arch", "value": {"stringValue": "amd64"}},
    ]
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attributes},
                "scopeLogs": [{"scope": {"name": "app"}, "logRecords": records}],
            }
        ]
    }


GATEWAY_RECORDS = [
    _record(300, 9, 'level=info msg="request done" status=200 latency=120ms model=llama'),
    _record(
        200, 17, 'level=error msg="upstream timeout" status=504 latency=2.5s model=llama', TRACE_ID
    ),
    _record(100, 13, '{"level":"warn","user":{"id":"u1"},"latency_ms":350,"model":"qwen"}'),
]


def _send_logs(server: ServerProcess, document: dict[str, Any], tenant: str | None = None) -> None:
    headers = {"Content-Type": "application/json"}
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    response = httpx.post(f"{server.api}/v1/logs", json=document, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def loki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp("loki") / "data"
    process = ServerProcess(data)
    process.start()
    try:
        _send_logs(process, _logs_document("gateway", GATEWAY_RECORDS))
        _send_logs(process, _logs_document("model-server", [_record(50, 9, "loaded model")]))
        _send_logs(process, _logs_document("gateway", [_record(10, 9, "secret")]), "other")
        yield process
    finally:
        process.stop()


def _get(server: ServerProcess, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.api}{LOKI}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _streams(server: ServerProcess, query: str, **params: Any) -> list[dict[str, Any]]:
    start = NOW_NS - 3600 * 10**9
    body = _get(server, "/query_range", query=query, start=start, end=time.time_ns(), **params)
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "streams"
    assert "summary" in body["data"]["stats"]
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _lines(streams: list[dict[str, Any]]) -> list[str]:
    return [line for s in streams for _, line in s["values"]]


def test_labels_values_and_series(loki: ServerProcess) -> None:
    labels = _get(loki, "/labels")["data"]
    assert "service_name" in labels
    values = _get(loki, "/label/service_name/values")["data"]
    assert values == ["gateway", "model-server"]
    series = _get(loki, "/series", **{"match[]": '{service_name="model-server"}'})["data"]
    assert len(series) == 1 and series[0]["service_name"] == "model-server"


def test_stream_selector_returns_newest_first_with_metadata(loki: ServerProcess) -> None:
    streams = _streams(loki, '{service_name="gateway"}')
    entries = sorted(
        ((int(ts), line, s["stream"]) for s in streams for ts, line in s["values"]),
        reverse=True,
    )
    assert len(entries) == 3
    newest = entries[0]
    assert newest[1].startswith('{"level":"warn"')
    assert newest[2]["detected_level"] == "warn"
    assert newest[2]["http_route"] == "/v1/chat"
    forward = _streams(loki, '{service_name="gateway"}', direction="forward", limit=1)
    assert _lines(forward) == ['level=info msg="request done" status=200 latency=120ms model=llama']


def test_line_filter_and_trace_id(loki: ServerProcess) -> None:
    streams = _streams(loki, '{service_name="gateway"} |= "timeout"')
    assert len(_lines(streams)) == 1
    assert streams[0]["stream"]["trace_id"] == TRACE_ID
    by_trace = _streams(loki, f'{{service_name="gateway"}} | trace_id="{TRACE_ID}"')
    assert _lines(by_trace) == _lines(streams)
    assert _lines(_streams(loki, '{service_name="gateway"} |~ "status=5\\\\d\\\\d"')) == _lines(
        streams
    )


def test_parsers_filters_and_formatting(loki: ServerProcess) -> None:
    errors = _streams(loki, '{service_name="gateway"} | logfmt | status >= 500')
    assert len(errors) == 1 and errors[0]["stream"]["status"] == "504"
    slow = _streams(
        loki,
        '{service_name="gateway"} | logfmt | latency > 1s | line_format "{{.status}} {{.model}}"',
    )
    assert _lines(slow) == ["504 llama"]
    users = _streams(loki, '{service_name="gateway"} | json | user_id = "u1"')
    assert len(_lines(users)) == 1 and users[0]["stream"]["latency_ms"] == "350"


def test_metric_queries(loki: ServerProcess) -> None:
    query = 'sum by (detected_level) (count_over_time({service_name="gateway"}[1h]))'
    body = _get(loki, "/query", query=query, time=time.time_ns())
    assert body["data"]["resultType"] == "vector"
    levels = {r["metric"]["detected_level"]: r["value"][1] for r in body["data"]["result"]}
    assert levels == {"info": "1", "error": "1", "warn": "1"}

    ranged = _get(
        loki,
        "/query_range",
        query='sum(count_over_time({service_name=~"gateway|model-server"}[10m]))',
        start=NOW_NS - 600 * 10**9,
        end=NOW_NS,
        step="60s",
    )
    assert ranged["data"]["resultType"] == "matrix"
    values = ranged["data"]["result"][0]["values"]
    assert values[-1][1] == "4"

    quantile = _get(
        loki,
        "/query",
        query='max_over_time({service_name="gateway"} | json | unwrap latency_ms [1h])',
        time=time.time_ns(),
    )
    assert [r["value"][1] for r in quantile["data"]["result"]] == ["350"]


def test_instant_log_query_and_bad_query_are_400(loki: ServerProcess) -> None:
    response = httpx.get(f"{loki.api}{LOKI}/query", params={"query": '{service_name="gateway"}'})
    assert response.status_code == 400
    assert "instant query" in response.text
    response = httpx.get(f"{loki.api}{LOKI}/query_range", params={"query": '{service_name="gw"'})
    assert response.status_code == 400
    assert "parse error" in response.text


def test_index_stats_and_tenants(loki: ServerProcess) -> None:
    stats = _get(
        loki, "/index/stats", query='{service_name="gateway"}', start=NOW_NS - 3600 * 10**9
    )
    assert stats["streams"] >= 1 and stats["entries"] == 3 and stats["bytes"] > 0
    other = httpx.get(
        f"{loki.api}{LOKI}/query_range",
        params={"query": '{service_name="gateway"}', "start": NOW_NS - 3600 * 10**9},
        headers={"X-Scope-OrgID": "other"},
    ).json()
    assert _lines(other["data"]["result"]) == ["secret"]


def test_live_tail_over_websocket(loki: ServerProcess) -> None:
    ws_url = loki.api.replace("http://", "ws://") + f"{LOKI}/tail"
    query = '{service_name="tailed"}'
    with connect(f"{ws_url}?{urlencode({'query': query})}", open_timeout=10) as ws:
        time.sleep(0.5)
        _send_logs(loki, _logs_document("tailed", [_record(0, 9, "fresh line")]))
        message = json.loads(ws.recv(timeout=15))
    assert _lines(message["streams"]) == ["fresh line"]
    assert message["streams"][0]["stream"]["service_name"] == "tailed"


def test_index_volume(loki: ServerProcess) -> None:
    hour_ago = NOW_NS - 3600 * 10**9
    query = '{service_name=~"gateway|model-server"}'
    volume = _get(loki, "/index/volume", query=query, start=hour_ago)["data"]
    assert volume["resultType"] == "vector"
    by_service = {r["metric"]["service_name"]: int(r["value"][1]) for r in volume["result"]}
    assert set(by_service) == {"gateway", "model-server"}
    assert by_service["model-server"] == len("loaded model")
    ranged = _get(loki, "/index/volume_range", query=query, start=hour_ago, step="60s")["data"]
    assert ranged["resultType"] == "matrix"
    assert sum(int(v) for r in ranged["result"] for _, v in r["values"]) == sum(by_service.values())
