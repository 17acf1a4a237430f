"""Prometheus relabeling: `relabel_configs` and `metric_relabel_configs` rules.

Semantics follow Prometheus: a rule's regex must match the whole value (it is anchored),
`$1`, `${1}`, `$name` and `${name}` in `replacement` and `target_label` expand to groups (an
unknown group to nothing, `$$` to `$`), and a label set to the empty string is removed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from observatory.errors import ConfigError

Labels = dict[str, str]

DEFAULT_REGEX = "(.*)"
ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)
_NEEDS_TARGET = frozenset(
    ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
)
_KEYS = frozenset(
    ("source_labels", "separator", "regex", "target_label", "replacement", "action", "modulus")
)
# Go's regexp allows global flags like `(?i)` anywhere; Python only at the very start, so
# leading ones are lifted out of the group the pattern is wrapped in.
_LEADING_FLAGS = re.compile(r"^\(\?([ims]+)\)")
_TEMPLATE_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """The pattern with `.` matching newlines, as Prometheus compiles it.

    Prometheus anchors the pattern at both ends; callers get that by using `fullmatch`
    (Python's `$` would also match before a trailing newline, Go's does not).
    """
    prefix, body = "", pattern
    leading = _LEADING_FLAGS.match(pattern)
    if leading:
        prefix, body = leading.group(0), pattern[leading.end() :]
    try:
        return re.compile(f"{prefix}(?s:{body})")
    except re.error as exc:
        raise ConfigError(f"invalid relabel regex {pattern!r}: {exc}") from exc


def expand(template: str, match: re.Match[str]) -> str:
    """`template` with its `$` variables replaced by groups of `match`, as Go's Expand does."""

    def variable(found: re.Match[str]) -> str:
        if found.group(1):
            return "$"
        return _group(match, found.group(2) or found.group(3))

    return _TEMPLATE_VARIABLE.sub(variable, template)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name) if name.isdigit() else name)
    except IndexError:  # no such group number or name
        return ""
    return value or ""


_DEFAULT_PATTERN = compile_regex(DEFAULT_REGEX)


@dataclass(frozen=True)
class RelabelConfig:
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    regex: re.Pattern[str] = _DEFAULT_PATTERN
    target_label: str = ""
    replacement: str = "$1"
    action: str = "replace"
    modulus: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> RelabelConfig:
        """A rule from its YAML form; ConfigError naming `where` when it is invalid."""
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown relabel keys {sorted(unknown)}")
        config = cls(
            source_labels=tuple(str(name) for name in raw.get("source_labels") or ()),
            separator=str(raw.get("separator", ";")),
            regex=compile_regex(str(raw.get("regex", DEFAULT_REGEX))),
            target_label=str(raw.get("target_label", "")),
            replacement=str(raw.get("replacement", "$1")),
            action=str(raw.get("action", "replace")).lower(),
            modulus=int(raw.get("modulus", 0)),
        )
        config.validate(where)
        return config

    def validate(self, where: str) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(
                f"{where}: unknown relabel action {self.action!r}; use one of {ACTIONS}"
            )
        if self.action in _NEEDS_TARGET and not self.target_label:
            raise ConfigError(f"{where}: relabel action {self.action!r} needs a target_label")
        if self.action == "hashmod" and self.modulus <= 0:
            raise ConfigError(f"{where}: relabel action 'hashmod' needs a positive modulus")

    def source_value(self, labels: Mapping[str, str]) -> str:
        return self.separator.join(labels.get(name, "") for name in self.source_labels)


def parse_rules(raw: object, where: str) -> tuple[RelabelConfig, ...]:
    """A list of relabel rules from YAML (None is no rules)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of relabel rules, got {type(raw).__name__}")
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}[{index}]: expected a mapping, got {type(item).__name__}")
        rules.append(RelabelConfig.from_dict(item, f"{where}[{index}]"))
    return tuple(rules)


def relabel(labels: Mapping[str, str], rules: Sequence[RelabelConfig]) -> Labels | None:
    """The labels after every rule, or None when a rule drops the series or target."""
    result = dict(labels)
    for rule in rules:
        if not _ACTIONS[rule.action](rule, result):
            return None
    return result


def _replace(rule: RelabelConfig, labels: Labels) -> bool:
    match = rule.regex.fullmatch(rule.source_value(labels))
    if match is None:
        return True
    target = expand(rule.target_label, match)
    if target:
        _set(labels, target, expand(rule.replacement, match))
    return True


def _keep(rule: RelabelConfig, labels: Labels) -> bool:
    return rule.regex.fullmatch(rule.source_value(labels)) is not None


def _drop(rule: RelabelConfig, labels: Labels) -> bool:
    return rule.regex.fullmatch(rule.source_value(labels)) is None


def _keep_equal(rule: RelabelConfig, labels: Labels) -> bool:
    return rule.source_value(labels) == labels.get(rule.target_label, "")


def _drop_equal(rule: RelabelConfig, labels: Labels) -> bool:
    return rule.source_value(labels) != labels.get(rule.target_label, "")


def _hashmod(rule: RelabelConfig, labels: Labels) -> bool:
    # Prometheus takes the low 64 bits of the MD5 digest, big-endian.
    digest = hashlib.md5(rule.source_value(labels).encode(), usedforsecurity=False).digest()
    labels[rule.target_label] = str(int.from_bytes(digest[8:], "big") % rule.modulus)
    return True


def _labelmap(rule: RelabelConfig, labels: Labels) -> bool:
    for name, value in list(labels.items()):
        match = rule.regex.fullmatch(name)
        target = expand(rule.replacement, match) if match is not None else ""
        if target:
            _set(labels, target, value)
    return True


def _labeldrop(rule: RelabelConfig, labels: Labels) -> bool:
    for name in [name for name in labels if rule.regex.fullmatch(name)]:
        del labels[name]
    return True


def _labelkeep(rule: RelabelConfig, labels: Labels) -> bool:
    for name in [name for name in labels if not rule.regex.fullmatch(name)]:
        del labels[name]
    return True


def _lowercase(rule: RelabelConfig, labels: Labels) -> bool:
    _set(labels, rule.target_label, rule.source_value(labels).lower())
    return True


def _uppercase(rule: RelabelConfig, labels: Labels) -> bool:
    _set(labels, rule.target_label, rule.source_value(labels).upper())
    return True


def _set(labels: Labels, name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


# Each action edits the labels in place and answers whether the series or target stays.
_ACTIONS: dict[str, Callable[[RelabelConfig, Labels], bool]] = {
    "replace": _replace,
    "keep": _keep,
    "drop": _drop,
    "keepequal": _keep_equal,
    "dropequal": _drop_equal,
    "hashmod": _hashmod,
    "labelmap": _labelmap,
    "labeldrop": _labeldrop,
    "labelkeep": _labelkeep,
    "lowercase": _lowercase,
    "uppercase": _uppercase,
}
