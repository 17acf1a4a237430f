"""Alerting end to end: rule files, the built-in Alertmanager, a webhook receiver, amtool.

One server evaluates a rule group every second; its Alertmanager routes to a webhook served
by the test. Checked: one grouped notification for a burst, the repeat after
repeat_interval, nothing for inhibited alerts, nothing while silenced, and after a kill -9
the silence is still there and no notification is sent twice.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess, free_port

RULES = """
groups:
  - name: burst
    interval: 1s
    rules:
      - alert: BurstHigh
        expr: burst_value > 0
        labels: {severity: warning}
        annotations:
          summary: "{{ $labels.node }} is at {{ $value }}"
      - alert: BurstCritical
        expr: burst_value > 5
        labels: {severity: critical}
      - record: burst:sum
        expr: sum(burst_value)
"""
ROUTING = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: {repeat}
  routes:
    # Pages repeat hourly: a restart must not page again within the hour.
    - matchers: [severity="critical"]
      receiver: hook
      repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [node]
"""
REPEAT_S = 6.0


class Webhook:
    """Records every notification posted to it, with the time it arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, alertname: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, n) for t, n in self.received if n["groupLabels"]["alertname"] == alertname]

    def wait_for(self, alertname: str, count: int, timeout: float = 20.0) -> None:
        _wait(lambda: len(self.of(alertname)) >= count, timeout, f"{count} x {alertname}")


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _nodes(notification: dict[str, Any]) -> list[str]:
    return sorted(a["labels"]["node"] for a in notification["alerts"])


def _push(server: ServerProcess, values: dict[str, float]) -> None:
    body = "".join(f'burst_value{{node="{n}"}} {v}\n' for n, v in values.items())
    response = httpx.put(f"{server.api}/metrics/job/burst", content=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def _server(tmp_path: Path, webhook: Webhook, repeat: str) -> ServerProcess:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "alertmanager.yml").write_text(ROUTING.format(repeat=repeat, url=webhook.url))
    env = {
        "OBSERVATORY_RULE_FILES": json.dumps([str(tmp_path / "rules.yml")]),
        "OBSERVATORY_ALERTMANAGER_CONFIG_FILE": str(tmp_path / "alertmanager.yml"),
    }
    return ServerProcess(tmp_path / "data", env=env)


def test_grouping_repeat_inhibition_silence_and_kill(tmp_path: Path, webhook: Webhook) -> None:
    server = _server(tmp_path, webhook, f"{REPEAT_S:g}s")
    server.start()
    try:
        _push(server, {n: 1.0 for n in "abcde"})
        webhook.wait_for("BurstHigh", 1)
        first_at, first = webhook.of("BurstHigh")[0]
        assert first["status"] == "firing" and first["version"] == "4"
        assert _nodes(first) == ["a", "b", "c", "d", "e"]
        assert first["alerts"][0]["annotations"]["summary"] == "a is at 1"

        # A critical alert for node z inhibits z's warning: the warning group stays quiet.
        _push(server, {**{n: 1.0 for n in "abcde"}, "z": 10.0})
        webhook.wait_for("BurstCritical", 1)
        assert _nodes(webhook.of("BurstCritical")[0][1]) == ["z"]
        webhook.wait_for("BurstHigh", 2, timeout=REPEAT_S + 10)
        repeat_at, repeat = webhook.of("BurstHigh")[1]
        assert repeat_at - first_at >= REPEAT_S - 0.5
        assert _nodes(repeat) == ["a", "b", "c", "d", "e"]

        silence = {
            "matchers": [{"name": "alertname", "value": "BurstHigh", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "test",
            "comment": "maintenance",
        }
        response = httpx.post(f"{server.api}/api/v2/silences", json=silence)
        assert response.status_code == 200, response.text
        silence_id = response.json()["silenceID"]
        silenced_from = len(webhook.of("BurstHigh"))
        time.sleep(REPEAT_S + 2)
        assert len(webhook.of("BurstHigh")) == silenced_from

        amtool = ["amtool", f"--alertmanager.url={server.api}"]
        alerts = subprocess.run([*amtool, "alert", "query"], capture_output=True, text=True)
        assert alerts.returncode == 0, alerts.stderr
        assert "BurstCritical" in alerts.stdout
        added = subprocess.run(
            [*amtool, "silence", "add", "alertname=BurstCritical", "--comment=check", "-a", "t"],
            capture_output=True,
            text=True,
        )
        assert added.returncode == 0, added.stderr
        listed = subprocess.run([*amtool, "silence", "query", "-q"], capture_output=True, text=True)
        assert added.stdout.strip() in listed.stdout
        expired = subprocess.run(
            [*amtool, "silence", "expire", added.stdout.strip()], capture_output=True, text=True
        )
        assert expired.returncode == 0, expired.stderr
        rules = httpx.get(f"{server.api}/api/v1/rules").json()["data"]["groups"][0]
        assert {r["name"] for r in rules["rules"]} == {"BurstHigh", "BurstCritical", "burst:sum"}
        firing = httpx.get(f"{server.api}/api/v1/alerts").json()["data"]["alerts"]
        assert {a["labels"]["alertname"] for a in firing} == {"BurstHigh", "BurstCritical"}
        recorded = httpx.get(f"{server.api}/api/v1/query", params={"query": "burst:sum"}).json()
        assert recorded["data"]["result"][0]["value"][1] == "15"
    finally:
        server.kill()

    # After kill -9 the silence survives, and the critical group, notified before within its
    # repeat interval, is not notified again.
    critical_before = len(webhook.of("BurstCritical"))
    assert critical_before == 1
    server = _server(tmp_path, webhook, f"{REPEAT_S:g}s")
    server.start()
    try:
        silences = httpx.get(f"{server.api}/api/v2/silences").json()
        assert [s["id"] for s in silences if s["status"]["state"] == "active"] == [silence_id]
        _push(server, {**{n: 1.0 for n in "abcde"}, "z": 10.0})
        _wait(lambda: bool(httpx.get(f"{server.api}/api/v2/alerts").json()), 20, "alerts")
        time.sleep(5)
        assert len(webhook.of("BurstCritical")) == critical_before, webhook.of("BurstCritical")
    finally:
        server.stop()
