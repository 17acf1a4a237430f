"""What log ingest adds to a record that did not come with it: trace ids and a level.

Loki lines carry neither; OTLP records sometimes lack them (a plain logging bridge, a collector
tailing files). Trace and span ids are looked for in structured metadata, then in the line by
configurable regexes, so logs can be joined to traces. The level comes from a level label or
field, else from the line, so retention tiers and `detected_level` work for every record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import cast

from observatory.errors import ConfigError
from observatory.settings import SETTINGS_BY_NAME
from observatory.signals.spans import SPAN_ID_BYTES, TRACE_ID_BYTES

Severity = tuple[int, str]
UNSPECIFIED: Severity = (0, "")

TRACE_ID_KEYS = frozenset({"trace_id", "traceID", "traceId", "traceid"})
SPAN_ID_KEYS = frozenset({"span_id", "spanID", "spanId", "spanid"})
# Compared lowercased: `level`, `LEVEL` and `Level` are one key, as in Loki's log_level_fields.
LEVEL_KEYS = frozenset(
    {"level", "lvl", "severity", "log.level", "loglevel", "severity_text", "detected_level"}
)

# The OTel severity number of each level (the first of its range) and its normalized word.
_TRACE: Severity = (1, "trace")
_DEBUG: Severity = (5, "debug")
_INFO: Severity = (9, "info")
_WARN: Severity = (13, "warn")
_ERROR: Severity = (17, "error")
_FATAL: Severity = (21, "fatal")
_CRITICAL: Severity = (21, "critical")
_LEVEL_WORDS: dict[str, Severity] = {
    "trace": _TRACE,
    "trc": _TRACE,
    "debug": _DEBUG,
    "dbg": _DEBUG,
    "info": _INFO,
    "inf": _INFO,
    "information": _INFO,
    "informational": _INFO,
    "notice": _INFO,
    "warn": _WARN,
    "wrn": _WARN,
    "warning": _WARN,
    "error": _ERROR,
    "err": _ERROR,
    "eror": _ERROR,
    "fatal": _FATAL,
    "panic": _FATAL,
    "critical": _CRITICAL,
    "crit": _CRITICAL,
    "alert": _CRITICAL,
    "emerg": _CRITICAL,
    "emergency": _CRITICAL,
}

# A level field of a JSON line (`"level":"warn"`) or a logfmt line (`level=warn`).
_LEVEL_FIELD = re.compile(
    r'"(?:level|lvl|severity|loglevel|log\.level|severity_text)"\s*:\s*"([^"]{1,16})"'
    r'|(?:^|[\s,])(?:level|lvl|severity|loglevel)="?([A-Za-z]{1,16})',
    re.IGNORECASE,
)
# Substrings one of which a line with a level field has: a cheap test before the regex.
_LEVEL_FIELD_HINTS = ("evel", "EVEL", "lvl", "LVL", "everity", "EVERITY")
_WORD = re.compile(r"[A-Za-z]\w*:?")


def _keywords() -> dict[str, Severity]:
    """Level words in free text, as they may be written, with or without a colon after.

    Upper-case words and the alarming lower-case ones count as they stand; `debug`, `trace`
    and `err` only before a colon, since "stack trace" or "debug build" in a message says
    nothing about its level.
    """
    words: dict[str, Severity] = {}
    for word in ("trace", "debug", "info", "warn", "warning", "error", "err", "fatal"):
        words[word.upper()] = words[word.upper() + ":"] = _LEVEL_WORDS[word]
    for word in ("critical", "crit", "panic"):
        words[word.upper()] = words[word.upper() + ":"] = _LEVEL_WORDS[word]
    for word in ("info", "warn", "warning", "error", "fatal", "critical", "panic"):
        for spelling in (word, word.capitalize()):
            words[spelling] = words[spelling + ":"] = _LEVEL_WORDS[word]
    for word in ("debug", "trace", "err"):
        for spelling in (word, word.capitalize()):
            words[spelling + ":"] = _LEVEL_WORDS[word]
    return words


_KEYWORDS = _keywords()
# Level words sit at the start of a line; scanning all of a 256 KiB line would cost more than
# the odd late keyword is worth.
_KEYWORD_SCAN_CHARS = 1024


def severity_of(word: str) -> Severity | None:
    """The severity a level word names (`"WARNING"` -> (13, "warn")), None if it names none."""
    return _LEVEL_WORDS.get(word.strip().lower())


def severity_or_text(word: str) -> Severity:
    """A level value as given by a sender: known words normalized, others kept as text."""
    known = severity_of(word)
    return known if known is not None else (0, word)


def level_value(pairs: Iterable[tuple[str, object]]) -> str | None:
    """The value of the first level key (`level`, `severity`, `lvl`, ... in any case)."""
    for key, value in pairs:
        if isinstance(value, str) and value and key.lower() in LEVEL_KEYS:
            return value
    return None


def detect_level(line: str) -> Severity:
    """The level a line states: a JSON or logfmt level field, else a level word; else none."""
    if any(hint in line for hint in _LEVEL_FIELD_HINTS):
        field = _LEVEL_FIELD.search(line)
        if field is not None:
            found = severity_of(field.group(1) or field.group(2))
            if found is not None:
                return found
    keywords = _KEYWORDS
    for word in _WORD.findall(line, 0, _KEYWORD_SCAN_CHARS):
        found = keywords.get(word)
        if found is not None:
            return found
    return UNSPECIFIED


def hex_id(text: str, width: int) -> bytes | None:
    """`text` as an id of `width` bytes if it is exactly that many hex digits and not zero."""
    if len(text) != 2 * width:
        return None
    try:
        value = bytes.fromhex(text)
    except ValueError:
        return None
    return value if any(value) else None


def compile_patterns(patterns: Sequence[str], setting: str) -> tuple[re.Pattern[str], ...]:
    """The regexes of a setting; a ConfigError names the one that does not compile or has not
    exactly one capture group."""
    compiled: list[re.Pattern[str]] = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str):
            raise ConfigError(f"setting {setting}[{index}]: expected a regex string")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"setting {setting}[{index}]: invalid regex {pattern!r}: {exc}"
            ) from exc
        if regex.groups != 1:
            raise ConfigError(
                f"setting {setting}[{index}]: regex {pattern!r} must have exactly one capture "
                f"group, it has {regex.groups}"
            )
        compiled.append(regex)
    return tuple(compiled)


@dataclass(frozen=True)
class IdExtractor:
    """Finds the trace and span ids of a log record that came without them."""

    trace_patterns: tuple[re.Pattern[str], ...]
    span_patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def compile(cls, trace_patterns: Sequence[str], span_patterns: Sequence[str]) -> IdExtractor:
        return cls(
            compile_patterns(trace_patterns, "logs_trace_id_patterns"),
            compile_patterns(span_patterns, "logs_span_id_patterns"),
        )

    def ids(self, line: str, metadata: Sequence[tuple[str, object]]) -> tuple[bytes, bytes]:
        """(trace id, span id), each zeros when not found.

        Metadata keys win over the line. A span id is only looked for once a trace id is
        found: alone it correlates with nothing.
        """
        trace = _from_keys(metadata, TRACE_ID_KEYS, TRACE_ID_BYTES)
        if trace is None:
            trace = _from_line(line, self.trace_patterns, TRACE_ID_BYTES)
        if trace is None:
            return bytes(TRACE_ID_BYTES), bytes(SPAN_ID_BYTES)
        span = _from_keys(metadata, SPAN_ID_KEYS, SPAN_ID_BYTES)
        if span is None:
            span = _from_line(line, self.span_patterns, SPAN_ID_BYTES)
        return trace, span if span is not None else bytes(SPAN_ID_BYTES)


def _from_keys(
    pairs: Iterable[tuple[str, object]], keys: frozenset[str], width: int
) -> bytes | None:
    for key, value in pairs:
        if key in keys and isinstance(value, str):
            found = hex_id(value, width)
            if found is not None:
                return found
    return None


def _from_line(line: str, patterns: Sequence[re.Pattern[str]], width: int) -> bytes | None:
    for pattern in patterns:
        for match in pattern.finditer(line):
            found = hex_id(match.group(1) or "", width)
            if found is not None:
                return found
    return None


@cache
def default_extractor() -> IdExtractor:
    """The extractor of the default settings."""
    return IdExtractor.compile(
        cast(list[str], SETTINGS_BY_NAME["logs_trace_id_patterns"].default),
        cast(list[str], SETTINGS_BY_NAME["logs_span_id_patterns"].default),
    )
