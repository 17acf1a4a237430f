"""Alertmanager's API v2 over a real alert store and silences, with a fake routing side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from observatory import __version__
from observatory.alerting.alertmanager.alert_store import AlertStore
from observatory.alerting.alertmanager.silences import Silence, Silences
from observatory.alerting.model import Alert, Matcher, MatchType, label_fingerprint
from observatory.api.alertmanager import AlertmanagerApi, RouteGroup
from observatory.api.alertmanager_model import format_time, parse_time

T0 = 1_700_000_000.0
HOUR = 3600.0
CONFIG = "route:\n  receiver: chat\nreceivers:\n  - name: chat\n  - name: pager\n"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeView:
    """Routing by severity: critical to `pager` (grouped by alertname), the rest to `chat`."""

    clock: Clock
    alerts: AlertStore = field(init=False)
    silences: Silences = field(init=False)
    started_at: float = T0 - 90
    inhibiting: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alerts = AlertStore(self.clock)
        self.silences = Silences(None, self.clock)

    def groups_for(self, labels: Mapping[str, str]) -> list[RouteGroup]:
        if labels.get("severity") == "critical":
            group = {"alertname": labels.get("alertname", "")}
            return [RouteGroup('{}/{severity="critical"}', "pager", group)]
        return [RouteGroup("{}", "chat", {})]

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        return [group.receiver for group in self.groups_for(labels)]

    def inhibited_by(self, labels: Mapping[str, str]) -> list[str]:
        return self.inhibiting.get(labels.get("alertname", ""), [])

    def receiver_names(self) -> list[str]:
        return ["chat", "pager"]

    def config_yaml(self) -> str:
        return CONFIG

    def put_alerts(self, alerts: list[Alert]) -> None:
        self.alerts.put(alerts)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def view(clock: Clock) -> FakeView:
    return FakeView(clock)


@pytest.fixture
async def client(view: FakeView, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=list(AlertmanagerApi(view, clock).routes()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://am") as http:
        yield http


def posted(name: str, severity: str = "warning", **extra: Any) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity}, **extra}


async def post_alerts(client: httpx.AsyncClient, *alerts: dict[str, Any]) -> None:
    response = await client.post("/api/v2/alerts", json=list(alerts))
    assert response.status_code == 200, response.text
    assert response.content == b""


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/v2/alerts", params=params)
    assert response.status_code == 200, response.text
    return sorted(item["labels"]["alertname"] for item in response.json())


# Times.


def test_times_round_trip_and_go_zero_time() -> None:
    assert format_time(T0 + 0.25) == "2023-11-14T22:13:20.250Z"
    assert parse_time("2023-11-14T23:13:20.250000001+01:00", "t") == pytest.approx(T0 + 0.25)
    assert parse_time("0001-01-01T00:00:00Z", "t") == 0.0
    assert format_time(0.0) == "0001-01-01T00:00:00.000Z"


# General.


async def test_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/status")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": __version__,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": {"original": CONFIG},
        "uptime": "2023-11-14T22:11:50.000Z",
    }


async def test_receivers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/receivers")
    assert response.json() == [{"name": "chat"}, {"name": "pager"}]


# Alerts.


async def test_posted_alert_is_listed_as_gettable_alert(client: httpx.AsyncClient) -> None:
    await post_alerts(
        client,
        posted(
            "Test",
            annotations={"summary": "x"},
            generatorURL="http://prometheus/graph",
            startsAt="0001-01-01T00:00:00.000Z",  # what amtool sends for "not set"
            endsAt="0001-01-01T00:00:00.000Z",
        ),
    )
    response = await client.get("/api/v2/alerts")
    labels = {"alertname": "Test", "severity": "warning"}
    assert response.json() == [
        {
            "labels": labels,
            "annotations": {"summary": "x"},
            "startsAt": "2023-11-14T22:13:20.000Z",
            "endsAt": "2023-11-14T22:18:20.000Z",  # the 5 minute resolve timeout
            "updatedAt": "2023-11-14T22:13:20.000Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": label_fingerprint(labels),
            "receivers": [{"name": "chat"}],
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []},
        }
    ]


async def test_alerts_sorted_by_fingerprint_and_resolved_hidden(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await post_alerts(client, *(posted(f"A{i}") for i in range(5)))
    await post_alerts(client, posted("Gone", endsAt=format_time(T0 - 1)))
    listed = (await client.get("/api/v2/alerts")).json()
    fingerprints = [item["fingerprint"] for item in listed]
    assert fingerprints == sorted(fingerprints)
    assert len(listed) == 5
    clock.now += 301
    assert await names(client) == []


async def test_invalid_alerts_answer_400_naming_them(
    client: httpx.AsyncClient, view: FakeView
) -> None:
    bad = posted("Backwards", startsAt=format_time(T0), endsAt=format_time(T0 - 60))
    response = await client.post("/api/v2/alerts", json=[posted("Fine"), bad])
    assert response.status_code == 400
    assert response.json() == (
        '{alertname="Backwards", severity="warning"}: start time must be before end time'
    )
    assert [a.name for a in view.alerts.all()] == ["Fine"]


async def test_lone_surrogate_is_a_400_not_a_crash(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v2/alerts", content=b'[{"labels": {"a": "\\ud800"}}]')
    assert response.status_code == 400
    assert response.json() == '{a="\\ud800"}: invalid label set: invalid value "\\ud800"'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "parsing body failed"),
        (b'{"labels": {}}', "alerts must be a JSON array of alerts"),
        (b'[{"annotations": {}}]', "alerts[0].labels in body is required"),
        (b'[{"labels": {"a": 1}}]', "alerts[0].labels must be an object of string values"),
        (b'[{"labels": {"a": "b"}, "startsAt": "yesterday"}]', "alerts[0].startsAt must be"),
    ],
)
async def test_malformed_alert_bodies(client: httpx.AsyncClient, body: bytes, message: str) -> None:
    response = await client.post("/api/v2/alerts", content=body)
    assert response.status_code == 400
    assert response.json().startswith(message)


async def test_silenced_and_inhibited_status_and_flags(
    client: httpx.AsyncClient, view: FakeView
) -> None:
    await post_alerts(client, posted("Loud"), posted("Quiet"), posted("Shadowed"))
    view.inhibiting["Shadowed"] = ["0123456789abcdef"]
    silence_id = view.silences.set(
        Silence(
            matchers=(Matcher("alertname", MatchType.EQ, "Quiet"),),
            starts_at=T0,
            ends_at=T0 + HOUR,
        )
    )
    listed = {
        a["labels"]["alertname"]: a["status"] for a in (await client.get("/api/v2/alerts")).json()
    }
    assert listed["Loud"]["state"] == "active"
    assert listed["Quiet"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    assert listed["Shadowed"]["inhibitedBy"] == ["0123456789abcdef"]
    # amtool's default: active only.
    assert await names(client, active="true", silenced="false", inhibited="false") == ["Loud"]
    assert await names(client, active="false", silenced="true", inhibited="false") == ["Quiet"]
    assert await names(client, active="false", silenced="false", inhibited="true") == ["Shadowed"]
    assert await names(client, active="false") == ["Quiet", "Shadowed"]


async def test_filter_and_receiver_params(client: httpx.AsyncClient) -> None:
    await post_alerts(client, posted("Disk"), posted("Down", "critical"), posted("Dns"))
    assert await names(client, filter='alertname=~"Di.*"') == ["Disk"]
    assert await names(client, filter=['alertname=~"D.*"', 'severity!="critical"']) == [
        "Disk",
        "Dns",
    ]
    assert await names(client, receiver="pag.*") == ["Down"]
    # The receiver regex is anchored like Alertmanager's.
    assert await names(client, receiver="pag") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"active": "maybe"}, "active in query must be of type bool"),
        ({"receiver": "(oops"}, "failed to parse receiver param"),
        ({"filter": "=nothing"}, ""),
    ],
)
async def test_bad_alert_queries(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    response = await client.get("/api/v2/alerts", params=params)
    assert response.status_code == 400
    assert isinstance(response.json(), str)
    assert response.json().startswith(message)


async def test_alert_groups(client: httpx.AsyncClient) -> None:
    await post_alerts(
        client,
        posted("Down", "critical", labels={"alertname": "Down", "severity": "critical", "i": "2"}),
        posted("Down", "critical", labels={"alertname": "Down", "severity": "critical", "i": "1"}),
        posted("Burning", "critical"),
        posted("Disk"),
    )
    groups = (await client.get("/api/v2/alerts/groups")).json()
    summary = [
        (g["labels"], g["receiver"]["name"], [a["labels"].get("i") for a in g["alerts"]])
        for g in groups
    ]
    assert summary == [
        ({}, "chat", [None]),
        ({"alertname": "Burning"}, "pager", [None]),
        ({"alertname": "Down"}, "pager", ["1", "2"]),
    ]
    assert groups[2]["alerts"][0]["receivers"] == [{"name": "pager"}]
    only_pager = (await client.get("/api/v2/alerts/groups", params={"receiver": "pager"})).json()
    assert [g["receiver"]["name"] for g in only_pager] == ["pager", "pager"]


# Silences.


def silence_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matchers": [{"name": "alertname", "value": "Test", "isRegex": False, "isEqual": True}],
        "startsAt": format_time(T0),
        "endsAt": format_time(T0 + HOUR),
        "createdBy": "me",
        "comment": "c",
    }
    return {**body, **overrides}


async def create_silence(client: httpx.AsyncClient, **overrides: Any) -> str:
    response = await client.post("/api/v2/silences", json=silence_body(**overrides))
    assert response.status_code == 200, response.text
    silence_id: str = response.json()["silenceID"]
    return silence_id


async def test_silence_lifecycle(client: httpx.AsyncClient, clock: Clock) -> None:
    silence_id = await create_silence(client)
    response = await client.get(f"/api/v2/silence/{silence_id}")
    assert response.json() == {
        "id": silence_id,
        "status": {"state": "active"},
        "updatedAt": format_time(T0),
        "matchers": [{"name": "alertname", "value": "Test", "isRegex": False, "isEqual": True}],
        "startsAt": format_time(T0),
        "endsAt": format_time(T0 + HOUR),
        "createdBy": "me",
        "comment": "c",
    }
    clock.now += 10
    deleted = await client.delete(f"/api/v2/silence/{silence_id}")
    assert (deleted.status_code, deleted.content) == (200, b"")
    expired = (await client.get(f"/api/v2/silence/{silence_id}")).json()
    assert expired["status"] == {"state": "expired"}
    assert expired["endsAt"] == format_time(T0 + 10)
    again = await client.delete(f"/api/v2/silence/{silence_id}")
    assert again.status_code == 400
    assert again.json() == f"silence {silence_id} already expired"


async def test_silence_update_in_place_and_by_replacement(client: httpx.AsyncClient) -> None:
    silence_id = await create_silence(client)
    same = await create_silence(
        client, id=silence_id, comment="longer", endsAt=format_time(T0 + 2 * HOUR)
    )
    assert same == silence_id
    matchers = [{"name": "alertname", "value": "T.*", "isRegex": True, "isEqual": False}]
    replaced = await create_silence(client, id=silence_id, matchers=matchers)
    assert replaced != silence_id
    listed = (await client.get("/api/v2/silences")).json()
    assert [(s["id"], s["status"]["state"]) for s in listed] == [
        (replaced, "active"),
        (silence_id, "expired"),
    ]
    assert listed[0]["matchers"] == [
        {"name": "alertname", "value": "T.*", "isRegex": True, "isEqual": False}
    ]


async def test_silence_filter(client: httpx.AsyncClient) -> None:
    wanted = await create_silence(client)
    other = [{"name": "alertname", "value": "Other", "isRegex": False}]  # isEqual defaults to true
    await create_silence(client, matchers=other)
    listed = (await client.get("/api/v2/silences", params={"filter": 'alertname="Test"'})).json()
    assert [s["id"] for s in listed] == [wanted]


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        (
            {"endsAt": format_time(T0)},
            400,
            "Failed to create silence: start time must be before end time",
        ),
        (
            {"startsAt": format_time(T0 - 2 * HOUR), "endsAt": format_time(T0 - HOUR)},
            400,
            "Failed to create silence: end time can't be in the past",
        ),
        (
            {"matchers": [{"name": "a", "value": ".*", "isRegex": True}]},
            400,
            "invalid silence: at least one matcher must not match the empty string",
        ),
        ({"matchers": []}, 400, "matchers in body should have at least 1 items"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, 404, "silence 00000000"),
    ],
)
async def test_bad_silences(
    client: httpx.AsyncClient, overrides: dict[str, Any], status: int, message: str
) -> None:
    response = await client.post("/api/v2/silences", json=silence_body(**overrides))
    assert response.status_code == status
    assert response.json().startswith(message)


async def test_silence_fields_are_required(client: httpx.AsyncClient) -> None:
    body = silence_body()
    del body["comment"]
    response = await client.post("/api/v2/silences", json=body)
    assert (response.status_code, response.json()) == (400, "comment in body is required")


async def test_unknown_silence(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v2/silence/nope")).status_code == 404
    assert (await client.delete("/api/v2/silence/nope")).status_code == 404
