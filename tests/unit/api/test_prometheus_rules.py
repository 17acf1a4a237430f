"""`/api/v1/rules`, `/api/v1/alerts` and `/-/reload` in Prometheus's format."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from observatory.alerting.rules.group import GroupStatus, RuleGroup
from observatory.api.prometheus_rules import RulesApi, go_float
from observatory.errors import ConfigError
from observatory.query.promql.memory import InMemorySource
from observatory.tenancy import TenantResolver
from tests.unit.alerting.rules.rules_support import (
    MINUTE,
    T0,
    fake_expand,
    query_over,
    series,
    specs,
)

RULES = """
groups:
  - name: api
    interval: 30s
    rules:
      - record: service:errors:sum
        expr: sum by (service) (errors)
        labels:
          team: web
      - alert: Errors
        expr: errors > 0
        for: 5m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.service }} fails"
      - alert: Quiet
        expr: errors > 100
        keep_firing_for: 1m
  - name: later
    rules:
      - record: never
        expr: vector(1)
"""
EVALUATED = 1_700_000_123.5  # the wall clock of the evaluation


class View:
    def __init__(self) -> None:
        source = InMemorySource()
        series(source, {"__name__": "errors", "service": "api"}, [3.0, 2.5])
        api, later = specs(RULES, "rules/api.yml")
        group = RuleGroup(api, query_over(source), expand=fake_expand, clock=lambda: EVALUATED)
        group.evaluate(T0)
        group.evaluate(T0 + MINUTE)
        unevaluated = RuleGroup(later, query_over(source), expand=fake_expand)
        self.by_tenant = {"default": [group.status(), unevaluated.status()]}

    def groups(self, tenant: str) -> Sequence[GroupStatus]:
        return self.by_tenant.get(tenant, [])


class Reload:
    def __init__(self) -> None:
        self.calls = 0
        self.error: str | None = None

    async def __call__(self) -> None:
        self.calls += 1
        if self.error:
            raise ConfigError(self.error)


@pytest.fixture
def reload() -> Reload:
    return Reload()


@pytest.fixture
async def client(reload: Reload) -> AsyncIterator[httpx.AsyncClient]:
    api = RulesApi(View(), TenantResolver("default", required=False), reload)
    transport = httpx.ASGITransport(app=Starlette(routes=api.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _data(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    return body["data"]


PENDING_ALERT = {
    "labels": {"alertname": "Errors", "service": "api", "severity": "page"},
    "annotations": {"summary": "api fails"},
    "state": "pending",
    "activeAt": "2023-11-14T22:14:00Z",
    "value": "2.5e+00",
}


async def test_rules_in_prometheus_format(client: httpx.AsyncClient) -> None:
    assert await _data(client, "/api/v1/rules") == {
        "groups": [
            {
                "name": "api",
                "file": "rules/api.yml",
                "rules": [
                    {
                        "name": "service:errors:sum",
                        "query": "sum by (service) (errors)",
                        "labels": {"team": "web"},
                        "health": "ok",
                        "evaluationTime": 0,
                        "lastEvaluation": "2023-11-14T22:15:23.5Z",
                        "type": "recording",
                    },
                    {
                        "state": "pending",
                        "name": "Errors",
                        "query": "errors > 0",
                        "duration": 300,
                        "keepFiringFor": 0,
                        "labels": {"severity": "page"},
                        "annotations": {"summary": "{{ $labels.service }} fails"},
                        "alerts": [PENDING_ALERT],
                        "health": "ok",
                        "evaluationTime": 0,
                        "lastEvaluation": "2023-11-14T22:15:23.5Z",
                        "type": "alerting",
                    },
                    {
                        "state": "inactive",
                        "name": "Quiet",
                        "query": "errors > 100",
                        "duration": 0,
                        "keepFiringFor": 60,
                        "labels": {},
                        "annotations": {},
                        "alerts": [],
                        "health": "ok",
                        "evaluationTime": 0,
                        "lastEvaluation": "2023-11-14T22:15:23.5Z",
                        "type": "alerting",
                    },
                ],
                "interval": 30,
                "limit": 0,
                "evaluationTime": 0,
                "lastEvaluation": "2023-11-14T22:15:23.5Z",
            },
            {
                "name": "later",
                "file": "rules/api.yml",
                "rules": [
                    {
                        "name": "never",
                        "query": "vector(1)",
                        "health": "unknown",
                        "evaluationTime": 0,
                        "lastEvaluation": "0001-01-01T00:00:00Z",
                        "type": "recording",
                    }
                ],
                "interval": 60,
                "limit": 0,
                "evaluationTime": 0,
                "lastEvaluation": "0001-01-01T00:00:00Z",
            },
        ]
    }


async def test_alerts_in_prometheus_format(client: httpx.AsyncClient) -> None:
    assert await _data(client, "/api/v1/alerts") == {"alerts": [PENDING_ALERT]}


async def _names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    groups = (await _data(client, "/api/v1/rules", **params))["groups"]
    return [rule["name"] for group in groups for rule in group["rules"]]


async def test_rule_filters(client: httpx.AsyncClient) -> None:
    assert await _names(client, type="alert") == ["Errors", "Quiet"]
    assert await _names(client, type="record") == ["service:errors:sum", "never"]
    assert await _names(client, **{"rule_name[]": ["Quiet", "never"]}) == ["Quiet", "never"]
    assert await _names(client, **{"rule_group[]": "later"}) == ["never"]
    assert await _names(client, **{"file[]": "other.yml"}) == []
    assert await _names(client, **{"match[]": '{severity="page"}'}) == ["Errors"]
    assert await _names(client, **{"match[]": ['{team=~"w.b"}', '{severity="page"}']}) == [
        "service:errors:sum",
        "Errors",
    ]
    data = await _data(client, "/api/v1/rules", exclude_alerts="true")
    rules = data["groups"][0]["rules"]
    assert "alerts" not in rules[1]


async def test_groups_left_without_rules_are_not_shown(client: httpx.AsyncClient) -> None:
    groups = (await _data(client, "/api/v1/rules", type="alert"))["groups"]
    assert [g["name"] for g in groups] == ["api"]


async def test_bad_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/rules", params={"type": "alerts"})
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": 'invalid parameter "type": not supported value "alerts"',
    }
    assert (
        await client.get("/api/v1/rules", params={"exclude_alerts": "maybe"})
    ).status_code == 400
    assert (await client.get("/api/v1/rules", params={"match[]": "up +"})).status_code == 400


async def test_the_tenant_header_selects_the_rules(client: httpx.AsyncClient) -> None:
    other = {"X-Scope-OrgID": "acme"}
    assert (await client.get("/api/v1/rules", headers=other)).json()["data"] == {"groups": []}
    assert (await client.get("/api/v1/alerts", headers=other)).json()["data"] == {"alerts": []}
    bad = await client.get("/api/v1/alerts", headers={"X-Scope-OrgID": "../x"})
    assert bad.status_code == 400


async def test_reload(client: httpx.AsyncClient, reload: Reload) -> None:
    response = await client.post("/-/reload")
    assert (response.status_code, response.text, reload.calls) == (200, "", 1)
    reload.error = 'rules.yml: 3:5: group "x": Groupname must not be empty'
    response = await client.put("/-/reload")
    assert response.status_code == 500
    assert response.text == (
        'failed to reload config: rules.yml: 3:5: group "x": Groupname must not be empty\n'
    )
    assert (await client.get("/-/reload")).status_code == 405


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1e+00"),
        (0.0, "0e+00"),
        (1234.5, "1.2345e+03"),
        (0.05, "5e-02"),
        (-2e-9, "-2e-09"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_values_are_formatted_as_go_formats_them(value: float, text: str) -> None:
    assert go_float(value) == text
