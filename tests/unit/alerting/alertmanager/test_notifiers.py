"""Payloads of the webhook, Slack and PagerDuty integrations, checked field by field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from observatory.alerting.alertmanager.config import load_config
from observatory.alerting.alertmanager.config_model import (
    PagerdutyConfig,
    SlackConfig,
    WebhookConfig,
)
from observatory.alerting.alertmanager.dispatcher import Notification
from observatory.alerting.alertmanager.notifiers import (
    HttpSender,
    PagerdutyIntegration,
    SlackIntegration,
    WebhookIntegration,
    build_integrations,
    template_warnings,
)
from observatory.alerting.alertmanager.notifiers.data import rfc3339, subject
from observatory.alerting.alertmanager.notifiers.templating import KV
from observatory.alerting.model import Alert
from tests.unit.alerting.alertmanager.core_fakes import FakeClock

T = 1_700_000_000.0  # 2023-11-14T22:13:20Z
EXTERNAL = "http://observatory:3300"
GROUP_KEY = '{}/{severity="critical"}:{alertname="HighLatency"}'
LABELS = {"alertname": "HighLatency", "service": "api", "severity": "critical"}

FIRING = Alert(
    labels={**LABELS, "instance": "a"},
    annotations={"summary": "p95 latency above 2s", "description": "api on a is slow"},
    starts_at=T - 120.5,
    ends_at=0.0,
    generator_url="http://prom/graph?g0.expr=x",
)
RESOLVED = Alert(
    labels={**LABELS, "instance": "b"},
    annotations={"summary": "p95 latency above 2s"},
    starts_at=T - 600,
    ends_at=T - 60,
    generator_url="http://prom/graph?g0.expr=x",
)


def notification(*alerts: Alert) -> Notification:
    return Notification(
        receiver="team-X",
        group_key=GROUP_KEY,
        group_labels={"alertname": "HighLatency"},
        alerts=alerts or (FIRING, RESOLVED),
        now=T,
        group_interval=300.0,
        repeat_interval=14_400.0,
    )


class Capture:
    """An httpx transport that records requests and answers with the queued statuses."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses) or [200]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status, text="ok" if status < 300 else "bad request")

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def sender(capture: Capture, clock: FakeClock | None = None) -> HttpSender:
    clock = clock or FakeClock(T)
    client = httpx.AsyncClient(transport=httpx.MockTransport(capture))
    return HttpSender(client, clock=clock, sleep=clock.sleep)


def test_rfc3339() -> None:
    assert rfc3339(T) == "2023-11-14T22:13:20Z"
    assert rfc3339(T + 0.25) == "2023-11-14T22:13:20.25Z"
    assert rfc3339(T + 0.000001) == "2023-11-14T22:13:20.000001Z"
    assert rfc3339(0.0) == "0001-01-01T00:00:00Z"


def test_webhook_payload_is_alertmanagers_version_4() -> None:
    hook = WebhookIntegration(
        WebhookConfig(url="http://x"), "team-X", 0, sender(Capture()), EXTERNAL
    )
    assert hook.payload(notification(), [FIRING, RESOLVED]) == {
        "receiver": "team-X",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {**LABELS, "instance": "a"},
                "annotations": {
                    "summary": "p95 latency above 2s",
                    "description": "api on a is slow",
                },
                "startsAt": "2023-11-14T22:11:19.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom/graph?g0.expr=x",
                "fingerprint": FIRING.fingerprint,
            },
            {
                "status": "resolved",
                "labels": {**LABELS, "instance": "b"},
                "annotations": {"summary": "p95 latency above 2s"},
                "startsAt": "2023-11-14T22:03:20Z",
                "endsAt": "2023-11-14T22:12:20Z",
                "generatorURL": "http://prom/graph?g0.expr=x",
                "fingerprint": RESOLVED.fingerprint,
            },
        ],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": LABELS,
        "commonAnnotations": {"summary": "p95 latency above 2s"},
        "externalURL": EXTERNAL,
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
    }


def test_webhook_all_resolved_and_truncation() -> None:
    config = WebhookConfig(url="http://x", max_alerts=1)
    hook = WebhookIntegration(config, "team-X", 0, sender(Capture()), EXTERNAL)
    body = hook.payload(notification(RESOLVED), [RESOLVED])
    assert body["status"] == "resolved"
    body = hook.payload(notification(), [FIRING, RESOLVED])
    assert [a["labels"]["instance"] for a in body["alerts"]] == ["a"]
    assert body["truncatedAlerts"] == 1
    assert body["commonLabels"] == {**LABELS, "instance": "a"}


def test_receiver_name_is_regex_quoted_as_in_alertmanager() -> None:
    hook = WebhookIntegration(WebhookConfig(url="http://x"), "web.hook", 0, sender(Capture()), "")
    note = Notification("web.hook", "k", {}, (FIRING,), T, 300.0, 3600.0)
    assert hook.payload(note, [FIRING])["receiver"] == "web\\.hook"


async def test_webhook_posts_json() -> None:
    capture = Capture()
    hook = WebhookIntegration(
        WebhookConfig(url="http://hook/alerts"), "team-X", 0, sender(capture), ""
    )
    assert await hook.notify(notification(), [FIRING])
    (request,) = capture.requests
    assert str(request.url) == "http://hook/alerts"
    assert request.headers["content-type"] == "application/json"
    assert capture.body()["alerts"][0]["fingerprint"] == FIRING.fingerprint


async def test_webhook_url_from_file_read_at_send_time(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    capture = Capture()
    hook = WebhookIntegration(
        WebhookConfig(url_file=str(url_file)), "team-X", 0, sender(capture), ""
    )
    assert not await hook.notify(notification(), [FIRING])  # no file yet: fails, no request
    assert capture.requests == []
    url_file.write_text("http://hook/from-file\n")
    assert await hook.notify(notification(), [FIRING])
    assert str(capture.requests[0].url) == "http://hook/from-file"


def test_subject_like_alertmanager() -> None:
    data = {
        "status": "firing",
        "alerts": [{"status": "firing"}, {"status": "resolved"}],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical", "service": "api"},
    }
    assert subject(data) == "[FIRING:1] HighLatency (api critical)"
    data["commonLabels"] = {"alertname": "HighLatency"}
    data["status"] = "resolved"
    assert subject(data) == "[RESOLVED] HighLatency "


def test_slack_default_message() -> None:
    slack = SlackIntegration(
        SlackConfig(api_url="https://hooks.slack/x", channel="#alerts"),
        "team-X",
        0,
        sender(Capture()),
        EXTERNAL,
    )
    title = "[FIRING:1] HighLatency (api critical)"
    link = "http://observatory:3300/#/alerts?receiver=team-X"
    assert slack.payload(notification(), [FIRING, RESOLVED]) == {
        "channel": "#alerts",
        "username": "Observatory",
        "attachments": [
            {
                "title": title,
                "title_link": link,
                "text": "*[FIRING]* p95 latency above 2s\napi on a is slow\n"
                "*[RESOLVED]* p95 latency above 2s",
                "fallback": f"{title} | {link}",
                "color": "danger",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ],
    }
    resolved = slack.payload(notification(RESOLVED), [RESOLVED])
    assert resolved["attachments"][0]["color"] == "good"
    assert resolved["attachments"][0]["title"].startswith("[RESOLVED] HighLatency")


def test_slack_templates() -> None:
    config = SlackConfig(
        api_url="https://hooks.slack/x",
        title='{{ template "slack.default.title" . }} - {{ .CommonAnnotations.summary }}',
        text="{{ range .Alerts }}{{ .Labels.instance }}={{ .Status }} {{ end }}",
        username="bot",
        color='{{ if eq .Status "firing" }}#ff0000{{ else }}#00ff00{{ end }}',
        pretext="{{ .CommonLabels.missing }}|{{ .GroupLabels.alertname }}",
    )
    slack = SlackIntegration(config, "team-X", 0, sender(Capture()), EXTERNAL)
    attachment = slack.payload(notification(), [FIRING, RESOLVED])["attachments"][0]
    assert attachment["title"] == "[FIRING:1] HighLatency (api critical) - p95 latency above 2s"
    assert attachment["text"] == "a=firing b=resolved "
    assert attachment["color"] == "#ff0000"
    assert attachment["pretext"] == "|HighLatency"  # a missing label reads as ""


def test_alertmanager_template_functions_and_data() -> None:
    config = SlackConfig(
        api_url="https://hooks.slack/x",
        title="{{ .Status | toUpper }}:{{ .Alerts.Firing | len }}/{{ len .Alerts.Resolved }}",
        text=(
            "{{ range .Alerts.Resolved }}{{ .Labels.instance }} ended {{ .EndsAt.Unix }}{{ end }}"
            '|{{ stringSlice "a" "b" | join "," }}|{{ reReplaceAll "(a)pi" "$1PI" "api" }}'
            '|{{ if match "^p95" .CommonAnnotations.summary }}yes{{ end }}'
        ),
        pretext="{{ .Receiver }} {{ (index .Alerts 0).Fingerprint }}",
    )
    slack = SlackIntegration(config, "team-X", 0, sender(Capture()), EXTERNAL)
    attachment = slack.payload(notification(), [FIRING, RESOLVED])["attachments"][0]
    assert attachment["title"] == "FIRING:1/1"
    assert attachment["text"] == f"b ended {int(T - 60)}|a,b|aPI|yes"
    assert attachment["pretext"] == f"team-X {FIRING.fingerprint}"


def test_kv_methods() -> None:
    kv = KV({"b": "2", "a": "1", "c": "3"})
    assert kv.template_member("Names", []) == ["a", "b", "c"]
    assert kv.template_member("Values", []) == ["1", "2", "3"]
    assert kv.template_member("Remove", [["b"]]) == {"a": "1", "c": "3"}
    pairs = kv.template_member("SortedPairs", [])
    assert [(p.template_member("Name", []), p.template_member("Value", [])) for p in pairs] == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
    ]
    assert kv.template_member("missing", []) == ""


def test_slack_unrenderable_template_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    config = SlackConfig(
        api_url="https://hooks.slack/x",
        title="{{ .NoSuchField }}",
        text='{{ template "my.custom" . }}',  # template files are not read
        pretext="{{ if }}",
    )
    slack = SlackIntegration(config, "team-X", 0, sender(Capture()), EXTERNAL)
    attachment = slack.payload(notification(), [FIRING])["attachments"][0]
    # One alert: its instance is a common label too, shown after the group labels.
    assert attachment["title"] == "[FIRING:1] HighLatency (a api critical)"
    assert attachment["text"].startswith("*[FIRING]* p95 latency above 2s")
    assert "pretext" not in attachment  # its default is empty
    assert caplog.text.count("cannot render") == 3


def test_pagerduty_v2_event() -> None:
    pd = PagerdutyIntegration(
        PagerdutyConfig(routing_key="key", url="https://pd/enqueue"),
        "team-X",
        0,
        sender(Capture()),
        EXTERNAL,
    )
    event = pd.payload(notification(), [FIRING, RESOLVED], "key")
    assert event == {
        "routing_key": "key",
        "event_action": "trigger",
        "dedup_key": hashlib.sha256(GROUP_KEY.encode()).hexdigest(),
        "payload": {
            "summary": "[FIRING:1] HighLatency (api critical)",
            "source": "Observatory",
            "severity": "critical",  # from the common severity label
            "custom_details": {
                "firing": "Labels:\n - alertname = HighLatency\n - instance = a\n"
                " - service = api\n - severity = critical\nAnnotations:\n"
                " - description = api on a is slow\n - summary = p95 latency above 2s\n"
                "Source: http://prom/graph?g0.expr=x\n",
                "resolved": "Labels:\n - alertname = HighLatency\n - instance = b\n"
                " - service = api\n - severity = critical\nAnnotations:\n"
                " - summary = p95 latency above 2s\nSource: http://prom/graph?g0.expr=x\n",
                "num_firing": "1",
                "num_resolved": "1",
            },
        },
        "client": "Observatory",
        "client_url": "http://observatory:3300/#/alerts?receiver=team-X",
    }
    assert event["dedup_key"] == "73042dc50d9d7d783a3772aae2a313acab072425608782aea59917e35ef8ec46"
    resolve = pd.payload(notification(RESOLVED), [RESOLVED], "key")
    assert resolve["event_action"] == "resolve"
    assert resolve["dedup_key"] == event["dedup_key"]


def test_pagerduty_severity_and_details_from_config() -> None:
    config = PagerdutyConfig(
        routing_key="key",
        url="https://pd/enqueue",
        severity="{{ .CommonLabels.severity }}",
        description="{{ .CommonAnnotations.summary }}",
        source="api-cluster",
        component="api",
        details=(("runbook", "{{ .CommonLabels.service }}.md"), ("num_firing", "n/a")),
    )
    pd = PagerdutyIntegration(config, "team-X", 0, sender(Capture()), EXTERNAL)
    note = notification(FIRING)
    payload = pd.payload(note, [FIRING], "key")["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "p95 latency above 2s"
    assert payload["source"] == "api-cluster"
    assert payload["component"] == "api"
    assert payload["custom_details"]["runbook"] == "api.md"
    assert payload["custom_details"]["num_firing"] == "n/a"
    assert payload["custom_details"]["num_resolved"] == "0"
    info = Alert(labels={"alertname": "X", "severity": "page"}, starts_at=T)
    unknown = pd.payload(notification(info), [info], "key")["payload"]
    assert unknown["severity"] == "error"  # neither config nor label is a PagerDuty severity


def test_pagerduty_v1_event() -> None:
    pd = PagerdutyIntegration(
        PagerdutyConfig(service_key="svc", url="https://pd/v1"), "team-X", 0, sender(Capture()), ""
    )
    event = pd.payload(notification(), [FIRING, RESOLVED], "svc")
    assert event["service_key"] == "svc"
    assert event["event_type"] == "trigger"
    assert event["incident_key"] == hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert event["description"] == "[FIRING:1] HighLatency (api critical)"
    assert event["client"] == "Observatory"
    resolve = pd.payload(notification(RESOLVED), [RESOLVED], "svc")
    assert resolve["event_type"] == "resolve" and "client" not in resolve


async def test_pagerduty_sends_and_truncates_huge_details() -> None:
    capture = Capture()
    pd = PagerdutyIntegration(
        PagerdutyConfig(routing_key="key", url="https://pd/enqueue"),
        "team-X",
        0,
        sender(capture),
        "",
    )
    huge = Alert(labels={"alertname": "X"}, annotations={"description": "x" * 600_000}, starts_at=T)
    assert await pd.notify(notification(huge), [huge])
    body = capture.body()
    assert str(capture.requests[0].url) == "https://pd/enqueue"
    assert body["payload"]["custom_details"] == {
        "error": "Custom details have been removed because the original event exceeds "
        "the maximum size of 512kB"
    }


def test_build_integrations_from_config(tmp_path: Path) -> None:
    config = load_config(
        """
global: {slack_api_url: 'https://hooks.slack/x'}
route: {receiver: all}
receivers:
  - name: all
    webhook_configs: [{url: 'http://a'}, {url: 'http://b', send_resolved: false}]
    slack_configs: [{channel: '#c', title: '{{ template "x" . }'}]
    pagerduty_configs: [{routing_key: k}]
  - name: none
""",
        str(tmp_path / "am.yml"),
    )
    built = build_integrations(config, sender(Capture()), "http://obs:3300/")
    kinds = [(i.name, i.index, i.send_resolved) for i in built["all"]]
    assert kinds == [
        ("webhook", 0, True),
        ("webhook", 1, False),
        ("slack", 0, False),
        ("pagerduty", 0, True),
    ]
    assert built["none"] == []
    (warning,) = template_warnings(config)
    assert warning.startswith("receiver 'all' slack_configs[0].title:")
