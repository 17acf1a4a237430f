"""Sending alerts to Alertmanagers: PostableAlert JSON, batches, a bounded queue, retries."""

from __future__ import annotations

import json

import httpx

from observatory.alerting.model import Alert
from observatory.alerting.rules.sender import AlertmanagerSender, alerts_url, postable, rfc3339


def _alert(i: int, ends_at: float = 1_700_000_240.0) -> Alert:
    return Alert(
        labels={"alertname": "Down", "instance": f"h{i}"},
        annotations={"summary": f"h{i} is down"},
        starts_at=1_700_000_000.0,
        ends_at=ends_at,
        generator_url="http://obs:3300/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
    )


class Recorder:
    def __init__(self, statuses: dict[str, list[int]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = statuses or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        planned = self.statuses.get(request.url.host, [])
        status = planned.pop(0) if planned else 200
        return httpx.Response(status, text="" if status == 200 else "nope")

    def bodies(self, host: str) -> list[list[dict[str, object]]]:
        return [json.loads(r.content) for r in self.requests if r.url.host == host]


def _sender(recorder: Recorder, *urls: str, **options: object) -> tuple[AlertmanagerSender, list]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    sender = AlertmanagerSender(
        list(urls or ["http://am1:9093"]),
        transport=httpx.MockTransport(recorder),
        sleep=sleep,
        **options,  # type: ignore[arg-type]
    )
    return sender, delays


def test_alerts_are_postable_alerts() -> None:
    assert postable(_alert(1)) == {
        "labels": {"alertname": "Down", "instance": "h1"},
        "annotations": {"summary": "h1 is down"},
        "generatorURL": "http://obs:3300/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-14T22:17:20Z",
    }
    assert rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.25Z"
    assert alerts_url("http://am:9093/") == "http://am:9093/api/v2/alerts"
    assert alerts_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"
    assert alerts_url("http://am/prefix") == "http://am/prefix/api/v2/alerts"


async def test_alerts_go_in_batches_of_64_to_every_alertmanager() -> None:
    recorder = Recorder()
    sender, _ = _sender(recorder, "http://am1:9093", "http://am2:9093/")
    await sender.start()
    await sender.send("team-a", [_alert(i) for i in range(130)])
    await sender.stop()
    for host in ("am1", "am2"):
        assert [len(b) for b in recorder.bodies(host)] == [64, 64, 2]
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/api/v2/alerts"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-scope-orgid"] == "team-a"
    assert recorder.bodies("am1")[0][0]["labels"] == {"alertname": "Down", "instance": "h0"}
    assert (sender.sent, sender.dropped, sender.errors) == (130, 0, 0)


async def test_a_batch_holds_one_tenant() -> None:
    recorder = Recorder()
    sender, _ = _sender(recorder)
    sender.enqueue("a", [_alert(1), _alert(2)])
    sender.enqueue("b", [_alert(3)])
    await sender.start()
    await sender.stop()
    tenants = [(r.headers["x-scope-orgid"], len(json.loads(r.content))) for r in recorder.requests]
    assert tenants == [("a", 2), ("b", 1)]


async def test_a_full_queue_drops_the_oldest() -> None:
    recorder = Recorder()
    sender, _ = _sender(recorder, capacity=3)
    sender.enqueue("t", [_alert(i) for i in range(5)])
    assert (sender.queue_length, sender.dropped) == (3, 2)
    await sender.start()
    await sender.stop()
    (body,) = recorder.bodies("am1")
    assert [a["labels"]["instance"] for a in body] == ["h2", "h3", "h4"]  # type: ignore[index]


async def test_failures_are_retried_with_backoff() -> None:
    recorder = Recorder({"am1": [503, 503]})
    sender, delays = _sender(recorder)
    await sender.start()
    await sender.send("t", [_alert(1)])
    await sender.stop()
    assert len(recorder.requests) == 3
    assert delays == [0.5, 1.0]
    assert (sender.sent, sender.dropped, sender.errors) == (1, 0, 0)


async def test_a_refused_batch_is_not_retried_and_counts_as_dropped() -> None:
    recorder = Recorder({"am1": [400]})
    sender, delays = _sender(recorder)
    await sender.start()
    await sender.send("t", [_alert(1), _alert(2)])
    await sender.stop()
    assert len(recorder.requests) == 1
    assert delays == []
    assert (sender.sent, sender.dropped, sender.errors) == (0, 2, 1)


async def test_one_alertmanager_taking_the_batch_is_enough() -> None:
    recorder = Recorder({"am2": [500] * 4})
    sender, _ = _sender(recorder, "http://am1:9093", "http://am2:9093", retries=3)
    await sender.start()
    await sender.send("t", [_alert(1)])
    await sender.stop()
    assert len(recorder.bodies("am2")) == 4  # one try and three retries
    assert (sender.sent, sender.dropped, sender.errors) == (1, 0, 1)


async def test_unreachable_alertmanagers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sender = AlertmanagerSender(["http://am1:9093"], transport=httpx.MockTransport(refuse))
    sender.retries = 0
    await sender.start()
    await sender.send("t", [_alert(1)])
    await sender.stop()
    assert (sender.sent, sender.dropped, sender.errors) == (0, 1, 1)
