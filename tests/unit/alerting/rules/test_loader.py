"""Rule files as Prometheus reads them, and the errors `promtool check rules` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from observatory.alerting.rules.loader import (
    GroupSpec,
    RuleSpec,
    load_rule_files,
    parse_duration_ms,
    parse_rule_file,
)
from observatory.errors import ConfigError
from tests.unit.alerting.rules.rules_support import no_check, specs

GOOD = """
groups:
  - name: api
    interval: 30s
    limit: 10
    query_offset: 1m
    labels:
      team: platform
      severity: info
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          priority: 01
      - alert: HighErrorRate
        expr: |
          job:http_errors:ratio5m > 0.05
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: critical
          page: true
        annotations:
          summary: "High error rate on {{ $labels.job }}"
          runbook_url: https://example.com/runbooks/HighErrorRate.md
  - name: defaults
    rules:
      - alert: Up
        expr: up == 0
"""


def test_a_good_file_becomes_specs() -> None:
    api, defaults = specs(GOOD)
    assert api == GroupSpec(
        file="rules.yml",
        name="api",
        interval_ms=30_000,
        limit=10,
        query_offset_ms=60_000,
        labels=(("severity", "info"), ("team", "platform")),
        rules=(
            RuleSpec(
                "recording",
                "job:http_requests:rate5m",
                "sum by (job) (rate(http_requests_total[5m]))",
                # Group labels apply to every rule; YAML scalars stay as written ("01").
                (("priority", "01"), ("severity", "info"), ("team", "platform")),
            ),
            RuleSpec(
                "alerting",
                "HighErrorRate",
                "job:http_errors:ratio5m > 0.05",
                # The rule's own labels override the group's.
                (("page", "true"), ("severity", "critical"), ("team", "platform")),
                (
                    ("runbook_url", "https://example.com/runbooks/HighErrorRate.md"),
                    ("summary", "High error rate on {{ $labels.job }}"),
                ),
                for_ms=600_000,
                keep_firing_for_ms=300_000,
            ),
        ),
    )
    assert api.key == "rules.yml;api"
    # No interval: the global evaluation interval; no query_offset: the configured default.
    assert defaults.interval_ms == 60_000
    assert defaults.query_offset_ms is None
    assert defaults.limit == 0


def test_the_default_interval_is_a_parameter() -> None:
    groups, errors = parse_rule_file(GOOD, "r.yml", 15_000, no_check)
    assert not errors
    assert [g.interval_ms for g in groups] == [30_000, 15_000]


def test_empty_files_have_no_groups() -> None:
    assert specs("") == []
    assert specs("groups: []") == []
    assert specs("# only a comment\n") == []


BAD = """groups:
  - name: g1
    interval: 30s
    rules:
      - record: "bad name"
        expr: up
      - alert: A
        record: b
        expr: up
      - alert: B
        expr: rate(x[5m
        labels:
          __name__: x
          "bad-label": y
        annotations:
          "bad annotation": z
      - record: c
        expr: up
        for: 5m
      - alert: D
        expr: ""
      - expr: up
  - name: g1
    rules: []
"""


def test_every_problem_is_reported_with_file_line_group_and_rule() -> None:
    _, errors = parse_rule_file(BAD, "bad.yml", check_template=no_check)
    assert errors == [
        'bad.yml: 5:17: group "g1", rule 1, "bad name": invalid recording rule name: bad name',
        "bad.yml: 8:17: group \"g1\", rule 2, \"A\": only one of 'record' and 'alert' must be set",
        'bad.yml: 11:15: group "g1", rule 3, "B": could not parse expression: parse error: '
        "unexpected end of input inside brackets",
        'bad.yml: 13:11: group "g1", rule 3, "B": invalid label name: __name__',
        'bad.yml: 13:11: group "g1", rule 3, "B": invalid label name: bad-label',
        'bad.yml: 16:11: group "g1", rule 3, "B": invalid annotation name: bad annotation',
        'bad.yml: 19:14: group "g1", rule 4, "c": invalid field \'for\' in recording rule',
        'bad.yml: 21:15: group "g1", rule 5, "D": field \'expr\' must be set in rule',
        "bad.yml: 22:9: group \"g1\", rule 6, \"\": one of 'record' or 'alert' must be set",
        'bad.yml: 23:5: groupname: "g1" is repeated in the same file',
    ]


def test_unknown_keys_are_refused_at_every_level() -> None:
    text = """groups:
  - name: g
    evaluation_interval: 1m
    rules:
      - alert: X
        expr: up
        severity: page
extra: 1
"""
    _, errors = parse_rule_file(text, "r.yml", check_template=no_check)
    assert errors == [
        "r.yml: 8:8: field extra not found in rule file",
        'r.yml: 3:26: group "g": field evaluation_interval not found in rule group',
        'r.yml: 7:19: group "g", rule 1, "X": field severity not found in rule',
    ]


def test_recording_rules_take_no_alerting_fields() -> None:
    text = """groups:
  - name: g
    rules:
      - record: a:b
        expr: up
        keep_firing_for: 1m
        annotations:
          summary: x
"""
    _, errors = parse_rule_file(text, "r.yml", check_template=no_check)
    assert errors == [
        'r.yml: 8:11: group "g", rule 1, "a:b": invalid field \'annotations\' in recording rule',
        'r.yml: 6:26: group "g", rule 1, "a:b": invalid field \'keep_firing_for\' in '
        "recording rule",
    ]


def test_wrong_shapes_and_values_are_reported() -> None:
    text = """groups:
  - name: g
    interval: 5 minutes
    limit: many
    labels: [a, b]
    rules:
      - alert: X
        expr: up
        for: -1m
"""
    _, errors = parse_rule_file(text, "r.yml", check_template=no_check)
    assert errors == [
        "r.yml: 3:15: group \"g\": interval: not a valid duration string: '5 minutes'",
        'r.yml: 5:13: group "g": labels: expected a mapping, got a list',
        'r.yml: 9:14: group "g", rule 1, "X": for: not a valid duration string: \'-1m\'',
        "r.yml: 4:12: group \"g\": limit: 'many' is not an integer",
    ]


def test_templates_are_parsed_when_the_file_loads() -> None:
    """With the real template checker: promtool's own message for an unclosed action."""
    text = """groups:
  - name: g
    rules:
      - alert: B
        expr: up == 0
        annotations:
          summary: "{{ $labels.instance "
"""
    _, errors = parse_rule_file(text, "r.yml")
    assert errors == [
        'r.yml: 4:9: group "g", rule 1, "B": annotation "summary": '
        "template: __alert_B:1: unclosed action"
    ]


def test_load_rule_files_raises_one_error_for_all_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - record: 'no good'\n        expr: up\n"
    )
    missing = tmp_path / "missing.yml"
    assert len(load_rule_files([good], check_template=no_check)) == 2
    with pytest.raises(ConfigError) as caught:
        load_rule_files([good, bad, missing], check_template=no_check)
    lines = caught.value.message.splitlines()
    assert (
        lines[0]
        == f'{bad}: 4:17: group "x", rule 1, "no good": invalid recording rule name: no good'
    )
    assert lines[1].startswith(f"{missing}: cannot read rule file:")


def test_invalid_yaml_is_a_config_error() -> None:
    _, errors = parse_rule_file("groups: [\n", "r.yml", check_template=no_check)
    assert len(errors) == 1
    assert errors[0].startswith("r.yml: invalid YAML:")


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("500ms", 500),
        ("15s", 15_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("2w", 1_209_600_000),
        ("1y", 31_536_000_000),
    ],
)
def test_durations_are_prometheus_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "1.5m", "1m1h", "10", "-5s", "5 s"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid duration string"):
        parse_duration_ms(text)
