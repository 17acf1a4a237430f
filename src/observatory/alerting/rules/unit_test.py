"""Rule unit tests as `promtool test rules` runs them.

For each test group the input series go into an in-memory store, and the rule groups are
evaluated at every evaluation interval from the start up to the latest `eval_time`, in
`group_eval_order`. As promtool does:
- input samples enter the store up to each evaluation time just before it, so a query never
  sees samples of the future (`@`, negative offsets);
- each rule's output (recording series, `ALERTS`, `ALERTS_FOR_STATE`, stale markers) enters the
  store as soon as the rule ran, so later rules of the same evaluation read it, as Prometheus
  commits after every rule;
- an `alert_rule_test` at `eval_time` is checked after the evaluation at or just before it,
  against the FIRING alerts of every rule of that name, compared as a set of labels (with
  `alertname`) and expanded annotations;
- a rule that fails to evaluate ends the test group with `rule: X, time: 1m0s, err: ...`;
- a `promql_expr_test` runs after the last evaluation, over the inputs and the rules' output;
- values compare exactly, or within one unit in the last place with `fuzzy_compare`.
Failures are worded as promtool words them, so the output can be read side by side.
"""

from __future__ import annotations

import bisect
import glob
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import TextIO

from observatory.alerting.rules import QueryFunc, Sample, label_key
from observatory.alerting.rules.alerting import AlertingRule, AlertState
from observatory.alerting.rules.group import RuleGroup, engine_query
from observatory.alerting.rules.loader import GroupSpec, load_rule_files
from observatory.alerting.rules.unit_test_format import (
    AlertCase,
    PromqlCase,
    UnitTestFile,
    UnitTestFormatError,
    UnitTestGroup,
    format_model_duration,
    read_unit_test_file,
)
from observatory.errors import ConfigError, ObservatoryError, QueryExecutionError
from observatory.query.logql.conversions import go_quote
from observatory.query.promql.engine import PromqlEngine
from observatory.query.promql.memory import InMemorySource
from observatory.query.promql.series_notation import STALE
from observatory.query.promql.source import STALE_NAN

# (labels, annotations) of one alert, as compared and printed.
AlertView = tuple[dict[str, str], dict[str, str]]


class Outcome(IntEnum):
    """A file's result; the command exits with the worst of its files'."""

    PASSED = 0
    FAILED = 1
    BAD_FILE = 2  # promtool exits 1 here too; we tell a broken file from a failing test


@dataclass
class FileResult:
    outcome: Outcome
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# Printing as Go prints: durations, label sets and floats in promtool's messages.


def format_go_duration(ms: int) -> str:
    """A duration as Go's time.Duration prints it: `0s`, `500ms`, `1m0s`, `1h2m3.5s`."""
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def format_labels(labels: dict[str, str]) -> str:
    """A label set as Prometheus's labels.Labels prints it: `{a="1", b="2"}`."""
    return "{" + ", ".join(f"{k}={go_quote(labels[k])}" for k in sorted(labels)) + "}"


def format_float_e(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'E', -1, 64): the shortest digits, as `1.5E+00`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0E+00"
    exact = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, exact.digits))
    exponent = len(digits) - 1 + int(exact.exponent)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}E{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _indent(text: str, prefix: str) -> str:
    """promtool's indentLines: every line but the first gets the prefix."""
    first, *rest = text.split("\n")
    return first + "".join("\n" + prefix + line for line in rest)


def _alerts_text(alerts: list[AlertView]) -> str:
    if not alerts:
        return "[]"
    items = [
        f"{i}:"
        + _indent(f"\nLabels:{format_labels(labels)}\nAnnotations:{format_labels(notes)}", "  ")
        for i, (labels, notes) in enumerate(alerts)
    ]
    return "[\n" + ",\n".join(items) + "\n]"


def _samples_text(samples: list[tuple[dict[str, str], float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{format_labels(labels)} {format_float_e(v)}" for labels, v in samples)


# Comparing.


def same_value(a: float, b: float, fuzzy: bool) -> bool:
    """Exact (NaN never equals), or one unit in the last place apart with fuzzy_compare."""
    if a == b:
        return True
    return fuzzy and b in (math.nextafter(a, -math.inf), math.nextafter(a, math.inf))


def _alert_order(alert: AlertView) -> tuple[object, ...]:
    return (label_key(alert[0]), label_key(alert[1]))


def _sample_order(sample: tuple[dict[str, str], float]) -> tuple[object, ...]:
    return (label_key(sample[0]),)


# Running.


class _Inputs:
    """The input series, entering the store evaluation by evaluation as promtool loads them."""

    def __init__(self, group: UnitTestGroup, source: InMemorySource) -> None:
        self._source = source
        by_key: dict[object, tuple[dict[str, str], list[int], list[float]]] = {}
        for series in group.input_series:  # a series given twice: the later one wins
            times, values = [], []
            for i, value in enumerate(series.values):
                if isinstance(value, float) or value == STALE:  # None: no sample at that step
                    times.append(group.start_ms + i * group.interval_ms)
                    values.append(value if isinstance(value, float) else STALE_NAN)
            by_key[label_key(series.labels)] = (series.labels, times, values)
        self._series = list(by_key.values())
        self._loaded = [0] * len(self._series)

    def load_till(self, ts_ms: int) -> None:
        for index, (labels, times, values) in enumerate(self._series):
            start, end = self._loaded[index], bisect.bisect_right(times, ts_ms)
            if end > start:
                self._source.add(labels, times[start:end], values[start:end])
                self._loaded[index] = end


class _GroupRun:
    """One test group: its store, its rules, its cases."""

    def __init__(self, file: UnitTestFile, group: UnitTestGroup, specs: list[GroupSpec]) -> None:
        self.file = file
        self.group = group
        self.source = InMemorySource()
        self.engine = PromqlEngine(self.source)
        self.inputs = _Inputs(group, self.source)
        query = engine_query(self.engine)
        self.steps = [
            self._step(spec, i, query)
            for spec in _ordered(specs, file.group_eval_order)
            for i in range(len(spec.rules))
        ]
        self.errors: list[str] = []

    def _step(self, spec: GroupSpec, index: int, query: QueryFunc) -> RuleGroup:
        # One RuleGroup per rule, evaluated in order: each rule's output is in the store before
        # the next rule runs, as in Prometheus, where RuleGroup hands it back only at the end.
        return RuleGroup(
            replace(spec, rules=(spec.rules[index],)),
            query,
            external_labels=dict(self.group.external_labels),
            external_url=self.group.external_url,
        )

    def run(self) -> list[str]:
        checks = _alert_checks(self.group, self.file.evaluation_interval_ms)
        end = self.group.start_ms + self.group.max_eval_time_ms
        for ts in range(self.group.start_ms, end + 1, self.file.evaluation_interval_ms):
            self.inputs.load_till(ts)
            if not self._evaluate(ts):
                return self.errors
            for eval_time in checks.get(ts - self.group.start_ms, []):
                self._check_alerts(eval_time)
        for case in self.group.promql_cases:
            self._check_promql(case)
        return self.errors

    def _evaluate(self, ts: int) -> bool:
        failed = []
        for step in self.steps:
            result = step.evaluate(ts)
            self._store(result.samples)
            rule = step.rules[0]
            if rule.run.health == "err":
                failed.append(
                    f"    rule: {rule.spec.name}, time: {format_go_duration(ts)}, "
                    f"err: {rule.run.last_error}"
                )
        self.errors += failed
        return not failed

    def _store(self, samples: Iterable[Sample]) -> None:
        for labels, ts, value in samples:
            self.source.add(labels, [ts], [value])

    def _firing(self, alertname: str) -> list[AlertView]:
        return [
            (dict(alert.labels), dict(alert.annotations))
            for step in self.steps
            if isinstance(rule := step.rules[0], AlertingRule) and rule.spec.name == alertname
            for alert in rule.active_alerts()
            if alert.state is AlertState.FIRING
        ]

    def _check_alerts(self, eval_time: int) -> None:
        for case in self.group.alert_cases:
            if case.eval_time_ms == eval_time:
                self._check_alert_case(case)

    def _check_alert_case(self, case: AlertCase) -> None:
        got = sorted(self._firing(case.alertname), key=_alert_order)
        expected = sorted(
            (
                ({**alert.labels, "alertname": case.alertname}, dict(alert.annotations))
                for alert in case.exp_alerts
            ),
            key=_alert_order,
        )
        if got == expected:
            return
        name = f"    name: {self.group.name},\n" if self.group.name else ""
        exp_text = _indent(_alerts_text(expected), " " * 12)
        got_text = _indent(_alerts_text(got), " " * 12)
        self.errors.append(
            f"{name}    alertname: {case.alertname}, "
            f"time: {format_model_duration(case.eval_time_ms)}, "
            f"\n        exp:{exp_text}, \n        got:{got_text}"
        )

    def _check_promql(self, case: PromqlCase) -> None:
        where = f"    expr: {go_quote(case.expr)}, time: {format_model_duration(case.eval_time_ms)}"
        try:
            got = sorted(self._query(case), key=_sample_order)
        except ObservatoryError as exc:
            self.errors.append(f"{where}, err: {exc.message}")
            return
        except Exception as exc:  # an engine bug fails this case, not the whole run
            self.errors.append(f"{where}, err: {type(exc).__name__}: {exc}")
            return
        expected = sorted(((s.labels, s.value) for s in case.exp_samples), key=_sample_order)
        if not self._samples_equal(expected, got):
            self.errors.append(
                f"{where},\n        exp: {_samples_text(expected)}\n"
                f"        got: {_samples_text(got)}"
            )

    def _query(self, case: PromqlCase) -> list[tuple[dict[str, str], float]]:
        result = self.engine.instant(case.expr, self.group.start_ms + case.eval_time_ms)
        if result.result_type == "vector":
            return [(labels, value) for labels, _, value in result.data]
        if result.result_type == "scalar":
            return [({}, float(result.data[1]))]
        raise QueryExecutionError("rule result is not a vector or scalar")

    def _samples_equal(
        self, expected: list[tuple[dict[str, str], float]], got: list[tuple[dict[str, str], float]]
    ) -> bool:
        return len(expected) == len(got) and all(
            e[0] == g[0] and same_value(e[1], g[1], self.file.fuzzy_compare)
            for e, g in zip(expected, got, strict=True)
        )


def _ordered(specs: list[GroupSpec], order: Sequence[str]) -> list[GroupSpec]:
    """The groups in `group_eval_order`; the others keep file order, ranked with the first
    named group as promtool ranks them (its order among those is Go's map order, ours is
    the files')."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(specs, key=lambda spec: rank.get(spec.name, 0))


def _alert_checks(group: UnitTestGroup, interval_ms: int) -> dict[int, list[int]]:
    """Per evaluation (ms from the start): the eval times whose alerts are checked after it."""
    checks: dict[int, list[int]] = {}
    for eval_time in sorted({case.eval_time_ms for case in group.alert_cases}):
        checks.setdefault(eval_time - eval_time % interval_ms, []).append(eval_time)
    return checks


def _rule_paths(file: UnitTestFile, warn: Callable[[str], None]) -> list[Path]:
    """`rule_files` relative to the test file, globs expanded (Go's filepath.Join and Glob)."""
    base = os.path.dirname(str(file.path))
    paths: list[Path] = []
    for pattern in file.rule_files:
        if pattern and not os.path.isabs(pattern):
            pattern = os.path.normpath(os.path.join(base, pattern))
        found = sorted(glob.glob(pattern))
        if not found:
            warn(f"  WARNING: no file match pattern {pattern}")
        paths += [Path(p) for p in found]
    return paths


def run_unit_test_file(path: Path, run: re.Pattern[str] | None = None) -> FileResult:
    """Runs every test group of one test file (only those whose name `run` finds, if given)."""
    result = FileResult(Outcome.PASSED)
    try:
        file = read_unit_test_file(path)
        specs = load_rule_files(
            _rule_paths(file, result.warnings.append),
            default_interval_ms=file.evaluation_interval_ms,
        )
    except (UnitTestFormatError, ConfigError) as exc:
        result.outcome = Outcome.BAD_FILE
        result.errors.append(exc.message)
        return result
    for group in file.tests:
        if run is None or run.search(group.name):
            result.errors += _GroupRun(file, group, specs).run()
    if result.errors:
        result.outcome = Outcome.FAILED
    return result


def run_rule_tests(
    files: Sequence[str],
    *,
    run: Sequence[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`observatory test rules FILE...`: runs each file, prints as promtool, returns the exit
    status: 0 all passed, 1 a test failed, 2 a file could not be run."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    pattern = re.compile("|".join(run)) if run else None
    worst = Outcome.PASSED
    for name in files:
        _emit(out, f"Unit Testing:  {name}")
        result = run_unit_test_file(Path(name), pattern)
        for warning in result.warnings:
            _emit(err, warning)
        _report(result, out, err)
        worst = max(worst, result.outcome)
    return int(worst)


def _report(result: FileResult, out: TextIO, err: TextIO) -> None:
    # promtool writes the verdict and errors to stderr and the blank lines after them to stdout.
    if result.outcome is Outcome.PASSED:
        _emit(out, "  SUCCESS")
    else:
        _emit(err, "  FAILED:")
        for error in result.errors:
            _emit(err, error)
            _emit(out, "")
    _emit(out, "")


def _emit(stream: TextIO, line: str) -> None:
    # Flushed line by line, so stdout and stderr interleave as written.
    stream.write(line + "\n")
    stream.flush()
