"""Prometheus's own PromQL test scripts, run against our engine.

The scripts live in shared/conformance/promql beside the repository and are read from there, never
copied. Each file is one test: every case in it runs, and the share of passing cases among those
not skipped (native histograms only) must stay at or above the floor reached so far.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.promql_script import FileReport, run_script

SCRIPTS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "promql"
FILES = sorted(p.name for p in SCRIPTS.glob("*.test")) if SCRIPTS.is_dir() else []
# Pass ratio floors per file (whole percents of the non-skipped cases), as reached.
FLOORS = {
    "aggregators.test": 100,
    "at_modifier.test": 100,
    "functions.test": 100,
    "histograms.test": 100,
    "literals.test": 100,
    "operators.test": 100,
    "selectors.test": 100,
    "subquery.test": 100,
}
SUITE_FLOOR = 100
SHOWN_FAILURES = 30

needs_scripts = pytest.mark.skipif(
    not FILES, reason=f"PromQL conformance scripts not found in {SCRIPTS}"
)


def _run(name: str) -> FileReport:
    return run_script((SCRIPTS / name).read_text(), name)


def _print(report: FileReport) -> None:
    print(
        f"\n{report.name}: {report.passed} passed, {report.failed} failed, "
        f"{report.skipped} skipped ({report.annotation_mismatches} passed with differing "
        "annotations)"
    )
    for line in report.failures[:SHOWN_FAILURES]:
        print("  FAILED", line)
    for line in report.skips:
        print("  skipped", line)


@needs_scripts
@pytest.mark.parametrize("name", FILES)
def test_script(name: str) -> None:
    report = _run(name)
    _print(report)
    assert report.passed + report.failed > 0, "no case ran"
    floor = FLOORS.get(name, 95)
    assert report.ratio * 100 >= floor, f"{report.name}: pass ratio {report.ratio:.1%} < {floor}%"


@needs_scripts
def test_whole_suite() -> None:
    reports = [_run(name) for name in FILES]
    passed = sum(r.passed for r in reports)
    failed = sum(r.failed for r in reports)
    skipped = sum(r.skipped for r in reports)
    ratio = passed / (passed + failed)
    print(
        f"\nPromQL conformance: {passed} passed, {failed} failed, {skipped} skipped ({ratio:.1%})"
    )
    assert ratio * 100 >= SUITE_FLOOR
