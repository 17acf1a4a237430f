"""Prometheus's rules and alerts API, and its reload endpoint.

`GET /api/v1/rules` and `GET /api/v1/alerts` answer in Prometheus's format (Grafana's alert
list and rule browser read them), for the tenant of `X-Scope-OrgID`; `POST /-/reload` reads
the rule files again and answers 500 with the reason when they do not load.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from observatory.alerting.rules.group import AlertStatus, GroupStatus, RuleStatus
from observatory.alerting.rules.sender import rfc3339
from observatory.api.prometheus_params import selector_matchers
from observatory.errors import ObservatoryError, QueryError
from observatory.query.promql.regex import full_match
from observatory.query.promql.source import LabelMatcher
from observatory.tenancy import TenantResolver
from observatory.web import error_response, tenant_header

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_STATE_ORDER = {"firing": 0, "pending": 1, "inactive": 2, "unknown": 3}
_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


class RulesView(Protocol):
    def groups(self, tenant: str) -> Sequence[GroupStatus]: ...


def go_float(value: float) -> str:
    """A float as Go's strconv.FormatFloat(v, 'e', -1, 64): `1e+00`, `1.2345e+03`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite: no 'n' or 'F' exponent
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1 if value != 0 else 0
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def go_time(seconds: float | None) -> str:
    return GO_ZERO_TIME if seconds is None else rfc3339(seconds)


def _number(value: float) -> float | int:
    """Seconds as Go prints a float64 in JSON: `60`, not `60.0`."""
    return int(value) if value.is_integer() else value


def _json(data: Any) -> Response:
    body = orjson.dumps({"status": "success", "data": data})
    return Response(body, media_type="application/json")


class RulesApi:
    def __init__(
        self,
        view: RulesView,
        tenants: TenantResolver,
        reload: Callable[[], Awaitable[None]],
    ) -> None:
        self.view = view
        self.tenants = tenants
        self.reload = reload

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/rules", self._rules, methods=["GET"]),
            Route("/api/v1/alerts", self._alerts, methods=["GET"]),
            Route("/-/reload", self._reload, methods=["POST", "PUT"]),
        ]

    async def _rules(self, request: Request) -> Response:
        try:
            tenant = self.tenants.resolve(tenant_header(request))
            query = _RulesQuery(request)
        except ObservatoryError as exc:
            return error_response(exc)
        groups = [query.group(g) for g in self.view.groups(tenant) if query.wants_group(g)]
        return _json({"groups": [g for g in groups if g["rules"]]})

    async def _alerts(self, request: Request) -> Response:
        try:
            tenant = self.tenants.resolve(tenant_header(request))
        except ObservatoryError as exc:
            return error_response(exc)
        rules = [r for g in self.view.groups(tenant) for r in g.rules if r.kind == "alerting"]
        rules.sort(key=lambda r: (_STATE_ORDER.get(r.state, 9), r.name))
        return _json({"alerts": [_alert(a) for r in rules for a in r.alerts]})

    async def _reload(self, request: Request) -> Response:
        try:
            await self.reload()
        except ObservatoryError as exc:
            return PlainTextResponse(f"failed to reload config: {exc.message}\n", 500)
        return Response(status_code=200)


class _RulesQuery:
    """The filters of a rules request: type, rule_name[], rule_group[], file[], match[]."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        kind = params.get("type", "").lower()
        if kind not in ("", "alert", "record"):
            raise QueryError(f'invalid parameter "type": not supported value "{kind}"')
        self.kinds = {"": ("alerting", "recording"), "alert": ("alerting",)}.get(
            kind, ("recording",)
        )
        self.names = set(params.getlist("rule_name[]"))
        self.groups = set(params.getlist("rule_group[]"))
        self.files = set(params.getlist("file[]"))
        self.matchers = [selector_matchers(text) for text in params.getlist("match[]")]
        self.exclude_alerts = _bool(params.get("exclude_alerts", ""), "exclude_alerts")

    def wants_group(self, group: GroupStatus) -> bool:
        return (not self.groups or group.name in self.groups) and (
            not self.files or group.file in self.files
        )

    def wants_rule(self, rule: RuleStatus) -> bool:
        if rule.kind not in self.kinds or (self.names and rule.name not in self.names):
            return False
        return not self.matchers or any(_matches(rule.labels, ms) for ms in self.matchers)

    def group(self, group: GroupStatus) -> dict[str, Any]:
        return {
            "name": group.name,
            "file": group.file,
            "rules": [self.rule(r) for r in group.rules if self.wants_rule(r)],
            "interval": _number(group.interval_seconds),
            "limit": group.limit,
            "evaluationTime": _number(group.evaluation_seconds),
            "lastEvaluation": go_time(group.last_evaluation),
        }

    def rule(self, rule: RuleStatus) -> dict[str, Any]:
        if rule.kind == "recording":
            body: dict[str, Any] = {"name": rule.name, "query": rule.query}
            if rule.labels:
                body["labels"] = rule.labels
            return body | _health(rule) | {"type": "recording"}
        body = {
            "state": rule.state,
            "name": rule.name,
            "query": rule.query,
            "duration": _number(rule.for_seconds),
            "keepFiringFor": _number(rule.keep_firing_for_seconds),
            "labels": rule.labels,
            "annotations": rule.annotations,
        }
        if not self.exclude_alerts:
            body["alerts"] = [_alert(a) for a in rule.alerts]
        return body | _health(rule) | {"type": "alerting"}


def _health(rule: RuleStatus) -> dict[str, Any]:
    body: dict[str, Any] = {"health": rule.health}
    if rule.last_error:
        body["lastError"] = rule.last_error
    body["evaluationTime"] = _number(rule.evaluation_seconds)
    body["lastEvaluation"] = go_time(rule.last_evaluation)
    return body


def _alert(alert: AlertStatus) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state,
        "activeAt": go_time(alert.active_at),
    }
    if alert.keep_firing_since is not None:
        body["keepFiringSince"] = go_time(alert.keep_firing_since)
    body["value"] = go_float(alert.value)
    return body


def _matches(labels: dict[str, str], matchers: list[LabelMatcher]) -> bool:
    for m in matchers:
        value = labels.get(m.name, "")
        if m.op in ("=", "!="):
            ok = (value == m.value) == (m.op == "=")
        else:
            ok = full_match(m.value, value) == (m.op == "=~")
        if not ok:
            return False
    return True


def _bool(raw: str, name: str) -> bool:
    if raw == "":
        return False
    if raw.lower() not in _BOOLS:
        raise QueryError(f'invalid parameter "{name}": strconv.ParseBool: parsing "{raw}"')
    return _BOOLS[raw.lower()]
