"""The Loki push API against the real server: a real client (python-logging-loki's handler),
protobuf, partial writes and limits, then the rows read back from the store after a clean stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from logging_loki import LokiHandler  # type: ignore[import-untyped]

from observatory.receivers.loki import pushpb
from tests.integration.otlp_payloads import kv, log_request
from tests.server import ServerProcess, query_store

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
PROTOBUF = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
ROWS_SQL = (
    "SELECT body, service_name, labels, severity_number AS number, severity_text AS text, "
    "lower(hex(trace_id)) AS trace, lower(hex(span_id)) AS span, attributes "
    "FROM logs WHERE tenant = '{tenant}' ORDER BY timestamp, body"
)


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"OBSERVATORY_LOGS_MAX_STREAMS_PER_TENANT": "4"}
    process = ServerProcess(tmp_path / "data", env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def stored(server: ServerProcess, tenant: str) -> list[dict[str, Any]]:
    return query_store(server.data_dir, ROWS_SQL.format(tenant=tenant))


def log_through_handler(url: str, version: str, tenant: str) -> None:
    """Log with python-logging-loki's handler, as an application would."""
    handler = LokiHandler(url=url, tags={"application": "shop-api"}, version=version)
    handler.emitter.session.headers["X-Scope-OrgID"] = tenant
    failures: list[logging.LogRecord] = []
    handler.handleError = failures.append
    logger = logging.getLogger(f"tests.loki.v{version}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.warning("payment slow trace_id=%s span_id=%s", TRACE, SPAN)
        logger.error("payment failed", extra={"tags": {"user_tier": "gold"}})
    finally:
        logger.removeHandler(handler)
        handler.emitter.close()
    assert failures == [], "the handler got an error answer"


def protobuf_push(labels: str, entries: list[tuple[int, str, dict[str, str]]]) -> bytes:
    message = pushpb.PushRequest(
        streams=[
            pushpb.StreamAdapter(
                labels=labels,
                entries=[
                    pushpb.EntryAdapter(
                        timestamp={"seconds": ts // 10**9, "nanos": ts % 10**9},
                        line=line,
                        structuredMetadata=[
                            pushpb.LabelPairAdapter(name=k, value=v) for k, v in meta.items()
                        ],
                    )
                    for ts, line, meta in entries
                ],
            )
        ]
    )
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


def test_logging_handler_pushes_land_in_the_store(limited_server: ServerProcess) -> None:
    server = limited_server
    log_through_handler(f"{server.api}/loki/api/v1/push", "1", "loki-v1")
    log_through_handler(f"{server.api}/api/prom/push", "0", "loki-v0")
    assert server.stop() == 0

    for tenant in ("loki-v1", "loki-v0"):
        rows = stored(server, tenant)
        assert [(r["body"], r["number"], r["text"]) for r in rows] == [
            (f"payment slow trace_id={TRACE} span_id={SPAN}", 13, "warn"),
            ("payment failed", 17, "error"),
        ], tenant
        assert rows[0]["labels"] == {
            "application": "shop-api",
            "logger": f"tests.loki.v{tenant[-1]}",
            "severity": "warning",
            "service_name": "shop-api",
        }
        assert rows[1]["labels"]["user_tier"] == "gold"
        assert {r["service_name"] for r in rows} == {"shop-api"}
        assert (rows[0]["trace"], rows[0]["span"]) == (TRACE, SPAN)
        assert rows[1]["trace"] == "0" * 32


def test_protobuf_partial_writes_and_limits(limited_server: ServerProcess) -> None:
    server = limited_server
    url = f"{server.api}/loki/api/v1/push"
    now = time.time_ns()
    headers = {**PROTOBUF, "X-Scope-OrgID": "proto"}
    body = protobuf_push(
        '{job="worker", env="prod"}',
        [
            (now, "ERROR job crashed", {"traceID": TRACE, "user": "u7"}),
            (now + 1, "x" * 300_000, {}),
            (now + 2, "level=debug msg=retrying", {}),
            (now - 40 * 86_400 * 10**9, "INFO too old for the info tier", {}),
        ],
    )
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "max entry size '262144' bytes exceeded" in response.text
    assert "timestamp too old" in response.text
    assert "total ignored: 2 out of 4" in response.text

    # Four streams at most per tenant: a push bringing a fifth is refused whole.
    for app in ("a", "b", "c"):
        ok = httpx.post(
            url, content=protobuf_push(f'{{app="{app}"}}', [(now, "hi", {})]), headers=headers
        )
        assert ok.status_code == 204, ok.text
    over = protobuf_push('{app="d"}', [(now, "refused", {})])
    refused = httpx.post(url, content=over, headers=headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    assert "Maximum active stream limit exceeded" in refused.text
    metrics = httpx.get(f"{server.api}/metrics").text
    assert 'observatory_refused_items_total{reason="line_too_long",signal="logs"} 1.0' in metrics
    assert 'observatory_refused_items_total{reason="stream_limit",signal="logs"} 1.0' in metrics
    assert 'observatory_received_items_total{protocol="loki",signal="logs"} 8.0' in metrics

    otlp = log_request(1, body=f"trace_id={TRACE}")
    otlp.resource_logs[0].resource.attributes.append(kv("k8s.namespace.name", "rag-prod"))
    otlp_headers = {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "otlp"}
    sent = httpx.post(
        f"{server.api}/otlp/v1/logs", content=otlp.SerializeToString(), headers=otlp_headers
    )
    assert sent.status_code == 200, sent.text
    assert server.stop() == 0

    rows = stored(server, "proto")
    assert [r["body"] for r in rows] == [
        "ERROR job crashed",
        "hi",
        "hi",
        "hi",
        "level=debug msg=retrying",
    ]
    crashed, debug = rows[0], rows[-1]
    assert crashed["labels"] == {"job": "worker", "env": "prod", "service_name": "worker"}
    assert (crashed["number"], crashed["text"], crashed["trace"]) == (17, "error", TRACE)
    assert crashed["attributes"] == {"traceID": TRACE, "user": "u7"}
    assert (debug["number"], debug["text"]) == (5, "debug")
    otlp_rows = stored(server, "otlp")
    assert otlp_rows[0]["labels"] == {"service_name": "rag", "k8s_namespace_name": "rag-prod"}
    assert otlp_rows[0]["trace"] == TRACE
