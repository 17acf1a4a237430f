"""Loki's pattern expressions: `<ip> - - <_> "<method> <uri> <_>" <status>`.

A pattern is literals and captures (`<name>`, or `<_>` to skip). Matching is a left-to-right
scan: the pattern is anchored at the line start, and each capture runs to the first occurrence
of the literal that follows it. As a parser (`| pattern`) a partial match still yields the
captures found so far, the last one taking the rest of the line; as a filter (`|>`, `!>`) the
whole line must fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
_SKIP = "_"


@dataclass(frozen=True, slots=True)
class Pattern:
    """Alternating parts: str for literals, `(name,)` tuples for captures."""

    parts: tuple[str | tuple[str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple) and p[0] != _SKIP)

    def captures(self, line: str) -> list[tuple[str, str]]:
        """The (name, value) captures of the parser form; empty when the prefix does not fit."""
        if not line or not self.parts:
            return []
        parts, pos = self.parts, 0
        if isinstance(parts[0], str):
            if not line.startswith(parts[0]):
                return []
            pos, parts = len(parts[0]), parts[1:]
        found: list[tuple[str, str]] = []
        # From here the parts alternate capture, literal, capture, ...
        for index in range(0, len(parts), 2):
            name = parts[index][0]
            if index + 1 == len(parts):
                end, after = len(line), len(line)
            else:
                literal = parts[index + 1]
                assert isinstance(literal, str)
                end = line.find(literal, pos)
                after = end + len(literal)
                if end < 0:
                    end = after = len(line)  # a missed literal: the capture takes the rest
            if name != _SKIP:
                found.append((name, line[pos:end]))
            if end == len(line) and after == end:
                return found
            pos = after
        return found

    def matches(self, line: str) -> bool:
        """The filter form: the whole line fits and no capture is empty."""
        if not line or not self.parts:
            return not line and not self.parts
        pos = 0
        for index, part in enumerate(self.parts):
            if not isinstance(part, str):
                continue
            found = line.find(part, pos)
            if found < 0 or (index == 0 and found != 0) or (index > 0 and found == pos):
                return False
            pos = found + len(part)
        ends_on_capture = not isinstance(self.parts[-1], str)
        return (pos != len(line)) == ends_on_capture


def parse_pattern(text: str, require_capture: bool = True) -> Pattern:
    """Parses a pattern; raises ValueError naming the problem."""
    parts: list[str | tuple[str]] = []
    literal: list[str] = []
    pos = 0
    while pos < len(text):
        capture = _CAPTURE.match(text, pos)
        if capture is None:
            literal.append(text[pos])
            pos += 1
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        elif parts and isinstance(parts[-1], tuple):
            previous = f"<{parts[-1][0]}>"
            raise ValueError(
                f"found consecutive capture '{previous}{capture.group(0)}': invalid expression"
            )
        parts.append((capture.group(1),))
        pos = capture.end()
    if literal:
        parts.append("".join(literal))
    pattern = Pattern(tuple(parts))
    names = pattern.names
    if require_capture and not names:
        raise ValueError("at least one capture is required")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate capture name ({duplicates[0]}): invalid expression")
    return pattern
