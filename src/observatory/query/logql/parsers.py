"""Parser stages: `json`, `logfmt`, `regexp`, `pattern`, `unpack`, and `decolorize`.

Each stage is a callable on an Entry that adds labels (and, for `unpack`, replaces the line)
and always keeps the entry; malformed input adds `__error__` and `__error_details__` instead,
as Loki does. Extracted names are sanitized to valid label names, get an `_extracted` suffix
when they collide with a label the entry came with, and within one stage the first value of a
name wins.
"""

from __future__ import annotations

import json
import re
from typing import Any

from observatory.errors import QueryError
from observatory.query.logql import ast
from observatory.query.logql.entry import ERROR_DETAILS_LABEL, ERROR_LABEL, Entry, Stage
from observatory.query.logql.pattern import parse_pattern
from observatory.query.promql.regex import translate

JSON_ERROR = "JSONParserErr"
LOGFMT_ERROR = "LogfmtParserErr"
DUPLICATE_SUFFIX = "_extracted"

_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_]")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ANSI escape sequences (colours, cursor moves), as Loki's decolorize strips them.
_ANSI = re.compile(
    "[\u001b\u009b][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u0007)"
    "|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))"
)


def sanitize(key: str) -> str:
    """A label name from an extracted key: invalid characters become `_`, no leading digit."""
    key = key.strip()
    if key and "0" <= key[0] <= "9":
        key = "_" + key
    return _INVALID_CHARS.sub("_", key)


class _Extraction:
    """Labels one stage extracts from one entry: suffixes collisions, keeps first values."""

    __slots__ = ("entry", "seen")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.seen: set[str] = set()

    def add(self, name: str, value: str) -> None:
        if not name:
            return
        if name in self.entry.original:
            name += DUPLICATE_SUFFIX
        if name in self.seen:
            return
        self.seen.add(name)
        self.entry.labels[name] = value


def set_error(entry: Entry, kind: str, details: str | None = None) -> None:
    entry.labels[ERROR_LABEL] = kind
    if details:
        entry.labels[ERROR_DETAILS_LABEL] = details


def _check_label_name(name: str) -> None:
    if not _LABEL_NAME.fullmatch(name):
        raise QueryError(f"invalid extracted label name '{name}'")


# ---------------------------------------------------------------- json


class _JsonNumber(str):
    """A JSON number kept as written, since labels carry the original text."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _load_json(line: str) -> Any:
    return json.loads(
        line, parse_int=_JsonNumber, parse_float=_JsonNumber, parse_constant=_reject_constant
    )


def _scalar_text(value: Any) -> str | None:
    """The label text of a JSON scalar; None for objects and arrays."""
    if isinstance(value, str):
        return str(value)
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return ""
    return None


def _json_error_details(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


class JsonStage:
    """`| json`: every scalar field, nested keys joined with `_`; arrays are skipped."""

    def __call__(self, entry: Entry) -> bool:
        try:
            document = _load_json(entry.line)
        except (ValueError, RecursionError) as exc:
            set_error(entry, JSON_ERROR, _json_error_details(exc))
            return True
        if not isinstance(document, dict):
            set_error(entry, JSON_ERROR, "expecting json object, but it is not")
            return True
        self._flatten(document, "", _Extraction(entry))
        return True

    def _flatten(self, obj: dict[str, Any], prefix: str, out: _Extraction) -> None:
        for key, value in obj.items():
            part = sanitize(key)
            name = f"{prefix}_{part}" if prefix and part else prefix or part
            if isinstance(value, dict):
                self._flatten(value, name, out)
            elif not isinstance(value, list):
                text = _scalar_text(value)
                if text is not None and name and value is not None:
                    out.add(name, text)


_PATH_TOKEN = re.compile(
    r"\s*(?:(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\."
    r"""|\[\s*(?:(?P<index>\d+)|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')\s*\])"""
)


def parse_json_path(expression: str) -> tuple[str | int, ...]:
    """`a.b[0]["c d"]` as keys and indexes; raises QueryError when malformed."""
    path: list[str | int] = []
    pos = 0
    expect_field = True
    while pos < len(expression.rstrip()):
        match = _PATH_TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            raise QueryError(f"cannot parse expression [{expression}]: unexpected char")
        if match.group("field") is not None:
            if not expect_field:
                raise QueryError(f"cannot parse expression [{expression}]: syntax error")
            path.append(match.group("field"))
        elif match.group("index") is not None:
            path.append(int(match.group("index")))
        elif match.group("dq") is not None or match.group("sq") is not None:
            path.append(match.group("dq") if match.group("dq") is not None else match.group("sq"))
        is_dot = match.group(0).strip() == "."
        if is_dot and expect_field:
            raise QueryError(f"cannot parse expression [{expression}]: syntax error")
        expect_field = is_dot
        pos = match.end()
    if not path or expect_field:
        raise QueryError(f"cannot parse expression [{expression}]: syntax error")
    return tuple(path)


def _skip_space(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t\n\r":
        pos += 1
    return pos


def _raw_json(line: str, path: tuple[str | int, ...]) -> str:
    """The text of the value at `path` in a valid JSON document, as written."""
    decoder = json.JSONDecoder()
    pos = _skip_space(line, 0)
    for step in path:
        opener, pos, index = line[pos], pos + 1, 0
        while True:
            pos = _skip_space(line, pos)
            if opener == "{":
                key, pos = decoder.raw_decode(line, pos)
                pos = _skip_space(line, _skip_space(line, pos) + 1)  # past the colon
                if key == step:
                    break
            elif index == step:
                break
            pos = _skip_space(line, decoder.raw_decode(line, pos)[1]) + 1  # past the comma
            index += 1
    end = decoder.raw_decode(line, pos)[1]
    return line[pos:end]


def _lookup(document: Any, path: tuple[str | int, ...]) -> tuple[bool, Any]:
    for step in path:
        in_list = isinstance(step, int) and isinstance(document, list) and step < len(document)
        in_object = isinstance(step, str) and isinstance(document, dict) and step in document
        if not (in_list or in_object):
            return False, None
        document = document[step]
    return True, document


class JsonFieldsStage:
    """`| json a="x.y", b="z[0]"`: only the named fields; objects and arrays as JSON text."""

    def __init__(self, params: tuple[tuple[str, str], ...]) -> None:
        self._params: list[tuple[str, tuple[str | int, ...]]] = []
        for label, expression in params:
            _check_label_name(label)
            self._params.append((label, parse_json_path(expression)))

    def __call__(self, entry: Entry) -> bool:
        if not entry.line:
            return True
        out = _Extraction(entry)
        try:
            document = _load_json(entry.line)
        except (ValueError, RecursionError) as exc:
            set_error(entry, JSON_ERROR, _json_error_details(exc))
            document = None
        for label, path in self._params:
            found, value = _lookup(document, path)
            if not found:
                continue
            text = _scalar_text(value)
            out.add(label, text if text is not None else _raw_json(entry.line, path))
        # Every requested label exists afterwards, empty when the field was missing.
        for label, _ in self._params:
            entry.labels.setdefault(label, "")
        return True


# ---------------------------------------------------------------- logfmt


class LogfmtSyntaxError(ValueError):
    pass


def _logfmt_error(pos: int, message: str) -> LogfmtSyntaxError:
    return LogfmtSyntaxError(f"logfmt syntax error at pos {pos + 1} : {message}")


def _unquote(raw: str, pos: int) -> str:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise _logfmt_error(pos, "invalid quoted value") from exc
    assert isinstance(value, str)
    return value


def _scan_value(line: str, pos: int) -> tuple[str, int]:
    """The value after `key=` at `pos`; returns it and the index after it."""
    if pos >= len(line) or line[pos] <= " ":
        return "", pos
    if line[pos] == '"':
        end, escaped = pos + 1, False
        while end < len(line):
            ch = line[end]
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                return _unquote(line[pos : end + 1], end), end + 1
            end += 1
        raise _logfmt_error(len(line), "unterminated quoted value")
    end = pos
    while end < len(line) and line[end] > " ":
        if line[end] in '="':
            raise _logfmt_error(end, f"unexpected {line[end]!r}")
        end += 1
    return line[pos:end], end


def _scan_pair(line: str, pos: int) -> tuple[str, str, int]:
    """One `key=value` or bare `key` starting at a non-space `pos`."""
    start = pos
    while pos < len(line) and line[pos] > " " and line[pos] != "=":
        if line[pos] == '"':
            raise _logfmt_error(pos, "unexpected '\"'")
        pos += 1
    key = line[start:pos]
    if pos < len(line) and line[pos] == "=":
        if not key:
            raise _logfmt_error(pos, "unexpected '='")
        value, pos = _scan_value(line, pos + 1)
        return key, value, pos
    return key, "", pos


def logfmt_pairs(line: str, strict: bool) -> tuple[list[tuple[str, str]], str | None]:
    """The key/value pairs of a logfmt line and the first syntax error, if any.

    Strict parsing stops at the first malformed pair; otherwise it skips to the next space.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        if line[pos] <= " ":
            pos += 1
            continue
        try:
            key, value, pos = _scan_pair(line, pos)
        except LogfmtSyntaxError as exc:
            if strict:
                return pairs, str(exc)
            while pos < len(line) and line[pos] > " ":
                pos += 1
            continue
        pairs.append((key, value))
    return pairs, None


class LogfmtStage:
    """`| logfmt [--strict] [--keep-empty] [a, b="c"]`."""

    def __init__(self, node: ast.LogfmtParser) -> None:
        self._strict = node.strict
        self._keep_empty = node.keep_empty
        for label, _ in node.params:
            _check_label_name(label)
        # Source key -> label; a label's own name also selects it, as in Loki.
        self._select: dict[str, str] | None = None
        if node.params:
            self._select = {label: label for label, _ in node.params}
            self._select |= {source: label for label, source in node.params}
        self._labels = tuple(label for label, _ in node.params)

    def __call__(self, entry: Entry) -> bool:
        pairs, error = logfmt_pairs(entry.line, self._strict)
        out = _Extraction(entry)
        if self._select is None:
            for key, value in pairs:
                if value or self._keep_empty:
                    out.add(sanitize(key), value)
        else:
            for key, value in pairs:
                label = self._select.get(sanitize(key))
                if label is not None:
                    out.add(label, value)
            for label in self._labels:
                entry.labels.setdefault(label, "")
        if error is not None:
            set_error(entry, LOGFMT_ERROR, error)
        return True


# ---------------------------------------------------------------- regexp, pattern, unpack


class RegexpStage:
    """`| regexp "(?P<name>re)"`: each named group becomes a label when the regex matches."""

    def __init__(self, pattern: str) -> None:
        try:
            self._regex = re.compile(translate(pattern))
        except re.error as exc:
            raise QueryError(f"invalid regexp {pattern!r} in regexp parser: {exc}") from exc
        names = list(self._regex.groupindex)
        if not names:
            raise QueryError("at least one named capture must be supplied")
        for name in names:
            _check_label_name(name)

    def __call__(self, entry: Entry) -> bool:
        match = self._regex.search(entry.line)
        if match is not None:
            out = _Extraction(entry)
            for name, value in match.groupdict().items():
                out.add(sanitize(name), value or "")
        return True


class PatternStage:
    """`| pattern "<ip> - <_> <status>"`."""

    def __init__(self, text: str) -> None:
        try:
            self._pattern = parse_pattern(text)
        except ValueError as exc:
            raise QueryError(f"invalid pattern {text!r}: {exc}") from exc

    def __call__(self, entry: Entry) -> bool:
        out = _Extraction(entry)
        for name, value in self._pattern.captures(entry.line):
            out.add(name, value)
        return True


class UnpackStage:
    """`| unpack`: string fields of a packed JSON entry; `_entry` becomes the line."""

    def __call__(self, entry: Entry) -> bool:
        line = entry.line
        if not line:
            return True
        if line[0] != "{":
            set_error(entry, JSON_ERROR, "expecting json object, but it is not")
            return True
        try:
            document = json.loads(line)
        except (ValueError, RecursionError) as exc:
            set_error(entry, JSON_ERROR, _json_error_details(exc))
            return True
        packed = document.get("_entry") if isinstance(document, dict) else None
        if not isinstance(packed, str):
            return True  # not a packed entry: Loki leaves it alone
        out = _Extraction(entry)
        for key, value in document.items():
            if key != "_entry" and isinstance(value, str):
                out.add(sanitize(key), value)
        entry.line = packed
        return True


def decolorize(entry: Entry) -> bool:
    entry.line = _ANSI.sub("", entry.line)
    return True


def parser_stage(stage: ast.Stage) -> Stage | None:
    """The compiled stage for a parser node, or None when `stage` is not a parser."""
    if isinstance(stage, ast.JsonParser):
        return JsonFieldsStage(stage.params) if stage.params else JsonStage()
    if isinstance(stage, ast.LogfmtParser):
        return LogfmtStage(stage)
    if isinstance(stage, ast.RegexpParser):
        return RegexpStage(stage.pattern)
    if isinstance(stage, ast.PatternParser):
        return PatternStage(stage.pattern)
    if isinstance(stage, ast.UnpackParser):
        return UnpackStage()
    if isinstance(stage, ast.Decolorize):
        return decolorize
    return None
