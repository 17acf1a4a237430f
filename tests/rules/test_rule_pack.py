"""The rule pack in `rules/`: checked and unit-tested by Debian's real `promtool`, its routing
config by the real `amtool`, and held to the pack's conventions (severities, annotations,
runbooks, a promtool test for every alerting rule)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
TESTS_DIR = RULES_DIR / "tests"
RUNBOOKS_DIR = ROOT / "docs" / "runbooks"
ROUTING_CONFIG = RULES_DIR / "alertmanager.yml"
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_SECTIONS = ("## What it means", "## What to check", "## What to do", "## When to escalate")
# Prometheus's naming convention for recorded series: level:metric:operations.
RECORD_NAME = re.compile(r"^[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$")

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="Debian's promtool (package prometheus) is not installed"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="Debian's amtool (package prometheus-alertmanager) is not installed"
)


@dataclass(frozen=True)
class Rule:
    file: Path
    body: dict[str, Any]

    @property
    def alert(self) -> str | None:
        name: str | None = self.body.get("alert")
        return name

    @property
    def severity(self) -> str | None:
        severity: str | None = self.body.get("labels", {}).get("severity")
        return severity


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*.yml") if p != ROUTING_CONFIG)


def unit_test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*.yml"))


@cache
def all_rules() -> tuple[Rule, ...]:
    return tuple(
        Rule(path, rule)
        for path in rule_files()
        for group in _load(path)["groups"]
        for rule in group["rules"]
    )


def alerting_rules() -> list[Rule]:
    return [rule for rule in all_rules() if rule.alert]


def alert_names() -> set[str]:
    return {rule.alert for rule in alerting_rules() if rule.alert}


def alert_rule_tests() -> Iterator[dict[str, Any]]:
    for path in unit_test_files():
        for case in _load(path)["tests"]:
            yield from case.get("alert_rule_test", [])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


# The real tools.


@needs_promtool
def test_promtool_check_rules_accepts_every_rule_file() -> None:
    assert PROMTOOL is not None
    result = _run(PROMTOOL, "check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == len(all_rules())


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    assert PROMTOOL is not None
    # One promtool per file, side by side: the day-long vLLM case dominates otherwise.
    runs = {
        path.name: subprocess.Popen(
            [PROMTOOL, "test", "rules", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in unit_test_files()
    }
    for name, run in runs.items():
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, f"{name}:\n{output}"
        assert "SUCCESS" in output, name


@needs_promtool
def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The unit tests assert something: with one threshold changed, promtool reports failure."""
    assert PROMTOOL is not None
    original = (RULES_DIR / "gpu.yml").read_text()
    rules = tmp_path / "gpu.yml"
    rules.write_text(original.replace("DCGM_FI_DEV_GPU_TEMP > 85", "DCGM_FI_DEV_GPU_TEMP > 89"))
    tests = tmp_path / "tests" / "gpu.yml"
    tests.parent.mkdir()
    tests.write_text((TESTS_DIR / "gpu.yml").read_text())
    result = _run(PROMTOOL, "test", "rules", str(tests))
    assert result.returncode != 0
    assert "alertname: GpuTemperatureHigh" in result.stdout + result.stderr


@needs_amtool
def test_amtool_accepts_the_routing_config() -> None:
    assert AMTOOL is not None
    result = _run(AMTOOL, "check-config", str(ROUTING_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 inhibit rules" in result.stdout
    assert "3 receivers" in result.stdout


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=GpuXidError", "severity=critical"], "pager"),
        (["alertname=VllmRequestsWaiting", "service=vllm", "severity=warning"], "chat"),
        (["alertname=GpuUtilizationLow", "severity=info"], "log"),
        (["alertname=SomeoneElsesAlert"], "chat"),
        (["alertname=ObservatoryNotificationsFailing", "severity=warning"], "pager,chat"),
    ],
)
def test_amtool_routes_by_severity(labels: list[str], receivers: str) -> None:
    assert AMTOOL is not None
    result = _run(
        AMTOOL,
        "config",
        "routes",
        "test",
        f"--config.file={ROUTING_CONFIG}",
        f"--verify.receivers={receivers}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The pack's conventions.


def test_pack_has_enough_rules() -> None:
    assert len(all_rules()) >= 50
    assert len(alerting_rules()) >= 45


def test_every_rule_file_has_its_promtool_test_file() -> None:
    for path in rule_files():
        test = TESTS_DIR / path.name
        assert test.is_file(), f"{path.name} has no test file"
        assert _load(test)["rule_files"] == [f"../{path.name}"]


def test_every_alert_has_a_severity_and_all_three_occur() -> None:
    for rule in alerting_rules():
        assert rule.severity in SEVERITIES, f"{rule.alert} in {rule.file.name}"
    assert {rule.severity for rule in alerting_rules()} == SEVERITIES


def test_every_alert_has_summary_and_description() -> None:
    for rule in alerting_rules():
        annotations = rule.body.get("annotations", {})
        assert annotations.get("summary", "").strip(), rule.alert
        assert annotations.get("description", "").strip(), rule.alert


def test_every_alert_links_its_runbook() -> None:
    for rule in alerting_rules():
        url = rule.body["annotations"]["runbook_url"]
        assert url == f"docs/runbooks/{rule.alert}.md"
        assert (ROOT / url).is_file(), f"{url} is missing"


def test_every_runbook_belongs_to_an_alert_and_has_its_sections() -> None:
    names = alert_names()
    for path in RUNBOOKS_DIR.glob("*.md"):
        if path.name == "README.md":
            continue
        assert path.stem in names, f"{path.name} documents no alert of the pack"
        text = path.read_text()
        assert text.startswith(f"# {path.stem}\n")
        for section in RUNBOOK_SECTIONS:
            assert f"\n{section}\n" in text, f"{path.name} lacks '{section}'"
        assert "```" in text, f"{path.name} gives no query or command to run"


def test_runbook_index_lists_every_alert_with_its_severities_and_file() -> None:
    row = re.compile(r"^\| \[(\w+)\]\((\w+)\.md\) \| ([a-z, ]+) \| \[([\w.-]+)\]")
    listed: dict[str, tuple[set[str], str]] = {}
    for line in (RUNBOOKS_DIR / "README.md").read_text().splitlines():
        match = row.match(line)
        if match:
            name, link, severities, file = match.groups()
            assert name == link
            listed[name] = ({s.strip() for s in severities.split(",")}, file)
    expected: dict[str, tuple[set[str], str]] = {}
    for rule in alerting_rules():
        assert rule.alert is not None and rule.severity is not None
        severities, _ = expected.setdefault(rule.alert, (set(), rule.file.name))
        severities.add(rule.severity)
    assert listed == expected


def test_recording_rules_follow_the_naming_convention_and_are_used() -> None:
    recorded = [rule.body["record"] for rule in all_rules() if "record" in rule.body]
    uses = " ".join(str(rule.body["expr"]) for rule in all_rules())
    uses += " ".join(p.read_text() for p in unit_test_files())
    for name in recorded:
        assert RECORD_NAME.match(name), name
        assert name in uses, f"{name} is neither alerted on nor tested"


def test_every_alerting_rule_fires_and_stays_quiet_in_a_promtool_test() -> None:
    """Each (alertname, severity) fires in some test with exact labels and annotations, and
    each alert name has a case where it must not fire."""
    fired: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for case in alert_rule_tests():
        name = case["alertname"]
        expected = case.get("exp_alerts") or []
        if not expected:
            quiet.add(name)
        for alert in expected:
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}
            fired.add((name, alert["exp_labels"]["severity"]))
    wanted = {(rule.alert, rule.severity) for rule in alerting_rules()}
    assert wanted - fired == set(), "rules never seen firing"
    assert alert_names() - quiet == set(), "alerts never checked to stay quiet"


def test_routing_config_pages_critical_chats_warning_and_logs_info() -> None:
    config = _load(ROUTING_CONFIG)
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"]
    by_severity = {
        tuple(child["matchers"]): child["receiver"]
        for child in route["routes"]
        if not child.get("continue")
    }
    assert by_severity == {
        ('severity="critical"',): "pager",
        ('severity="warning"',): "chat",
        ('severity="info"',): "log",
    }
    receivers = {r["name"]: r for r in config["receivers"]}
    assert "pagerduty_configs" in receivers["pager"]
    assert "slack_configs" in receivers["chat"]
    assert set(receivers["log"]) == {"name"}


def test_critical_alerts_inhibit_warnings_of_the_same_name_and_service() -> None:
    (rule,) = _load(ROUTING_CONFIG)["inhibit_rules"]
    assert rule["source_matchers"] == ['severity="critical"']
    assert rule["target_matchers"] == ['severity="warning"']
    assert rule["equal"][:2] == ["alertname", "service"]


def test_warning_and_critical_pairs_share_their_identifying_labels() -> None:
    """A pair is muted by the inhibit rule only when the labels it compares are the same, so
    neither rule of a pair may set a static label the other lacks (except severity)."""
    static: dict[str, list[dict[str, str]]] = defaultdict(list)
    for rule in alerting_rules():
        assert rule.alert is not None
        labels = {k: v for k, v in rule.body.get("labels", {}).items() if k != "severity"}
        static[rule.alert].append(labels)
    for name, variants in static.items():
        assert all(v == variants[0] for v in variants), name


def runbook_queries() -> Iterator[tuple[str, str, str]]:
    """(runbook, language, query) for every line of a promql, logql or traceql block."""
    block = re.compile(r"```(promql|logql|traceql)\n(.*?)```", re.DOTALL)
    for path in sorted(RUNBOOKS_DIR.glob("*.md")):
        for language, body in block.findall(path.read_text()):
            for line in body.splitlines():
                if line.strip():
                    yield path.name, language, re.sub(r"<[^<>\"]+>", "x", line.strip())


def test_runbook_queries_parse() -> None:
    """Every query a runbook tells the reader to run is valid in Observatory's languages."""
    from observatory.query.logql.parser import parse_expr
    from observatory.query.promql.ast import parse as parse_promql
    from observatory.query.traceql.parser import parse as parse_traceql

    parsers = {"promql": parse_promql, "logql": parse_expr, "traceql": parse_traceql}
    queries = list(runbook_queries())
    assert len(queries) > 100
    failures = []
    for runbook, language, query in queries:
        try:
            parsers[language](query)
        except Exception as exc:
            failures.append(f"{runbook}: {query}: {exc}")
    assert failures == []
