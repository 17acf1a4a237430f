"""Alertmanager's HTTP API v2, so `amtool`, Grafana and Prometheus talk to us as to Alertmanager.

Routes under `/api/v2`: `status`, `receivers`, `alerts` (GET and POST), `alerts/groups`,
`silences` (GET and POST) and `silence/<id>` (GET and DELETE). Errors answer as Alertmanager
does: the message as a JSON string, 400 for bad input, 404 for an unknown silence. Alertmanager
has no tenants, so neither has this API: it serves the one notification pipeline of the process.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from observatory import __version__
from observatory.alerting.alertmanager.alert_store import AlertStore
from observatory.alerting.alertmanager.matchers import parse_matcher
from observatory.alerting.alertmanager.routing import RouteGroup
from observatory.alerting.alertmanager.silences import Silences
from observatory.alerting.model import Alert, Matcher

__all__ = ["AlertmanagerApi", "AlertmanagerView", "RouteGroup"]
from observatory.api.alertmanager_model import (
    AlertStatus,
    format_time,
    gettable_alert,
    gettable_silence,
    parse_bool,
    postable_alerts,
    postable_silence,
)
from observatory.errors import BadRequestError, ObservatoryError
from observatory.receivers.body import read_capped
from observatory.web import retry_headers

PREFIX = "/api/v2"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# Alertmanager marks every API answer uncacheable; browsers and proxies must not keep alerts.
HEADERS = {"Cache-Control": "no-store"}

Handler = Callable[[Request], Awaitable[Response]]


class AlertmanagerView(Protocol):
    """What the API needs from the notification side of the program."""

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def silences(self) -> Silences: ...

    @property
    def started_at(self) -> float: ...

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        """Receivers of the routes `labels` match, in route order (AM's `route.Match`)."""
        ...

    def groups_for(self, labels: Mapping[str, str]) -> list[RouteGroup]:
        """For each matching route: its key, receiver and the alert's group-by labels."""
        ...

    def inhibited_by(self, labels: Mapping[str, str]) -> list[str]:
        """Fingerprints of the firing alerts that inhibit `labels`."""
        ...

    def receiver_names(self) -> list[str]: ...

    def config_yaml(self) -> str: ...

    def put_alerts(self, alerts: list[Alert]) -> None:
        """Accept posted alerts: store them (raising BadRequestError for invalid ones)."""
        ...


@dataclass(frozen=True)
class AlertFilter:
    """The query of `GET /alerts` and `/alerts/groups`."""

    active: bool
    silenced: bool
    inhibited: bool
    unprocessed: bool
    matchers: list[Matcher]
    receiver: re.Pattern[str] | None

    def keeps(self, alert: Alert, status: AlertStatus) -> bool:
        """Alertmanager's `alertFilter`: the state flags and the label matchers."""
        if status.state == "active" and not self.active:
            return False
        if status.state == "unprocessed" and not self.unprocessed:
            return False
        if status.silenced_by and not self.silenced:
            return False
        if status.inhibited_by and not self.inhibited:
            return False
        return all(matcher.matches(alert.labels) for matcher in self.matchers)

    def keeps_receiver(self, receiver: str) -> bool:
        return self.receiver is None or self.receiver.match(receiver) is not None


def parse_filter(texts: Sequence[str]) -> list[Matcher]:
    return [parse_matcher(text) for text in texts]


def receiver_pattern(raw: str | None) -> re.Pattern[str] | None:
    if not raw:
        return None
    try:
        return re.compile(f"(?:{raw})\\Z")
    except re.error as exc:
        raise BadRequestError(f"failed to parse receiver param: {exc}") from exc


def alert_filter(request: Request) -> AlertFilter:
    params = request.query_params
    return AlertFilter(
        active=parse_bool(params.get("active"), "active", True),
        silenced=parse_bool(params.get("silenced"), "silenced", True),
        inhibited=parse_bool(params.get("inhibited"), "inhibited", True),
        unprocessed=parse_bool(params.get("unprocessed"), "unprocessed", True),
        matchers=parse_filter(params.getlist("filter")),
        receiver=receiver_pattern(params.get("receiver")),
    )


def _answer(data: Any) -> Response:
    return JSONResponse(data, headers=HEADERS)


def _failure(error: ObservatoryError) -> Response:
    return JSONResponse(
        error.message,
        status_code=error.http_status,
        headers={**HEADERS, **retry_headers(error)},
    )


class AlertmanagerApi:
    def __init__(
        self,
        view: AlertmanagerView,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.view = view
        self.clock = clock
        self.max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        endpoint = self._endpoint
        return [
            Route(f"{PREFIX}/status", endpoint(self._status), methods=["GET"]),
            Route(f"{PREFIX}/receivers", endpoint(self._receivers), methods=["GET"]),
            Route(f"{PREFIX}/alerts", endpoint(self._get_alerts), methods=["GET"]),
            Route(f"{PREFIX}/alerts", endpoint(self._post_alerts), methods=["POST"]),
            Route(f"{PREFIX}/alerts/groups", endpoint(self._alert_groups), methods=["GET"]),
            Route(f"{PREFIX}/silences", endpoint(self._get_silences), methods=["GET"]),
            Route(f"{PREFIX}/silences", endpoint(self._post_silence), methods=["POST"]),
            Route(f"{PREFIX}/silence/{{silence_id}}", endpoint(self._get_silence), methods=["GET"]),
            Route(
                f"{PREFIX}/silence/{{silence_id}}",
                endpoint(self._delete_silence),
                methods=["DELETE"],
            ),
        ]

    def _endpoint(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ObservatoryError as exc:
                return _failure(exc)

        return endpoint

    async def _json_body(self, request: Request) -> Any:
        body = await read_capped(
            request.stream(), request.headers.get("content-length"), self.max_body_bytes
        )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequestError(f"parsing body failed: {exc}") from exc

    # ------------------------------------------------------------ general

    async def _status(self, request: Request) -> Response:
        return _answer(
            {
                "cluster": {"name": "", "status": "disabled", "peers": []},
                "versionInfo": {
                    "version": __version__,
                    "revision": "",
                    "branch": "",
                    "buildUser": "",
                    "buildDate": "",
                    "goVersion": "",
                },
                "config": {"original": self.view.config_yaml()},
                "uptime": format_time(self.view.started_at),
            }
        )

    async def _receivers(self, request: Request) -> Response:
        return _answer([{"name": name} for name in self.view.receiver_names()])

    # ------------------------------------------------------------ alerts

    def _status_of(self, alert: Alert) -> AlertStatus:
        return AlertStatus(
            silenced_by=self.view.silences.mutes(alert.labels),
            inhibited_by=sorted(self.view.inhibited_by(alert.labels)),
        )

    def _current(self, wanted: AlertFilter) -> list[tuple[Alert, AlertStatus]]:
        """Unresolved alerts that pass the filter's states and matchers, with their status."""
        now = self.clock()
        found = []
        for alert in self.view.alerts.all():
            if alert.resolved(now):
                continue
            status = self._status_of(alert)
            if wanted.keeps(alert, status):
                found.append((alert, status))
        return found

    async def _get_alerts(self, request: Request) -> Response:
        wanted = alert_filter(request)
        listed = []
        for alert, status in self._current(wanted):
            receivers = self.view.receivers_for(alert.labels)
            if wanted.receiver is not None and not any(map(wanted.keeps_receiver, receivers)):
                continue
            listed.append(gettable_alert(alert, status, receivers))
        listed.sort(key=lambda item: str(item["fingerprint"]))
        return _answer(listed)

    async def _post_alerts(self, request: Request) -> Response:
        alerts = postable_alerts(await self._json_body(request))
        self.view.put_alerts(alerts)
        return Response(status_code=200, headers=HEADERS)

    async def _alert_groups(self, request: Request) -> Response:
        wanted = alert_filter(request)
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], AlertGroup] = {}
        for alert, status in self._current(wanted):
            routes = self.view.groups_for(alert.labels)
            receivers = [route.receiver for route in routes]
            for route in routes:
                if wanted.keeps_receiver(route.receiver):
                    key = (route.route_key, tuple(sorted(route.labels.items())))
                    group = groups.setdefault(key, AlertGroup(route))
                    group.members.append((alert, status, receivers))
        ordered = sorted(groups.values(), key=AlertGroup.order)
        return _answer([group.to_json() for group in ordered])

    # ------------------------------------------------------------ silences

    async def _get_silences(self, request: Request) -> Response:
        matchers = parse_filter(request.query_params.getlist("filter"))
        now = self.clock()
        silences = self.view.silences.query(matchers=matchers)
        return _answer([gettable_silence(silence, now) for silence in silences])

    async def _post_silence(self, request: Request) -> Response:
        silence = postable_silence(await self._json_body(request))
        if silence.starts_at >= silence.ends_at:
            raise BadRequestError("Failed to create silence: start time must be before end time")
        if silence.ends_at < self.clock():
            raise BadRequestError("Failed to create silence: end time can't be in the past")
        silence_id = self.view.silences.set(silence)
        return _answer({"silenceID": silence_id})

    async def _get_silence(self, request: Request) -> Response:
        silence = self.view.silences.get(request.path_params["silence_id"])
        return _answer(gettable_silence(silence, self.clock()))

    async def _delete_silence(self, request: Request) -> Response:
        self.view.silences.expire(request.path_params["silence_id"])
        return Response(status_code=200, headers=HEADERS)


@dataclass
class AlertGroup:
    """Alerts that one route groups together by the same group labels."""

    route: RouteGroup
    members: list[tuple[Alert, AlertStatus, list[str]]] = field(default_factory=list)

    def order(self) -> tuple[list[tuple[str, str]], str]:
        # Alertmanager orders groups by their labels, then by receiver.
        return sorted(self.route.labels.items()), self.route.receiver

    def to_json(self) -> dict[str, Any]:
        members = sorted(self.members, key=lambda member: sorted(member[0].labels.items()))
        return {
            "labels": dict(self.route.labels),
            "receiver": {"name": self.route.receiver},
            "alerts": [gettable_alert(a, status, receivers) for a, status, receivers in members],
        }
