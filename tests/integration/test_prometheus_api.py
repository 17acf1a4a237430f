"""The Prometheus HTTP API's answers and errors, over data pushed through the Pushgateway API."""

from __future__ import annotations

import time

import httpx

from tests.server import ServerProcess

EXPOSITION = (
    "# TYPE lm_eval_score gauge\n"
    "# HELP lm_eval_score Score of the last evaluation run.\n"
    'lm_eval_score{task="mmlu",model="llama"} 0.71\n'
    'lm_eval_score{task="gsm8k",model="llama"} 0.52\n'
)


def _push(server: ServerProcess, tenant: str = "evals") -> None:
    response = httpx.put(
        f"{server.api}/metrics/job/lm-eval/run/42",
        content=EXPOSITION,
        headers={"X-Scope-OrgID": tenant},
    )
    assert response.status_code == 200, response.text


def _get(server: ServerProcess, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{server.api}{path}", params=params, headers={"X-Scope-OrgID": "evals"})


def test_queries_catalog_and_errors(server: ServerProcess) -> None:
    _push(server)
    now = time.time()
    body = _get(server, "/api/v1/query", query="sort_desc(lm_eval_score)", time=now).json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    assert [(r["metric"]["task"], r["value"][1]) for r in body["data"]["result"]] == [
        ("mmlu", "0.71"),
        ("gsm8k", "0.52"),
    ]
    assert body["data"]["result"][0]["metric"]["job"] == "lm-eval"
    assert body["data"]["result"][0]["metric"]["run"] == "42"

    ranged = _get(
        server, "/api/v1/query_range", query="avg(lm_eval_score)", start=now - 30, end=now, step=10
    ).json()
    assert ranged["data"]["resultType"] == "matrix"
    assert ranged["data"]["result"][0]["values"][-1][1] == "0.615"

    series = _get(server, "/api/v1/series", **{"match[]": 'lm_eval_score{task="mmlu"}'}).json()
    assert [s["task"] for s in series["data"]] == ["mmlu"]
    assert "task" in _get(server, "/api/v1/labels").json()["data"]
    values = _get(server, "/api/v1/label/task/values").json()["data"]
    assert values == ["gsm8k", "mmlu"]
    metadata = _get(server, "/api/v1/metadata", metric="lm_eval_score").json()["data"]
    assert metadata["lm_eval_score"][0]["type"] == "gauge"
    assert _get(server, "/api/v1/status/buildinfo").json()["data"]["version"]

    other = httpx.get(f"{server.api}/api/v1/query", params={"query": "lm_eval_score"})
    assert other.json()["data"]["result"] == []

    bad = _get(server, "/api/v1/query", query="sum(")
    assert bad.status_code == 400
    assert bad.json()["errorType"] == "bad_data"
    too_fine = _get(server, "/api/v1/query_range", query="1", start=0, end=86_400, step=1)
    assert too_fine.status_code == 400
    assert "11000 points" in too_fine.json()["error"]


def test_sample_limit_answers_execution_error(tmp_path: object) -> None:
    from pathlib import Path

    server = ServerProcess(
        Path(str(tmp_path)) / "data", env={"OBSERVATORY_QUERY_MAX_SAMPLES": "1000"}
    )
    server.start()
    try:
        _push(server)
        time.sleep(0.5)
        now = time.time()
        response = _get(
            server, "/api/v1/query_range", query="lm_eval_score", start=now, end=now + 250, step=0.1
        )
        assert response.status_code == 422
        assert response.json()["errorType"] == "execution"
        assert "too many samples" in response.json()["error"]
    finally:
        server.stop()
