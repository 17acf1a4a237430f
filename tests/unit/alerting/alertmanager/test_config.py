from __future__ import annotations

from pathlib import Path

import pytest

from observatory.alerting.alertmanager.config import load_config, load_config_file
from observatory.alerting.alertmanager.config_model import PAGERDUTY_V1_URL, PAGERDUTY_V2_URL
from observatory.alerting.model import Matcher, MatchType
from observatory.errors import ConfigError

# Alertmanager's documented example (doc/examples/simple.yml), in its current matcher syntax.
SIMPLE = """\
global:
  # The smarthost and SMTP sender used for mail notifications.
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'

templates:
  - '/etc/alertmanager/template/*.tmpl'

route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager

inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]

receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'
  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - service_key: <team-X-key>
  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'
  - name: 'team-Y-pager'
    pagerduty_configs:
      - service_key: <team-Y-key>
  - name: 'team-DB-pager'
    pagerduty_configs:
      - service_key: <team-DB-key>
"""

MINIMAL = """\
route:
  receiver: default
receivers:
  - name: default
"""


def test_documented_example() -> None:
    config = load_config(SIMPLE, "alertmanager.yml")
    root = config.route
    assert root.receiver == "team-X-mails"
    assert root.group_by == ("alertname", "cluster", "service")
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (30, 300, 3 * 3600)
    first, files, database = root.routes
    assert first.matchers == (Matcher("service", MatchType.RE, "foo1|foo2|baz"),)
    assert first.routes[0].receiver == "team-X-pager"
    assert files.routes[0].matchers == (Matcher("severity", MatchType.EQ, "critical"),)
    assert database.group_by == ("alertname", "cluster", "database")
    assert database.routes[0].continue_ and not database.routes[1].continue_
    assert first.group_wait is None  # unset: inherited when the route tree is built
    rule = config.inhibit_rules[0]
    assert rule.source_matchers == (Matcher("severity", MatchType.EQ, "critical"),)
    assert rule.target_matchers == (Matcher("severity", MatchType.EQ, "warning"),)
    assert rule.equal == ("alertname", "cluster", "service")
    assert config.receiver_names() == [
        "team-X-mails",
        "team-X-pager",
        "team-Y-mails",
        "team-Y-pager",
        "team-DB-pager",
    ]
    pager = config.receiver("team-X-pager")
    assert pager is not None and pager.unsupported == ("email",)
    assert pager.pagerduty_configs[0].service_key == "<team-X-key>"
    assert pager.pagerduty_configs[0].url == PAGERDUTY_V1_URL
    assert config.templates == ("/etc/alertmanager/template/*.tmpl",)
    assert config.original == SIMPLE


def test_documented_example_warns_about_what_is_not_acted_on() -> None:
    warnings = load_config(SIMPLE, "alertmanager.yml").warnings
    assert "global.smtp_smarthost: not used by Observatory; ignored" in warnings
    assert any(w.startswith("templates:") for w in warnings)
    assert sum("email_configs are not supported" in w for w in warnings) == 3


def test_legacy_match_and_match_re() -> None:
    config = load_config(
        """\
route:
  receiver: a
  routes:
    - match: {service: files}
      match_re: {owner: 'team-(B|C)'}
      receiver: a
inhibit_rules:
  - source_match: {severity: critical}
    target_match_re: {severity: 'warning|info'}
    equal: [alertname]
receivers: [{name: a}]
""",
        "am.yml",
    )
    # Legacy regexes are anchored into their text, as in Alertmanager's route keys.
    assert config.route.routes[0].matchers == (
        Matcher("service", MatchType.EQ, "files"),
        Matcher("owner", MatchType.RE, "^(?:team-(B|C))$"),
    )
    rule = config.inhibit_rules[0]
    assert rule.source_matchers == (Matcher("severity", MatchType.EQ, "critical"),)
    assert rule.target_matchers == (Matcher("severity", MatchType.RE, "^(?:warning|info)$"),)


def test_several_matchers_in_one_entry_and_new_syntax() -> None:
    config = load_config(
        """\
route:
  receiver: a
  routes:
    - matchers: ['{severity=~"warning|info", team="x"}', alertname!=Watchdog]
      receiver: a
receivers: [{name: a}]
""",
        "am.yml",
    )
    assert config.route.routes[0].matchers == (
        Matcher("severity", MatchType.RE, "warning|info"),
        Matcher("team", MatchType.EQ, "x"),
        Matcher("alertname", MatchType.NE, "Watchdog"),
    )


def test_defaults() -> None:
    config = load_config(
        """\
global:
  slack_api_url: https://hooks.slack.com/services/T/B/X
route:
  receiver: all
  group_by: ['...']
receivers:
  - name: all
    webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]
    slack_configs: [{channel: '#alerts'}]
    pagerduty_configs: [{routing_key: abc}]
""",
        "am.yml",
    )
    assert config.global_.resolve_timeout == 300
    assert config.route.group_by_all and config.route.group_by is None
    receiver = config.receiver("all")
    assert receiver is not None
    webhook, slack, pagerduty = (
        receiver.webhook_configs[0],
        receiver.slack_configs[0],
        receiver.pagerduty_configs[0],
    )
    assert webhook.send_resolved and webhook.max_alerts == 0
    assert not slack.send_resolved
    assert slack.api_url == "https://hooks.slack.com/services/T/B/X"
    assert pagerduty.send_resolved and pagerduty.url == PAGERDUTY_V2_URL
    assert not pagerduty.uses_v1


def test_global_values_and_files_resolved_against_config_dir(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(
        """\
global:
  resolve_timeout: 1m30s
  slack_api_url_file: secrets/slack
  pagerduty_url: https://pd.example/enqueue
  http_config: {proxy_url: 'http://proxy:3128'}
route: {receiver: r}
receivers:
  - name: r
    webhook_configs: [{url_file: hook_url, send_resolved: false, max_alerts: 5}]
    slack_configs: [{title: x}]
    pagerduty_configs: [{routing_key_file: /abs/key, severity: warning}]
"""
    )
    config = load_config_file(path)
    assert config.global_.resolve_timeout == 90
    receiver = config.receiver("r")
    assert receiver is not None
    assert receiver.webhook_configs[0].url_file == str(tmp_path / "hook_url")
    assert not receiver.webhook_configs[0].send_resolved
    assert receiver.webhook_configs[0].max_alerts == 5
    assert receiver.slack_configs[0].api_url_file == str(tmp_path / "secrets" / "slack")
    assert receiver.pagerduty_configs[0].routing_key_file == "/abs/key"
    assert receiver.pagerduty_configs[0].url == "https://pd.example/enqueue"
    assert "global.http_config: not used by Observatory; ignored" in config.warnings


def test_time_intervals_accepted_with_a_warning() -> None:
    config = load_config(
        """\
time_intervals:
  - name: offhours
    time_intervals: [{times: [{start_time: '17:00', end_time: '24:00'}]}]
route:
  receiver: a
  routes:
    - receiver: a
      mute_time_intervals: [offhours]
receivers: [{name: a}]
""",
        "am.yml",
    )
    assert config.route.routes[0].mute_time_intervals == ("offhours",)
    assert any(w.startswith("time_intervals:") for w in config.warnings)


def test_yaml_anchors_and_merge_keys() -> None:
    config = load_config(
        """\
route: {receiver: a}
receivers:
  - name: a
    webhook_configs:
      - &hook {url: 'http://h/1', send_resolved: false}
  - name: b
    webhook_configs:
      - <<: *hook
        max_alerts: 3
""",
        "am.yml",
    )
    receiver = config.receiver("b")
    assert receiver is not None
    assert receiver.webhook_configs[0].url == "http://h/1"
    assert not receiver.webhook_configs[0].send_resolved
    assert receiver.webhook_configs[0].max_alerts == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "am.yml: no route provided in config"),
        ("receivers: []\n", "am.yml: no route provided in config"),
        (
            "route:\n  group_wait: 30s\n",
            "am.yml:2: route: root route must specify a default receiver",
        ),
        (
            "route:\n  receiver: a\n  matchers: [a=b]\nreceivers: [{name: a}]\n",
            "am.yml:2: route: root route must not have any matchers",
        ),
        (
            "route:\n  receiver: a\n  match: {a: b}\nreceivers: [{name: a}]\n",
            "root route must not have any matchers",
        ),
        (
            "route:\n  receiver: team-X\nreceivers:\n- name: team-Y\n",
            "am.yml:2: route: undefined receiver 'team-X' used in route",
        ),
        (
            "route:\n  receiver: a\n  routes:\n  - routes:\n    - receiver: nope\n"
            "receivers: [{name: a}]\n",
            "am.yml:5: route.routes[0].routes[0]: undefined receiver 'nope' used in route",
        ),
        (
            "route: {receiver: team-X}\nreceivers:\n- name: team-X\n- name: team-X\n",
            "am.yml:4: receivers[1]: notification config name 'team-X' is not unique",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- webhook_configs: []\n",
            "am.yml:3: receivers[0]: missing name in receiver",
        ),
        (
            "route:\n  receiver: a\n  group_wiat: 30s\nreceivers: [{name: a}]\n",
            "am.yml:3: route: field 'group_wiat' not found in route",
        ),
        (
            "route:\n  receiver: a\n  group_wait: 30 seconds\nreceivers: [{name: a}]\n",
            "am.yml:3: route.group_wait: invalid duration '30 seconds'",
        ),
        (
            "route:\n  receiver: a\n  group_interval: 0s\nreceivers: [{name: a}]\n",
            "route.group_interval: group_interval cannot be zero",
        ),
        (
            "route:\n  receiver: a\n  repeat_interval: '0'\nreceivers: [{name: a}]\n",
            "repeat_interval cannot be zero",
        ),
        (
            "route:\n  receiver: a\n  routes:\n  - matchers: ['a=\"b']\nreceivers: [{name: a}]\n",
            "am.yml:4: route.routes[0].matchers[0]: matcher value contains unescaped double quote",
        ),
        (
            "route:\n  receiver: a\n  routes:\n  - match_re: {a: '('}\nreceivers: [{name: a}]\n",
            "route.routes[0].match_re: invalid regular expression",
        ),
        (
            "route:\n  receiver: a\n  group_by: ['...', job]\nreceivers: [{name: a}]\n",
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        ),
        (
            "route:\n  receiver: a\n  group_by: [job, job]\nreceivers: [{name: a}]\n",
            "duplicated label 'job' in group_by",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- name: a\n"
            "  webhook_configs: [{send_resolved: true}]\n",
            "am.yml:4: receivers[0].webhook_configs[0]: one of url or url_file must be configured",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- name: a\n"
            "  webhook_configs: [{url: 'http://x', url_file: f}]\n",
            "at most one of url & url_file must be configured",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- name: a\n  slack_configs: [{channel: '#x'}]\n",
            "receivers[0].slack_configs[0]: no global Slack API URL set",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- name: a\n"
            "  pagerduty_configs: [{severity: info}]\n",
            "missing service or routing key in PagerDuty config",
        ),
        (
            "route: {receiver: a}\nreceivers:\n- name: a\n  webhook_config: []\n",
            "am.yml:4: receivers[0]: field 'webhook_config' not found in receiver",
        ),
        (
            "route: {receiver: a}\nreceiver: []\n",
            "am.yml:2: field 'receiver' not found in the Alertmanager config",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules: [{source_matches: []}]\n",
            "am.yml:3: inhibit_rules[0]: field 'source_matches' not found in inhibit rule",
        ),
        (
            "route:\n  receiver: a\n  routes: [{receiver: a, mute_time_intervals: [night]}]\n"
            "receivers: [{name: a}]\n",
            "undefined time interval 'night' used in route",
        ),
        (
            "route:\n  receiver: a\n  continue: maybe\nreceivers: [{name: a}]\n",
            "route.continue: expected true or false, got 'maybe'",
        ),
        ("route: [a\n", "am.yml: invalid YAML"),
    ],
)
def test_validation_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text, "am.yml")
    assert message in info.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read Alertmanager config"):
        load_config_file(tmp_path / "missing.yml")


def test_minimal_config() -> None:
    config = load_config(MINIMAL, "am.yml")
    assert config.route.receiver == "default"
    assert config.warnings == ()
    assert config.inhibit_rules == ()
