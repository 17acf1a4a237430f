"""`observatory test rules` as a user runs it, side by side with Debian's real promtool.

Each fixture of tests/unit/alerting/rules/fixtures is run through both commands: they agree on
pass or fail for every file (a file that cannot be run exits 2 here, 1 from promtool), and on
the failure texts where our messages are promtool's own. The rule pack's tests in rules/tests
run through our command too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "unit" / "alerting" / "rules" / "fixtures"
PACK_TESTS = sorted((ROOT / "rules" / "tests").glob("*.yml"))
OBSERVATORY = Path(sys.executable).parent / "observatory"
PROMTOOL = shutil.which("promtool")
EXIT = {"pass": 0, "fail": 1, "bad": 2}
# Files whose whole output (both streams) is promtool's, byte for byte.
SAME_OUTPUT = ("fail_alerts.yml", "fail_promql.yml", "fail_group_order.yml", "pass_basic.yml")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="Debian's promtool (package prometheus) is not installed"
)


def fixtures() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.yml") if not p.name.startswith("rules"))


def run(command: list[str], *files: str) -> subprocess.CompletedProcess[str]:
    # Relative names from the fixtures' directory, so both tools print the same file names.
    return subprocess.run(
        [*command, "test", "rules", *files],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", fixtures())
def test_exit_status_and_verdict(name: str) -> None:
    result = run([str(OBSERVATORY)], name)
    expected = EXIT[name.split("_")[0]]
    assert result.returncode == expected, result.stdout + result.stderr
    assert result.stdout.startswith(f"Unit Testing:  {name}\n")
    if expected == 0:
        assert result.stdout.endswith("  SUCCESS\n\n") and result.stderr == ""
    else:
        assert result.stderr.startswith("  FAILED:\n")


def test_several_files_exit_with_the_worst() -> None:
    result = run([str(OBSERVATORY)], "pass_basic.yml", "fail_promql.yml", "pass_notation.yml")
    assert result.returncode == 1
    assert result.stdout.count("Unit Testing:  ") == 3
    assert result.stdout.count("  SUCCESS") == 2


def test_no_file_is_a_usage_error() -> None:
    result = run([str(OBSERVATORY)])
    assert result.returncode == 2 and "FILE" in result.stderr


@needs_promtool
@pytest.mark.parametrize("name", fixtures())
def test_promtool_agrees(name: str) -> None:
    ours = run([str(OBSERVATORY)], name)
    theirs = run([str(PROMTOOL)], name)
    assert (ours.returncode == 0) == (theirs.returncode == 0), theirs.stderr + ours.stderr
    if name in SAME_OUTPUT:
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr)


@pytest.mark.slow
@pytest.mark.skipif(not PACK_TESTS, reason="the rule pack has no tests in rules/tests")
def test_the_rule_packs_tests_pass() -> None:
    result = subprocess.run(
        [str(OBSERVATORY), "test", "rules", *map(str, PACK_TESTS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("  SUCCESS") == len(PACK_TESTS)
