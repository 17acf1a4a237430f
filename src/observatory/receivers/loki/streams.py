"""Loki streams: label strings, label checks, the `service_name` label and entry levels.

A protobuf push names each stream by a label string in PromQL's series syntax,
`{app="api", env="prod"}`: values are Go-quoted (double or single quotes with escapes, or
backquotes, raw). As in the Prometheus model an empty value is no label at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from observatory.errors import BadRequestError
from observatory.receivers.log_enrichment import (
    Severity,
    detect_level,
    level_value,
    severity_or_text,
)

SERVICE_NAME = "service_name"
UNKNOWN_SERVICE = "unknown_service"
# Where Loki 3 finds a stream's service when it has no `service_name` label (its
# `discover_service_name` default), first match wins.
SERVICE_NAME_SOURCES = (
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SPACE = " \t\r\n"
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
# Escapes of a number of code points or bytes: how many digits follow and their base.
_NUMERIC_ESCAPES = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}
_OCTAL = "01234567"


class LabelSyntaxError(BadRequestError):
    """A label string that does not parse; the message names the column, like Loki's."""


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str) -> LabelSyntaxError:
        return LabelSyntaxError(
            f"invalid stream labels {self.text!r}: parse error at col {self.pos + 1}: {problem}"
        )

    def unexpected(self) -> LabelSyntaxError:
        if self.pos >= len(self.text):
            return self.fail("unexpected end of input")
        return self.fail(f"unexpected {self.text[self.pos]!r}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.unexpected()
        self.pos += 1

    def parse(self) -> list[tuple[str, str]]:
        self.expect("{")
        pairs: list[tuple[str, str]] = []
        while self.peek() != "}":
            pairs.append(self.pair())
            if self.peek() != ",":
                break
            self.pos += 1
        self.expect("}")
        if self.peek():
            raise self.unexpected()
        return pairs

    def pair(self) -> tuple[str, str]:
        self.skip_space()
        match = _LABEL_NAME.match(self.text, self.pos)
        if match is None:
            raise self.unexpected()
        self.pos = match.end()
        self.expect("=")
        return match.group(), self.string()

    def string(self) -> str:
        quote = self.peek()
        if quote not in ('"', "'", "`"):
            raise self.fail("expected a quoted label value") if quote else self.unexpected()
        start = self.pos
        self.pos += 1
        if quote == "`":
            end = self.text.find("`", self.pos)
            if end < 0:
                self.pos = start
                raise self.fail("unterminated raw string")
            self.pos = end + 1
            return self.text[start + 1 : end]
        return self.quoted(quote, start)

    def quoted(self, quote: str, start: int) -> str:
        out = bytearray()
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return self.utf8(out, start)
            if char == "\n":
                break
            self.pos += 1
            if char == "\\":
                out += self.escape(quote)
            else:
                out += char.encode()
        self.pos = start
        raise self.fail("unterminated quoted string")

    def escape(self, quote: str) -> bytes:
        char = self.text[self.pos : self.pos + 1]
        self.pos += 1
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char].encode()
        if char == quote:
            return char.encode()
        if char in _NUMERIC_ESCAPES:
            digits, base = _NUMERIC_ESCAPES[char]
            value = self.digits(digits, base)
            # \x is a byte, \u and \U a code point, as in Go string literals.
            return bytes([value]) if char == "x" else self.code_point(value)
        if char and char in _OCTAL:
            self.pos -= 1
            value = self.digits(3, 8)
            if value > 255:
                raise self.fail(f"octal escape value {value} > 255")
            return bytes([value])
        self.pos -= 1
        raise self.fail(f"unknown escape sequence \\{char}")

    def digits(self, count: int, base: int) -> int:
        chunk = self.text[self.pos : self.pos + count]
        try:
            if len(chunk) != count or not chunk.isalnum():
                raise ValueError(chunk)
            value = int(chunk, base)
        except ValueError:
            raise self.fail(f"invalid escape digits {chunk!r}") from None
        self.pos += count
        return value

    def code_point(self, value: int) -> bytes:
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise self.fail(f"escape sequence is an invalid Unicode code point {value:#x}")
        return chr(value).encode()

    def utf8(self, data: bytearray, start: int) -> str:
        try:
            return data.decode()
        except UnicodeDecodeError:
            self.pos = start
            raise self.fail("label value is not valid UTF-8") from None


def parse_labels(text: str) -> dict[str, str]:
    """The labels of a label string; 400 naming the column of a syntax error or a name that
    comes twice. Empty values are dropped."""
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in _LabelParser(text).parse():
        if name in seen:
            raise BadRequestError(f"stream {text!r} has duplicate label name: {name!r}")
        seen.add(name)
        if value:
            labels[name] = value
    return labels


def is_label_name(name: str) -> bool:
    return _LABEL_NAME.fullmatch(name) is not None


def format_labels(labels: Mapping[str, str]) -> str:
    """Labels as Loki prints a stream: `{app="api", env="prod"}`, sorted by name."""
    pairs = ", ".join(f"{name}={_quote(labels[name])}" for name in sorted(labels))
    return "{" + pairs + "}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def label_problem(labels: Mapping[str, str], max_labels: int) -> tuple[str, str] | None:
    """(Loki's reason, message) when a stream's labels cannot be stored, else None.

    `service_name` does not count toward the limit, as in Loki, which may add it itself. A
    stream needs one label at least: Loki refuses `{}` rather than filing it under
    `unknown_service`.
    """
    if not labels:
        return "missing_labels", "error at least one label pair is required per stream"
    for name in labels:
        if not is_label_name(name):
            return "invalid_labels", (
                f"stream {format_labels(labels)} has the invalid label name {name!r}: names are "
                "letters, digits and underscores, not starting with a digit"
            )
    count = len(labels) - (SERVICE_NAME in labels)
    if count > max_labels:
        return "max_label_names_per_series", (
            f"entry for stream {format_labels(labels)} has {count} label names; limit "
            f"{max_labels} (setting logs_max_labels_per_stream)"
        )
    return None


def discover_service_name(labels: Mapping[str, str]) -> str:
    """The stream's service: its `service_name`, else the first of Loki's source labels."""
    for name in (SERVICE_NAME, *SERVICE_NAME_SOURCES):
        value = labels.get(name)
        if value:
            return value
    return UNKNOWN_SERVICE


def with_service_name(labels: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The labels with `service_name` added when absent, and the service."""
    service = discover_service_name(labels)
    stream = dict(labels)
    stream.setdefault(SERVICE_NAME, service)
    return stream, service


def label_severity(labels: Mapping[str, str]) -> Severity | None:
    """The level a stream label (`level`, `severity`, `lvl`, any case) gives all its entries."""
    value = level_value(labels.items())
    return severity_or_text(value) if value is not None else None


def entry_severity(
    stream_level: Severity | None, metadata: Sequence[tuple[str, object]], line: str
) -> Severity:
    """An entry's level: from its stream's labels, its structured metadata, else its line."""
    if stream_level is not None:
        return stream_level
    value = level_value(metadata) if metadata else None
    if value is not None:
        return severity_or_text(value)
    return detect_level(line)
