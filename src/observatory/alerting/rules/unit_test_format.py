"""The test files of `promtool test rules`, read strictly into typed cases.

The format is promtool's ("Unit testing for rules" in Prometheus's documentation): `rule_files`
(globs, relative to the test file), `evaluation_interval` (default 1m), `group_eval_order`,
`fuzzy_compare`, and `tests`, each with `interval` (default: the evaluation interval),
`input_series` in the expanding notation, `alert_rule_test`, `promql_expr_test`,
`external_labels`, `external_url`, `name` and `start_timestamp`.

Reading is strict as promtool's (Go's yaml.UnmarshalStrict): an unknown or repeated field, a
value of the wrong shape, a bad duration, a series, expression or label set that does not parse
all make the file bad, and every such problem is reported at once, with its line, worded as
promtool words it where it has a wording. Native-histogram values are refused: the engine does
not store native histograms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from observatory.errors import ConfigError, ObservatoryError
from observatory.query.logql.conversions import go_quote
from observatory.query.promql.ast import parse
from observatory.query.promql.series_notation import (
    HISTOGRAM,
    SeqValue,
    parse_duration,
    parse_metric,
    parse_series,
)

DEFAULT_EVALUATION_INTERVAL_MS = 60_000
# Go's field names per type, as yaml.UnmarshalStrict names the type of an unknown field.
_FIELDS = {
    "unitTestFile": (
        "rule_files",
        "evaluation_interval",
        "group_eval_order",
        "tests",
        "fuzzy_compare",
    ),
    "testGroup": (
        "interval",
        "input_series",
        "alert_rule_test",
        "promql_expr_test",
        "external_labels",
        "external_url",
        "name",
        "start_timestamp",
    ),
    "series": ("series", "values"),
    "alertTestCase": ("eval_time", "alertname", "exp_alerts"),
    "alert": ("exp_labels", "exp_annotations"),
    "promqlTestCase": ("expr", "eval_time", "exp_samples"),
    "sample": ("labels", "value", "histogram"),
}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_YAML_SPECIAL = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


class UnitTestFormatError(ConfigError):
    """A test file that cannot be run: unreadable, not the format, or a part that does not parse."""


@dataclass(frozen=True)
class InputSeries:
    labels: dict[str, str]
    values: tuple[SeqValue, ...]  # one per `interval` from the start; None where omitted


@dataclass(frozen=True)
class ExpectedAlert:
    labels: dict[str, str]  # without `alertname`: the runner adds the case's
    annotations: dict[str, str]


@dataclass(frozen=True)
class AlertCase:
    eval_time_ms: int
    alertname: str
    exp_alerts: tuple[ExpectedAlert, ...]


@dataclass(frozen=True)
class ExpectedSample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class PromqlCase:
    expr: str
    eval_time_ms: int
    exp_samples: tuple[ExpectedSample, ...]


@dataclass(frozen=True)
class UnitTestGroup:
    interval_ms: int
    input_series: tuple[InputSeries, ...]
    alert_cases: tuple[AlertCase, ...] = ()
    promql_cases: tuple[PromqlCase, ...] = ()
    external_labels: tuple[tuple[str, str], ...] = ()
    external_url: str = ""
    name: str = ""
    start_ms: int = 0  # `start_timestamp`: the time samples and eval times count from

    @property
    def max_eval_time_ms(self) -> int:
        times = [c.eval_time_ms for c in self.alert_cases]
        return max(times + [c.eval_time_ms for c in self.promql_cases], default=0)


@dataclass(frozen=True)
class UnitTestFile:
    path: Path
    rule_files: tuple[str, ...]  # as written: globs, relative to the test file's directory
    evaluation_interval_ms: int
    group_eval_order: tuple[str, ...]
    tests: tuple[UnitTestGroup, ...]
    fuzzy_compare: bool = False


def read_unit_test_file(path: Path) -> UnitTestFile:
    """The test file at `path`; UnitTestFormatError listing every problem when it is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnitTestFormatError(f"open {path}: {exc}") from exc
    return parse_unit_test_file(text, path)


def parse_unit_test_file(text: str, path: Path) -> UnitTestFile:
    try:
        root = next(iter(yaml.compose_all(text, Loader=yaml.BaseLoader)), None)
    except yaml.YAMLError as exc:
        raise UnitTestFormatError(f"yaml: {exc}") from exc
    reader = _Reader()
    parsed = reader.file(root, path)
    if reader.errors or reader.content:
        raise UnitTestFormatError("\n".join(reader.messages()))
    return parsed


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _NULLS


class _Reader:
    """Builds the cases from YAML nodes, collecting problems instead of stopping at the first.

    Shape problems (Go's "unmarshal errors") and problems of content (a series or expression
    that does not parse) are kept apart, so each reads as promtool prints it."""

    def __init__(self) -> None:
        self.errors: list[str] = []  # shape: "line N: ..."
        self.content: list[str] = []  # content, already worded in full

    def messages(self) -> list[str]:
        shape = ["yaml: unmarshal errors:", *(f"  {e}" for e in self.errors)]
        return (shape if self.errors else []) + self.content

    # Typed access: each reports a wrong shape and returns an empty value.

    def fields(self, node: yaml.Node | None, kind: str) -> dict[str, yaml.Node]:
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.errors.append(f"line {_line(node)}: cannot unmarshal {_tag(node)} into {kind}")
            return {}
        out: dict[str, yaml.Node] = {}
        for key, value in _pairs(node):
            name = str(key.value)
            if name in out:
                self.errors.append(f'line {_line(key)}: key "{name}" already set in map')
            elif name not in _FIELDS.get(kind, (name,)):
                self.errors.append(f"line {_line(key)}: field {name} not found in type main.{kind}")
            out[name] = value
        return out

    def items(self, node: yaml.Node | None) -> list[yaml.Node]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.errors.append(f"line {_line(node)}: cannot unmarshal {_tag(node)} into a list")
            return []
        return list(node.value)

    def text(self, node: yaml.Node | None) -> str:
        if node is None or _is_null(node):
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.errors.append(f"line {_line(node)}: cannot unmarshal {_tag(node)} into string")
            return ""
        return str(node.value)

    def strings(self, node: yaml.Node | None) -> list[str]:
        return [self.text(item) for item in self.items(node)]

    def string_map(self, node: yaml.Node | None) -> dict[str, str]:
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.errors.append(f"line {_line(node)}: cannot unmarshal {_tag(node)} into map")
            return {}
        out: dict[str, str] = {}
        for key, value in _pairs(node):
            if str(key.value) in out:
                self.errors.append(f'line {_line(key)}: key "{key.value}" already set in map')
            out[str(key.value)] = self.text(value)
        return out

    def duration(self, node: yaml.Node | None) -> int:
        raw = self.text(node)
        if node is None or not raw:
            return 0
        try:
            return parse_duration(raw)
        except ValueError:
            self.errors.append(f'line {_line(node)}: not a valid duration string: "{raw}"')
            return 0

    def boolean(self, node: yaml.Node | None) -> bool:
        raw = self.text(node)
        if node is None or not raw or raw in _FALSE:
            return False
        if raw not in _TRUE:
            self.errors.append(f"line {_line(node)}: cannot unmarshal !!str `{raw}` into bool")
        return raw in _TRUE

    def number(self, node: yaml.Node | None) -> float:
        raw = self.text(node)
        if node is None or not raw:
            return 0.0
        # A quoted scalar is a string to Go's decoder, whatever it spells.
        plain = isinstance(node, yaml.ScalarNode) and node.style is None
        value = _yaml_float(raw) if plain else None
        if value is None:
            self.errors.append(f"line {_line(node)}: cannot unmarshal !!str `{raw}` into float64")
            return 0.0
        return value

    def timestamp(self, node: yaml.Node | None) -> int:
        raw = self.text(node)
        if node is None or not raw:
            return 0
        try:
            return _parse_time_ms(raw)
        except ValueError:
            self.errors.append(f"line {_line(node)}: cannot parse {raw!r} to a valid timestamp")
            return 0

    # The file's types, top down.

    def file(self, root: yaml.Node | None, path: Path) -> UnitTestFile:
        raw = self.fields(root, "unitTestFile")
        interval = self.duration(raw.get("evaluation_interval")) or DEFAULT_EVALUATION_INTERVAL_MS
        order = self.strings(raw.get("group_eval_order"))
        repeated = [name for i, name in enumerate(order) if name in order[:i]]
        if repeated:
            self.content.append(f"group name repeated in evaluation order: {repeated[0]}")
        return UnitTestFile(
            path=path,
            rule_files=tuple(self.strings(raw.get("rule_files"))),
            evaluation_interval_ms=interval,
            group_eval_order=tuple(order),
            tests=tuple(self.group(n, interval) for n in self.items(raw.get("tests"))),
            fuzzy_compare=self.boolean(raw.get("fuzzy_compare")),
        )

    def group(self, node: yaml.Node, evaluation_interval_ms: int) -> UnitTestGroup:
        raw = self.fields(node, "testGroup")
        name = self.text(raw.get("name"))
        alerts = tuple(self.alert_case(n, name) for n in self.items(raw.get("alert_rule_test")))
        return UnitTestGroup(
            interval_ms=self.duration(raw.get("interval")) or evaluation_interval_ms,
            input_series=tuple(self.series(n) for n in self.items(raw.get("input_series"))),
            alert_cases=alerts,
            promql_cases=tuple(
                self.promql_case(n) for n in self.items(raw.get("promql_expr_test"))
            ),
            external_labels=tuple(sorted(self.string_map(raw.get("external_labels")).items())),
            external_url=self.text(raw.get("external_url")),
            name=name,
            start_ms=self.timestamp(raw.get("start_timestamp")),
        )

    def series(self, node: yaml.Node) -> InputSeries:
        raw = self.fields(node, "series")
        text = f"{self.text(raw.get('series'))} {self.text(raw.get('values'))}"
        try:
            labels, values = parse_series(text)
        except ValueError as exc:
            self.content.append(
                f"line {_line(node)}: could not parse input series {go_quote(text.strip())}: {exc}"
            )
            return InputSeries({}, ())
        if not labels:
            self.content.append(f"line {_line(node)}: input series without a metric name or labels")
        if HISTOGRAM in values:
            self.content.append(
                f"line {_line(node)}: native histogram values are not supported in input series"
            )
        return InputSeries(labels, tuple(values))

    def alert_case(self, node: yaml.Node, group_name: str) -> AlertCase:
        raw = self.fields(node, "alertTestCase")
        case = AlertCase(
            eval_time_ms=self.duration(raw.get("eval_time")),
            alertname=self.text(raw.get("alertname")),
            exp_alerts=tuple(self.expected_alert(n) for n in self.items(raw.get("exp_alerts"))),
        )
        if not case.alertname:
            where = f" (in TestGroup {group_name})" if group_name else ""
            self.content.append(
                "an item under alert_rule_test misses required attribute alertname at "
                f"eval_time {format_model_duration(case.eval_time_ms)}{where}"
            )
        return case

    def expected_alert(self, node: yaml.Node) -> ExpectedAlert:
        raw = self.fields(node, "alert")
        return ExpectedAlert(
            self.string_map(raw.get("exp_labels")), self.string_map(raw.get("exp_annotations"))
        )

    def promql_case(self, node: yaml.Node) -> PromqlCase:
        raw = self.fields(node, "promqlTestCase")
        expr = self.text(raw.get("expr"))
        eval_time = self.duration(raw.get("eval_time"))
        where = f"    expr: {go_quote(expr)}, time: {format_model_duration(eval_time)}, err: "
        try:
            parse(expr)
        except ObservatoryError as exc:
            self.content.append(where + exc.message)
        samples = [self.sample(n, where) for n in self.items(raw.get("exp_samples"))]
        return PromqlCase(expr, eval_time, tuple(s for s in samples if s is not None))

    def sample(self, node: yaml.Node, where: str) -> ExpectedSample | None:
        raw = self.fields(node, "sample")
        text = self.text(raw.get("labels"))
        if "histogram" in raw:
            self.content.append(where + "native histogram samples are not supported")
            return None
        try:
            labels, rest = parse_metric(text)
            if rest.strip():
                raise ValueError(f"unexpected {rest.strip()!r} after the label set")
        except ValueError as exc:
            self.content.append(f"{where}labels {go_quote(text)}: {exc}")
            return None
        return ExpectedSample(labels, self.number(raw.get("value")))


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value nodes of a mapping with YAML merge keys (`<<: *base`) expanded in place.

    Go's strict decoder reports a key both merged and set as set twice, and so do the callers."""
    out: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if not (key.value == "<<" and key.style is None):
            out.append((key, value))
            continue
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                out += _pairs(source)
    return out


def _tag(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    return f"!!str `{node.value}`"


def _yaml_float(raw: str) -> float | None:
    """A plain YAML scalar as Go's yaml.v2 decodes it into a float64, or None."""
    if raw.lower() in _YAML_SPECIAL:
        return _YAML_SPECIAL[raw.lower()]
    digits = raw.replace("_", "")
    try:
        return float(int(digits, 0))
    except ValueError:
        pass
    return float(raw) if _YAML_FLOAT.fullmatch(raw) else None


def _parse_time_ms(raw: str) -> int:
    """Unix seconds (fractions allowed) or RFC 3339, as Prometheus's API parses times."""
    try:
        return round(float(raw) * 1000)
    except ValueError:
        pass
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:  # RFC 3339 always has a zone; read a bare time as UTC
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def format_model_duration(ms: int) -> str:
    """A duration as Prometheus's model.Duration prints it: `1h30m`, `5m`, `0s`, `1s500ms`."""
    if ms == 0:
        return "0s"
    units = (
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    )
    out = []
    for name, size in units:
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{name}")
    return "".join(out)
