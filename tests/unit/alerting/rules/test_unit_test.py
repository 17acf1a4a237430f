"""`observatory test rules`: promtool's rule unit tests, run in process.

The fixtures in `fixtures/` were run through Debian's promtool (2.42) as well: the expected
outcomes and the failure texts below are what promtool printed for them, except that a file
that cannot be run exits 2 here where promtool exits 1 (tests/integration/test_cli_test_rules.py
runs both tools side by side).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pytest

from observatory.alerting.rules.unit_test import (
    Outcome,
    format_float_e,
    format_go_duration,
    format_labels,
    run_rule_tests,
    run_unit_test_file,
    same_value,
)
from observatory.alerting.rules.unit_test_format import format_model_duration
from observatory.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
# Every fixture and its outcome; promtool agrees except on BAD_FILE, where it exits 1.
OUTCOMES = {
    "pass_basic.yml": Outcome.PASSED,
    "pass_notation.yml": Outcome.PASSED,
    "pass_traffic.yml": Outcome.PASSED,
    "pass_group_order.yml": Outcome.PASSED,
    "pass_future.yml": Outcome.PASSED,
    "fail_alerts.yml": Outcome.FAILED,
    "fail_promql.yml": Outcome.FAILED,
    "fail_group_order.yml": Outcome.FAILED,
    "fail_rule_error.yml": Outcome.FAILED,
    "bad_unknown_field.yml": Outcome.BAD_FILE,
    "bad_yaml.yml": Outcome.BAD_FILE,
    "bad_series.yml": Outcome.BAD_FILE,
    "bad_rule_file.yml": Outcome.BAD_FILE,
}

RULES = """
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} is down"}
"""


def write(tmp_path: Path, test: str, rules: str = RULES) -> Path:
    (tmp_path / "rules.yml").write_text(rules)
    path = tmp_path / "test.yml"
    path.write_text(test)
    return path


# Go's printing of durations, floats and label sets, as promtool's messages show them.


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (500, "500ms"), (60_000, "1m0s"), (90_500, "1m30.5s"), (3_723_000, "1h2m3s")],
)
def test_go_duration(ms: int, text: str) -> None:
    assert format_go_duration(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (90_000, "1m30s"), (300_000, "5m"), (3_600_000, "1h"), (1_500, "1s500ms")],
)
def test_model_duration(ms: int, text: str) -> None:
    assert format_model_duration(ms) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1E+00"),
        (0.3, "3E-01"),
        (0.1 + 0.2, "3.0000000000000004E-01"),
        (1 / 60, "1.6666666666666666E-02"),
        (16.0, "1.6E+01"),
        (-2.5, "-2.5E+00"),
        (1e300, "1E+300"),
        (0.0, "0E+00"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_float_as_go_prints_it(value: float, text: str) -> None:
    assert format_float_e(value) == text


def test_labels_are_sorted_and_quoted() -> None:
    assert format_labels({"b": 'say "hi"\n', "a": "1"}) == '{a="1", b="say \\"hi\\"\\n"}'
    assert format_labels({}) == "{}"


def test_values_compare_exactly_unless_fuzzy() -> None:
    assert not same_value(0.3, 0.1 + 0.2, fuzzy=False)
    assert same_value(0.3, 0.1 + 0.2, fuzzy=True)  # one unit in the last place apart
    assert not same_value(0.3, 0.30000000000000016, fuzzy=True)
    assert not same_value(math.nan, math.nan, fuzzy=True)
    assert same_value(0.0, -0.0, fuzzy=False)


# The fixtures, as promtool judged them.


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_fixture_outcome(name: str) -> None:
    result = run_unit_test_file(FIXTURES / name)
    assert result.outcome is OUTCOMES[name], result.errors


def test_every_fixture_is_listed() -> None:
    tests = {p.name for p in FIXTURES.glob("*.yml") if not p.name.startswith("rules")}
    assert tests == set(OUTCOMES)


def test_alert_failures_read_as_promtool_prints_them() -> None:
    errors = run_unit_test_file(FIXTURES / "fail_alerts.yml").errors
    assert len(errors) == 4
    # Sorted by eval_time, as promtool checks them: the 1m case before the 5m one.
    assert errors[0] == (
        "    name: wrong annotation,\n"
        "    alertname: InstanceDown, time: 1m, \n"
        "        exp:[\n"
        "            0:\n"
        '              Labels:{alertname="InstanceDown", instance="a", job="node", '
        'severity="page"}\n'
        '              Annotations:{summary="Instance a of node down", value="0"}\n'
        "            ], \n"
        "        got:[]"
    )
    assert errors[2] == (
        "    alertname: JobDown, time: 3m, \n"
        "        exp:[], \n"
        "        got:[\n"
        "            0:\n"
        '              Labels:{alertname="JobDown", job="solo", severity="critical", '
        'team="solo-oncall"}\n'
        "              Annotations:{}\n"
        "            ]"
    )


def test_promql_failures_read_as_promtool_prints_them() -> None:
    errors = run_unit_test_file(FIXTURES / "fail_promql.yml").errors
    assert errors == [
        '    expr: "job:up:sum", time: 2m,\n'
        '        exp: {__name__="job:up:sum", job="node"} 2E+00\n'
        '        got: {__name__="job:up:sum", job="node"} 1E+00',
        '    expr: "up", time: 2m,\n'
        '        exp: {__name__="up", instance="a", job="node"} 1E+00\n'
        '        got: {__name__="up", instance="a", job="node"} 1E+00, '
        '{__name__="up", instance="b", job="node"} 0E+00',
        '    expr: "up == 1", time: 2m,\n'
        '        exp: {__name__="up", instance="a", job="node"} 1E+00, '
        '{__name__="up", instance="b", job="node"} 1E+00\n'
        '        got: {__name__="up", instance="a", job="node"} 1E+00',
        '    expr: "0.1 + 0.2", time: 0s,\n'
        "        exp: {} 3E-01\n"
        "        got: {} 3.0000000000000004E-01",
        '    expr: "up[5m]", time: 2m, err: rule result is not a vector or scalar',
    ]


def test_group_order_decides_what_a_rule_reads() -> None:
    errors = run_unit_test_file(FIXTURES / "fail_group_order.yml").errors
    assert errors[0].endswith("got: nil")
    assert errors[1].endswith('got: {__name__="job:requests:double", job="api"} 8E+00')


def test_a_failing_rule_ends_its_test_group() -> None:
    errors = run_unit_test_file(FIXTURES / "fail_rule_error.yml").errors
    assert errors == [
        "    rule: job:up:dropped, time: 0s, "
        "err: vector cannot contain metrics with the same labelset"
    ]


def test_bad_files_say_why() -> None:
    unknown = run_unit_test_file(FIXTURES / "bad_unknown_field.yml").errors
    assert unknown == [
        "yaml: unmarshal errors:\n  line 7: field value not found in type main.series"
    ]
    (series,) = run_unit_test_file(FIXTURES / "bad_series.yml").errors
    assert series.startswith('line 5: could not parse input series "up{job=\\"node\\" 1 2 three"')
    (rules,) = run_unit_test_file(FIXTURES / "bad_rule_file.yml").errors
    assert 'rules_broken.yml: 5:15: group "broken", rule 1, "job:up:sum"' in rules
    missing = run_unit_test_file(FIXTURES / "no_such_file.yml")
    assert missing.outcome is Outcome.BAD_FILE and missing.errors[0].startswith("open ")


# Semantics, on small files written here.


def test_interval_defaults_to_the_evaluation_interval(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yml]
evaluation_interval: 30s
tests:
  - input_series:
      - {series: 'up{job="a", instance="x"}', values: '1 2 3'}
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples: [{labels: 'up{job="a", instance="x"}', value: 3}]
""",
    )
    assert run_unit_test_file(path).outcome is Outcome.PASSED


def test_start_timestamp_shifts_samples_and_evaluations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yml]
tests:
  - interval: 1m
    start_timestamp: "2024-01-01T00:00:00Z"
    input_series:
      - {series: 'up{job="a", instance="x"}', values: '0x5'}
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page, job: a, instance: x}
            exp_annotations: {summary: x is down}
    promql_expr_test:
      - expr: time()
        eval_time: 1m
        exp_samples: [{labels: '{}', value: 1704067260}]
""",
    )
    assert run_unit_test_file(path).errors == []


def test_fuzzy_compare_forgives_the_last_bit(tmp_path: Path) -> None:
    test = """
rule_files: [rules.yml]
{fuzzy}
tests:
  - interval: 1m
    promql_expr_test:
      - expr: 0.1 + 0.2
        eval_time: 0m
        exp_samples: [{{labels: '{{}}', value: 0.3}}]
"""
    exact = write(tmp_path, test.format(fuzzy=""))
    assert run_unit_test_file(exact).outcome is Outcome.FAILED
    fuzzy = write(tmp_path, test.format(fuzzy="fuzzy_compare: true"))
    assert run_unit_test_file(fuzzy).outcome is Outcome.PASSED


def test_a_later_definition_of_a_series_replaces_the_earlier(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - {series: 'up{job="a", instance="x"}', values: '1x3'}
      - {series: 'up{instance="x", job="a"}', values: '7x3'}
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 1m
        exp_samples: [{labels: 'job:up:sum{job="a"}', value: 7}]
""",
    )
    assert run_unit_test_file(path).errors == []


def test_run_selects_test_groups_by_name(tmp_path: Path) -> None:
    failing = """
  - name: {name}
    interval: 1m
    promql_expr_test: [{{expr: vector(1), eval_time: 0m}}]
"""
    path = write(
        tmp_path,
        "rule_files: [rules.yml]\ntests:"
        + failing.format(name="alpha")
        + failing.format(name="beta"),
    )
    assert len(run_unit_test_file(path).errors) == 2
    assert len(run_unit_test_file(path, re.compile("alp")).errors) == 1
    assert run_unit_test_file(path, re.compile("gamma")).outcome is Outcome.PASSED


def test_missing_rule_files_warn_but_do_not_fail(tmp_path: Path) -> None:
    path = write(tmp_path, "rule_files: [nothing*.yml]\ntests: []\n")
    result = run_unit_test_file(path)
    assert result.outcome is Outcome.PASSED
    assert result.warnings == [f"  WARNING: no file match pattern {tmp_path}/nothing*.yml"]


@pytest.mark.parametrize(
    ("test", "message"),
    [
        (
            "tests:\n  - name: t\n    alert_rule_test: [{eval_time: 5m}]\n",
            "an item under alert_rule_test misses required attribute alertname at "
            "eval_time 5m (in TestGroup t)",
        ),
        ("group_eval_order: [a, b, a]\n", "group name repeated in evaluation order: a"),
        (
            "evaluation_interval: 1 minute\n",
            'yaml: unmarshal errors:\n  line 1: not a valid duration string: "1 minute"',
        ),
        (
            "tests:\n  - promql_expr_test: [{expr: up, exp_samples: [{value: one}]}]\n",
            "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `one` into float64",
        ),
        (
            "tests:\n  - input_series: [{series: up, values: '{{schema:0 sum:1 count:1}}'}]\n",
            "line 2: native histogram values are not supported in input series",
        ),
    ],
)
def test_bad_file_messages(tmp_path: Path, test: str, message: str) -> None:
    result = run_unit_test_file(write(tmp_path, test))
    assert (result.outcome, result.errors) == (Outcome.BAD_FILE, [message])


def test_yaml_merge_keys_work_and_strictly(tmp_path: Path) -> None:
    test = """
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series: [{series: 'up{job="a", instance="x"}', values: '0x3'}]
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels:
              <<: {severity: page, instance: x}
              job: %s
            exp_annotations: {summary: x is down}
"""
    assert run_unit_test_file(write(tmp_path, test % "a")).errors == []
    # Go's strict decoder refuses a key that is both merged and set.
    clash = write(tmp_path, test.replace("job: %s", "instance: x"))
    assert run_unit_test_file(clash).errors == [
        'yaml: unmarshal errors:\n  line 12: key "instance" already set in map'
    ]


# What the command prints and returns.


def test_output_and_exit_status_as_promtool() -> None:
    out, err = io.StringIO(), io.StringIO()
    files = [str(FIXTURES / "pass_basic.yml"), str(FIXTURES / "fail_rule_error.yml")]
    assert run_rule_tests(files, stdout=out, stderr=err) == 1
    assert out.getvalue() == (
        f"Unit Testing:  {files[0]}\n  SUCCESS\n\nUnit Testing:  {files[1]}\n\n\n"
    )
    assert err.getvalue().startswith("  FAILED:\n    rule: job:up:dropped, time: 0s, err: ")


def test_a_bad_file_outweighs_a_failing_one() -> None:
    files = [str(FIXTURES / "fail_alerts.yml"), str(FIXTURES / "bad_yaml.yml")]
    assert run_rule_tests(files, stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_cli_runs_the_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "rules", str(FIXTURES / "pass_group_order.yml")]) == 0
    assert "  SUCCESS" in capsys.readouterr().out
    assert main(["test", "rules", "--run", "nomatch", str(FIXTURES / "fail_alerts.yml")]) == 0
