"""Prometheus rule files, read into group and rule specs and checked as `promtool check rules`.

A file is read with YAML's base loader, so every scalar stays the text it was written as
(`priority: 01` is the label value "01", as Go's YAML decoder gives it to a string field) and
every node keeps its line for error messages. All problems of all files are collected and
raised as one ConfigError whose lines read like promtool's:
`rules.yml:5:17: group "api", rule 1, "job:up:sum": invalid recording rule name: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from observatory.errors import ConfigError, ObservatoryError
from observatory.query.promql.ast import parse

TOP_KEYS = frozenset({"groups"})
GROUP_KEYS = frozenset({"name", "interval", "query_offset", "limit", "labels", "rules"})
RULE_KEYS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)
DEFAULT_INTERVAL_MS = 60_000
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})

Pairs = tuple[tuple[str, str], ...]
TemplateCheck = Callable[[str, str], None]


@dataclass(frozen=True)
class RuleSpec:
    kind: Literal["recording", "alerting"]
    name: str  # the `record` metric name or the `alert` name
    expr: str
    labels: Pairs = ()  # group labels overridden by the rule's own, sorted by name
    annotations: Pairs = ()
    for_ms: int = 0
    keep_firing_for_ms: int = 0

    @property
    def identity(self) -> str:
        """What carries a rule's state over a reload, as Prometheus matches rules."""
        return self.name + repr(self.labels)


@dataclass(frozen=True)
class GroupSpec:
    file: str
    name: str
    interval_ms: int
    rules: tuple[RuleSpec, ...]
    limit: int = 0
    query_offset_ms: int | None = None  # None: the configured default
    labels: Pairs = ()

    @property
    def key(self) -> str:
        """`file;group`, the `rule_group` label of Prometheus's rule metrics."""
        return f"{self.file};{self.name}"


def parse_duration_ms(text: str) -> int:
    """A Prometheus duration (`1h30m`, `500ms`, `0`) in milliseconds; ValueError if invalid."""
    if text == "0":
        return 0
    found = _DURATION.match(text)
    if text == "" or found is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(n) * unit for n, unit in zip(found.groups(), _UNIT_MS, strict=True) if n)


def load_rule_files(
    paths: Sequence[Path],
    *,
    default_interval_ms: int = DEFAULT_INTERVAL_MS,
    check_template: TemplateCheck | None = None,
) -> list[GroupSpec]:
    """The groups of every file, in file order; one ConfigError listing every problem."""
    groups: list[GroupSpec] = []
    errors: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{path}: cannot read rule file: {exc}")
            continue
        found, problems = parse_rule_file(text, str(path), default_interval_ms, check_template)
        groups += found
        errors += problems
    if errors:
        raise ConfigError("\n".join(errors))
    return groups


def parse_rule_file(
    text: str,
    file: str,
    default_interval_ms: int = DEFAULT_INTERVAL_MS,
    check_template: TemplateCheck | None = None,
) -> tuple[list[GroupSpec], list[str]]:
    """The groups of one file and the problems found in it (promtool's wording)."""
    reader = _Reader(file, default_interval_ms, check_template or _default_check())
    try:
        root = next(iter(yaml.compose_all(text, Loader=yaml.BaseLoader)), None)
    except yaml.YAMLError as exc:
        return [], [f"{file}: invalid YAML: {exc}"]
    return reader.file(root), reader.errors


def _default_check() -> TemplateCheck:
    # Imported here so that loading specs does not pull in the template engine at import time.
    from observatory.alerting.rules.templates import check_template

    return check_template


def _at(node: yaml.Node | None) -> str:
    if node is None:
        return ""
    return f"{node.start_mark.line + 1}:{node.start_mark.column + 1}: "


class _Reader:
    """Builds specs from YAML nodes, collecting errors instead of stopping at the first."""

    def __init__(self, file: str, default_interval_ms: int, check: TemplateCheck) -> None:
        self.path = file
        self.default_interval_ms = default_interval_ms
        self.check = check
        self.errors: list[str] = []

    def error(self, node: yaml.Node | None, where: str, message: str) -> None:
        self.errors.append(f"{self.path}: {_at(node)}{where}{message}")

    def file(self, root: yaml.Node | None) -> list[GroupSpec]:
        top = self.mapping(root, "")
        if top is None:
            return []
        self.unknown(top, TOP_KEYS, "", "rule file")
        groups: list[GroupSpec] = []
        seen: set[str] = set()
        for i, node in enumerate(self.sequence(top.get("groups"), "", "groups")):
            group = self.group(node, i)
            if group is None:
                continue
            if group.name in seen:
                self.error(node, "", f'groupname: "{group.name}" is repeated in the same file')
            seen.add(group.name)
            groups.append(group)
        return groups

    def group(self, node: yaml.Node, index: int) -> GroupSpec | None:
        raw = self.mapping(node, f"group {index + 1}: ")
        if raw is None:
            return None
        name = self.scalar(raw.get("name"), "") or ""
        where = f'group "{name}": '
        if not name:
            self.error(node, "", "Groupname must not be empty")
        self.unknown(raw, GROUP_KEYS, where, "rule group")
        interval = self.duration(raw.get("interval"), where, "interval")
        offset = None
        if raw.get("query_offset") is not None:
            offset = self.duration(raw.get("query_offset"), where, "query_offset")
        labels = self.labels(raw.get("labels"), where)
        rules = tuple(
            rule
            for i, item in enumerate(self.sequence(raw.get("rules"), where, "rules"))
            if (rule := self.rule(item, name, i, labels)) is not None
        )
        return GroupSpec(
            file=self.path,
            name=name,
            interval_ms=interval or self.default_interval_ms,
            rules=rules,
            limit=self.integer(raw.get("limit"), where, "limit"),
            query_offset_ms=offset,
            labels=tuple(sorted(labels.items())),
        )

    def rule(
        self, node: yaml.Node, group: str, index: int, group_labels: dict[str, str]
    ) -> RuleSpec | None:
        raw = self.mapping(node, f'group "{group}", rule {index + 1}: ')
        if raw is None:
            return None
        record = self.scalar(raw.get("record"), "") or ""
        alert = self.scalar(raw.get("alert"), "") or ""
        where = f'group "{group}", rule {index + 1}, "{alert or record}": '
        before = len(self.errors)
        self.unknown(raw, RULE_KEYS, where, "rule")
        if record and alert:
            self.error(raw.get("record"), where, "only one of 'record' and 'alert' must be set")
        elif not record and not alert:
            self.error(node, where, "one of 'record' or 'alert' must be set")
        expr = self.expression(raw.get("expr"), node, where)
        labels = {**group_labels, **self.labels(raw.get("labels"), where)}
        annotations = self.string_map(raw.get("annotations"), where, "annotations")
        self.annotation_names(raw.get("annotations"), annotations, where)
        durations = (
            self.duration(raw.get("for"), where, "for"),
            self.duration(raw.get("keep_firing_for"), where, "keep_firing_for"),
        )
        if record:
            self.recording_checks(raw, record, annotations, durations, where)
        elif alert:
            self.template_checks(alert, labels, annotations, node, where)
        if len(self.errors) > before:
            return None
        kind: Literal["recording", "alerting"] = "recording" if record else "alerting"
        return RuleSpec(
            kind,
            record or alert,
            expr,
            tuple(sorted(labels.items())),
            tuple(sorted(annotations.items())),
            *durations,
        )

    def expression(self, node: yaml.Node | None, rule: yaml.Node, where: str) -> str:
        expr = self.scalar(node, where) or ""
        if not expr.strip():
            self.error(rule if node is None else node, where, "field 'expr' must be set in rule")
            return expr
        try:
            parse(expr)
        except ObservatoryError as exc:
            self.error(node, where, f"could not parse expression: {exc.message}")
        return expr.strip()

    def recording_checks(
        self,
        raw: dict[str, yaml.Node],
        record: str,
        annotations: dict[str, str],
        durations: tuple[int, int],
        where: str,
    ) -> None:
        if annotations:
            self.error(
                raw.get("annotations"), where, "invalid field 'annotations' in recording rule"
            )
        if durations[0]:
            self.error(raw.get("for"), where, "invalid field 'for' in recording rule")
        if durations[1]:
            self.error(
                raw.get("keep_firing_for"),
                where,
                "invalid field 'keep_firing_for' in recording rule",
            )
        if not _METRIC_NAME.match(record):
            self.error(raw.get("record"), where, f"invalid recording rule name: {record}")

    def template_checks(
        self,
        alert: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        node: yaml.Node,
        where: str,
    ) -> None:
        for kind, values in (("label", labels), ("annotation", annotations)):
            for key, text in values.items():
                try:
                    self.check(text, f"__alert_{alert}")
                except ObservatoryError as exc:
                    self.error(node, where, f'{kind} "{key}": {exc.message}')

    def labels(self, node: yaml.Node | None, where: str) -> dict[str, str]:
        labels = self.string_map(node, where, "labels")
        for name in labels:
            if name == "__name__" or not _LABEL_NAME.match(name):
                self.error(node, where, f"invalid label name: {name}")
        return labels

    def annotation_names(self, node: yaml.Node | None, values: dict[str, str], where: str) -> None:
        for name in values:
            if not _LABEL_NAME.match(name):
                self.error(node, where, f"invalid annotation name: {name}")

    # Typed access to nodes: each reports a wrong shape and returns an empty value.

    def mapping(self, node: yaml.Node | None, where: str) -> dict[str, yaml.Node] | None:
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, where, f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = str(key_node.value)
            if key in out:
                self.error(key_node, where, f'mapping key "{key}" already defined')
            out[key] = value
        return out

    def sequence(self, node: yaml.Node | None, where: str, field: str) -> list[yaml.Node]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, where, f"'{field}' must be a list, got {_kind(node)}")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node | None, where: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, where, f"expected a string, got {_kind(node)}")
            return None
        return str(node.value)

    def string_map(self, node: yaml.Node | None, where: str, field: str) -> dict[str, str]:
        raw = self.mapping(node, f"{where}{field}: ")
        out: dict[str, str] = {}
        for key, value in (raw or {}).items():
            text = self.scalar(value, f"{where}{field}: ")
            out[key] = "" if text is None or _is_null(value) else text
        return out

    def duration(self, node: yaml.Node | None, where: str, field: str) -> int:
        text = self.scalar(node, where)
        if text is None:
            return 0
        try:
            return parse_duration_ms(text)
        except ValueError as exc:
            self.error(node, where, f"{field}: {exc}")
            return 0

    def integer(self, node: yaml.Node | None, where: str, field: str) -> int:
        text = self.scalar(node, where)
        if text is None:
            return 0
        try:
            return int(text, 10)
        except ValueError:
            self.error(node, where, f"{field}: {text!r} is not an integer")
            return 0

    def unknown(
        self, raw: dict[str, yaml.Node], known: frozenset[str], where: str, what: str
    ) -> None:
        for key in raw:
            if key not in known:
                self.error(raw[key], where, f"field {key} not found in {what}")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value in _NULLS and node.style is None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"
