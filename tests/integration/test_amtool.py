"""Debian's `amtool` drives the Alertmanager API v2: alerts in and out, silences made and expired.

The API runs alone here (alert store, silences, a one-route receiver function) under uvicorn on
a loopback port, so the test needs neither the store nor the rest of the server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from observatory.alerting.alertmanager.alert_store import AlertStore
from observatory.alerting.alertmanager.silences import Silences
from observatory.alerting.model import Alert
from observatory.api.alertmanager import AlertmanagerApi, RouteGroup
from tests.server import free_port

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="Debian's amtool (prometheus-alertmanager) is not installed"
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@dataclass
class OneRouteView:
    """Every alert goes to the receiver `team`; nothing inhibits."""

    path: Path
    alerts: AlertStore = field(default_factory=AlertStore)
    silences: Silences = field(init=False)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.silences = Silences(self.path)

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        return ["team"]

    def groups_for(self, labels: Mapping[str, str]) -> list[RouteGroup]:
        return [RouteGroup("{}", "team", {})]

    def inhibited_by(self, labels: Mapping[str, str]) -> list[str]:
        return []

    def receiver_names(self) -> list[str]:
        return ["team"]

    def config_yaml(self) -> str:
        return "route:\n  receiver: team\nreceivers:\n  - name: team\n"

    def put_alerts(self, alerts: list[Alert]) -> None:
        self.alerts.put(alerts)


@pytest.fixture
def alertmanager_url(tmp_path: Path) -> Iterator[str]:
    view = OneRouteView(tmp_path / "silences.json")
    app = Starlette(routes=list(AlertmanagerApi(view).routes()))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def amtool(url: str, *args: str) -> str:
    assert AMTOOL is not None
    done = subprocess.run(
        [AMTOOL, f"--alertmanager.url={url}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def rows(output: str) -> list[list[str]]:
    """amtool's simple table without its header, cells split on runs of 2+ spaces."""
    lines = [line for line in output.splitlines() if line.strip()]
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


@needs_amtool
def test_amtool_alerts_and_silences(alertmanager_url: str) -> None:
    url = alertmanager_url
    amtool(url, "alert", "add", "alertname=Test", "severity=warning", "--annotation=summary=x")
    amtool(url, "alert", "add", "alertname=Other", "severity=info")
    listed = {row[0]: row for row in rows(amtool(url, "alert", "query"))}
    assert sorted(listed) == ["Other", "Test"]
    # Columns: alertname, starts at, summary, state.
    assert listed["Test"][2:] == ["x", "active"]

    silence_id = amtool(
        url, "silence", "add", "alertname=Test", "--comment=c", "--author=me", "--duration=1h"
    ).strip()
    assert UUID.match(silence_id), silence_id
    silences = rows(amtool(url, "silence", "query"))
    assert [(row[0], row[1]) for row in silences] == [(silence_id, 'alertname="Test"')]
    assert silences[0][-2:] == ["me", "c"]  # created by, comment

    # The silenced alert leaves amtool's default view (active alerts) and shows with -s.
    assert [row[0] for row in rows(amtool(url, "alert", "query"))] == ["Other"]
    assert [row[0] for row in rows(amtool(url, "alert", "query", "--silenced"))] == ["Test"]
    extended = rows(amtool(url, "-o", "extended", "alert", "query", "--silenced", "Test"))
    assert [(row[0], row[-1]) for row in extended] == [
        ('alertname="Test" severity="warning"', "suppressed")
    ]

    amtool(url, "silence", "expire", silence_id)
    assert rows(amtool(url, "silence", "query")) == []
    expired = rows(amtool(url, "silence", "query", "--expired"))
    assert [row[0] for row in expired] == [silence_id]
    assert sorted(row[0] for row in rows(amtool(url, "alert", "query"))) == ["Other", "Test"]


@needs_amtool
def test_amtool_reports_api_errors(alertmanager_url: str) -> None:
    assert AMTOOL is not None
    done = subprocess.run(
        [AMTOOL, f"--alertmanager.url={alertmanager_url}", "silence", "expire", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "status 404" in done.stderr
