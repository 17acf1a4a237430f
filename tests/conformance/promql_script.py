"""A runner for Prometheus's PromQL test scripts (promqltest's `.test` format).

The format: `load <step>` blocks define series with the expanding notation (`1+2x3`, `_x2`,
`stale`, ...), `clear` drops everything, and `eval instant at <t> <query>` / `eval range from <a>
to <b> step <s> <query>` blocks state the expected result, with `expect ...` lines for failures,
ordering and annotations. Results are compared as Prometheus's runner compares them: values with
a relative tolerance of 1e-6, label sets exactly, order only when `expect ordered` is given.
Instant queries are also re-run as a range query around their time, as Prometheus's runner does.

Cases that need native histograms are skipped, never counted as passed.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from observatory.errors import ObservatoryError
from observatory.query.promql import InMemorySource, NativeHistogramError, PromqlEngine
from observatory.query.promql.regex import translate
from observatory.query.promql.series_notation import (
    HISTOGRAM,
    OMITTED,
    STALE,
    SeqValue,
    parse_duration,
    parse_number,
    parse_series,
    unquote,
)
from observatory.query.promql.source import STALE_NAN

# Re-exported: the runner's tests read the notation's names from here.
__all__ = ["HISTOGRAM", "OMITTED", "STALE", "SeqValue", "parse_duration", "parse_series"]

_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_EVAL_INSTANT = re.compile(
    r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$"
)
_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")
MIN_NORMAL = 2.2250738585072014e-308
EPSILON = 1e-6


# --- commands --------------------------------------------------------------------------------


@dataclass
class Load:
    step_ms: int
    with_nhcb: bool
    series: list[tuple[dict[str, str], list[SeqValue]]]


@dataclass
class Clear:
    pass


@dataclass
class Expectation:
    kind: str  # ordered, fail, warn, no_warn, info, no_info
    message: str | None = None
    regex: str | None = None

    def matches(self, text: str) -> bool:
        if self.message is not None:
            return text == self.message
        if self.regex is not None:
            return re.search(translate(self.regex), text) is not None
        return True


@dataclass
class Eval:
    line: int
    query: str
    start_ms: int
    end_ms: int = 0
    step_ms: int = 0
    is_range: bool = False
    expects: list[Expectation] = field(default_factory=list)
    scalar: float | None = None
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    series: list[tuple[dict[str, str], list[SeqValue], int]] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.expects)

    @property
    def name(self) -> str:
        return f"line {self.line}: {self.query}"


Command = Load | Clear | Eval


def _lines(text: str) -> list[str]:
    return ["" if ln.strip().startswith("#") else ln.strip() for ln in text.split("\n")]


def _parse_load(lines: list[str], i: int) -> tuple[int, Load]:
    m = _LOAD.match(lines[i])
    if m is None:
        raise ValueError(f"bad load command at line {i + 1}")
    load = Load(parse_duration(m.group(2)), m.group(1) == "with_nhcb", [])
    while i + 1 < len(lines) and lines[i + 1]:
        i += 1
        load.series.append(parse_series(lines[i]))
    return i, load


def _eval_header(line: str, number: int) -> Eval:
    instant, ranged = _EVAL_INSTANT.match(line), _EVAL_RANGE.match(line)
    if instant:
        cmd = Eval(number, instant.group(3), parse_duration(instant.group(2) or "0"))
        mod = instant.group(1)
    elif ranged:
        start, end = parse_duration(ranged.group(2)), parse_duration(ranged.group(3))
        step = parse_duration(ranged.group(4))
        cmd = Eval(number, ranged.group(5), start, end, step, True)
        mod = ranged.group(1)
    else:
        raise ValueError(f"bad eval command at line {number}: {line}")
    if mod:
        cmd.expects.append(Expectation(mod))
    return cmd


def _parse_eval_line(cmd: Eval, line: str) -> bool:
    """Adds one expectation line; returns False when the block ends after it."""
    fail = cmd.has("fail")
    if fail and line.startswith(("expected_fail_message", "expected_fail_regexp")):
        text = line.split(None, 1)[1].strip() if " " in line else ""
        is_msg = line.startswith("expected_fail_message")
        cmd.expects.append(Expectation("fail", text if is_msg else None, None if is_msg else text))
        return False
    if (rv := _EXPECT_RANGE.match(line)) is not None:
        cmd.range_vector = tuple(parse_duration(rv.group(k)) for k in (1, 2, 3))  # type: ignore[assignment]
        return True
    if line.startswith("expect string"):
        literal = line[len("expect string") :].strip()
        cmd.string = literal[1:-1] if literal[:1] == "`" else unquote(literal, 0)[0]
        return True
    if line.split(" ")[0] == "expect":
        m = _EXPECT.match(line)
        if m is None:
            raise ValueError(f"bad expect line: {line}")
        text = m.group(3).strip() if m.group(3) else None
        msg, regex = (text, None) if m.group(2) == "msg" else (None, text)
        cmd.expects.append(Expectation(m.group(1), msg, regex))
        return True
    try:
        cmd.scalar = parse_number(line)
        return False
    except ValueError:
        labels, values = parse_series(line)
        cmd.series.append((labels, values, len(cmd.series) + 1))
        return True


def _parse_eval(lines: list[str], i: int) -> tuple[int, Eval]:
    cmd = _eval_header(lines[i], i + 1)
    while i + 1 < len(lines) and lines[i + 1]:
        i += 1
        if not _parse_eval_line(cmd, lines[i]):
            break
    return i, cmd


def parse_script(text: str) -> list[Command]:
    lines = _lines(text)
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        word = lines[i].split(None, 1)[0].lower() if lines[i] else ""
        if word == "clear":
            commands.append(Clear())
        elif word.startswith("load"):
            i, load = _parse_load(lines, i)
            commands.append(load)
        elif word.startswith("eval"):
            i, cmd = _parse_eval(lines, i)
            commands.append(cmd)
        elif word:
            raise ValueError(f"unknown command at line {i + 1}: {lines[i]}")
        i += 1
    return commands


# --- running ---------------------------------------------------------------------------------


class Mismatch(Exception):
    """The engine's answer differs from the expected one."""


class Skip(Exception):
    """The case needs something out of scope (native histograms)."""


def almost_equal(a: float, b: float) -> bool:
    """Prometheus's util/almost.Equal with the runner's epsilon."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < MIN_NORMAL:
        return diff < EPSILON * MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < EPSILON


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def load(source: InMemorySource, cmd: Load) -> None:
    defs: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[SeqValue]]] = {}
    for labels, values in cmd.series:
        defs[_key(labels)] = (labels, values)  # a later line for the same series replaces it
    for labels, values in defs.values():
        times = [i * cmd.step_ms for i in range(len(values))]
        floats = [(t, STALE_NAN if v == STALE else v) for t, v in zip(times, values, strict=True)]
        floats = [(t, v) for t, v in floats if isinstance(v, float)]
        hist = [t for t, v in zip(times, values, strict=True) if v == HISTOGRAM]
        if floats:
            source.add(labels, [t for t, _ in floats], [v for _, v in floats])
        if hist:
            source.add_native_histograms(labels, hist)
        if cmd.with_nhcb:
            _mark_nhcb(source, labels, [t for t, _ in floats])


def _mark_nhcb(source: InMemorySource, labels: dict[str, str], times: list[int]) -> None:
    """load_with_nhcb also stores each classic histogram as a native one under its base name."""
    name = labels.get("__name__", "")
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and times:
            base = {k: v for k, v in labels.items() if k != "le"}
            base["__name__"] = name[: -len(suffix)]
            source.add_native_histograms(base, times)


def _check_vector(cmd: Eval, rows: list[tuple[dict[str, str], int, float]], ordered: bool) -> None:
    expected = {_key(lbl): (vals, pos) for lbl, vals, pos in cmd.series}
    seen = set()
    for index, (labels, _, value) in enumerate(rows):
        key = _key(labels)
        if key not in expected:
            raise Mismatch(f"unexpected metric {labels} with value {value}")
        vals, pos = expected[key]
        if ordered and pos != index + 1:
            raise Mismatch(f"expected {labels} at position {pos} but was at {index + 1}")
        if not vals or not isinstance(vals[0], float) or not almost_equal(vals[0], value):
            raise Mismatch(f"expected {vals[:1]} for {labels} but got {value}")
        seen.add(key)
    missing = [k for k in expected if k not in seen]
    if missing:
        raise Mismatch(f"expected metric {dict(missing[0])} not found")


def _check_matrix(
    cmd: Eval, rows: list[tuple[dict[str, str], object, object]], start: int, step: int
) -> None:
    expected = {_key(lbl): vals for lbl, vals, _ in cmd.series}
    keys = [_key(lbl) for lbl, _, _ in rows]
    if keys != sorted(keys):
        raise Mismatch("matrix result is not sorted by labels")
    for labels, times, values in rows:
        key = _key(labels)
        if key not in expected:
            raise Mismatch(f"unexpected metric {labels} in result")
        want = [(start + i * step, v) for i, v in enumerate(expected[key]) if v is not OMITTED]
        got = list(zip(list(times), list(values), strict=True))  # type: ignore[call-overload]
        if len(want) != len(got):
            raise Mismatch(f"expected {len(want)} points for {labels}, got {len(got)}: {got}")
        for (wt, wv), (gt, gv) in zip(want, got, strict=True):
            if wt != gt or not isinstance(wv, float) or not almost_equal(wv, float(gv)):
                raise Mismatch(f"expected {wv}@{wt} for {labels}, got {gv}@{gt}")
    missing = [k for k in expected if k not in set(keys)]
    if missing:
        raise Mismatch(f"expected metric {dict(missing[0])} not found")


def _check_result(cmd: Eval, result: object) -> None:
    kind, data = result.result_type, result.data  # type: ignore[attr-defined]
    if cmd.string is not None:
        if kind != "string" or data[1] != cmd.string:
            raise Mismatch(f"expected string {cmd.string!r}, got {kind} {data}")
    elif cmd.scalar is not None:
        if kind != "scalar" or not almost_equal(cmd.scalar, data[1]):
            raise Mismatch(f"expected scalar {cmd.scalar}, got {kind} {data}")
    elif kind == "vector":
        _check_vector(cmd, data, cmd.has("ordered"))
    elif kind == "matrix":
        if cmd.has("ordered"):
            raise Mismatch("expected ordered result, but query returned a matrix")
        start, step = (cmd.start_ms, cmd.step_ms)
        if cmd.range_vector is not None:
            start, _, step = cmd.range_vector
        _check_matrix(cmd, data, start, step)
    else:
        raise Mismatch(f"expected a vector or matrix, got {kind} {data}")


def annotations_match(cmd: Eval, notes: list[str]) -> bool:
    """Whether warn/info expectations hold; reported separately, never failing a case."""
    warns = [n for n in notes if n.startswith("PromQL warning")]
    infos = [n for n in notes if n.startswith("PromQL info")]
    for kind, got in (("warn", warns), ("info", infos)):
        wanted = [e for e in cmd.expects if e.kind == kind]
        if wanted and not all(any(e.matches(g) for g in got) for e in wanted):
            return False
        if cmd.has("no_" + kind) and got:
            return False
    return True


def _range_mode(engine: PromqlEngine, cmd: Eval, instant: object) -> None:
    """The instant query again as a range query around its time; the middle step must agree."""
    if cmd.has("ordered") or cmd.string is not None or cmd.range_vector is not None:
        return
    if _CONTEXT_FUNCS.search(cmd.query):
        return
    t = cmd.start_ms
    try:
        result = engine.range(cmd.query, t - 60_000, t + 60_000, 60_000)
    except NativeHistogramError:
        return  # the wider range reaches native histograms the instant query did not read
    rows = []
    for labels, times, values in result.data:
        for ts, v in zip(list(times), list(values), strict=True):
            if ts == t:
                rows.append((labels, t, float(v)))
    if instant.result_type == "scalar":  # type: ignore[attr-defined]
        if not rows or not almost_equal(cmd.scalar or 0.0, rows[0][2]):
            raise Mismatch(f"range mode: expected scalar {cmd.scalar}, got {rows}")
        return
    try:
        _check_vector(cmd, rows, ordered=False)
    except Mismatch as exc:
        raise Mismatch(f"range mode: {exc}") from exc


def _expected_failure(cmd: Eval, error: ObservatoryError) -> None:
    for e in cmd.expects:
        if e.kind == "fail" and not e.matches(error.message):
            raise Mismatch(
                f"expected error matching {e.message or e.regex!r}, got {error.message!r}"
            )


def run_eval(engine: PromqlEngine, cmd: Eval) -> bool:
    """Runs one case; raises Mismatch or Skip. Returns whether annotations matched too."""
    if any(HISTOGRAM in vals for _, vals, _ in cmd.series):
        raise Skip("expects native histogram values")
    try:
        if cmd.is_range:
            result = engine.range(cmd.query, cmd.start_ms, cmd.end_ms, cmd.step_ms)
        else:
            result = engine.instant(cmd.query, cmd.start_ms)
    except NativeHistogramError as exc:
        raise Skip("reads native histogram data") from exc
    except ObservatoryError as exc:
        if not cmd.has("fail"):
            raise Mismatch(f"unexpected error: {exc.message}") from exc
        _expected_failure(cmd, exc)
        return True
    if cmd.has("fail"):
        raise Mismatch("expected an error, got none")
    _check_result(cmd, result)
    if not cmd.is_range:
        _range_mode(engine, cmd, result)
    return annotations_match(cmd, result.warnings)


@dataclass
class FileReport:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    annotation_mismatches: int = 0
    failures: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        run = self.passed + self.failed
        return self.passed / run if run else 1.0


def run_script(text: str, name: str) -> FileReport:
    report = FileReport(name)
    source = InMemorySource()
    engine = PromqlEngine(source)
    for cmd in parse_script(text):
        if isinstance(cmd, Clear):
            source.clear()
        elif isinstance(cmd, Load):
            load(source, cmd)
        else:
            _record(report, engine, cmd)
    return report


def _record(report: FileReport, engine: PromqlEngine, cmd: Eval) -> None:
    try:
        if not run_eval(engine, cmd):
            report.annotation_mismatches += 1
        report.passed += 1
    except Skip as exc:
        report.skipped += 1
        report.skips.append(f"{cmd.name} -- {exc}")
    except Mismatch as exc:
        report.failed += 1
        report.failures.append(f"{cmd.name} -- {exc}")
    except Exception as exc:  # an engine crash is a failed case, not a broken run
        report.failed += 1
        report.failures.append(f"{cmd.name} -- crash: {type(exc).__name__}: {exc}")


def main(paths: list[str]) -> None:
    for path in paths:
        report = run_script(Path(path).read_text(), Path(path).name)
        counts = f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped"
        print(f"{report.name}: {counts}")
        for line in report.failures:
            print("  FAIL", line)


if __name__ == "__main__":
    main(sys.argv[1:])
