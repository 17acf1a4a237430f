"""RE2 (Go) regular expressions as Python `re` patterns, fully anchored as Prometheus anchors them.

PromQL regexes follow RE2 syntax. Python's `re` is close, but rejects inline flags in the middle
of a pattern (`((?i)abc)`), lacks `\\Q...\\E`, `\\z`, `(?<name>...)` and POSIX classes. We rewrite
those forms and leave everything else as written.
"""

from __future__ import annotations

import re
from functools import lru_cache

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_INLINE_FLAGS = re.compile(r"\(\?([imsU-]+)\)")
_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")


def _char_class(pattern: str, i: int, out: list[str]) -> int:
    """Copies the bracket expression starting at pattern[i] == '['; returns the index after it."""
    out.append("[")
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        out.append("\\]")
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end > 0 else ""
            if name in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\[" if pattern[i] == "[" else pattern[i])
        i += 1
    out.append("]")
    return i + 1


def _escape(pattern: str, i: int, out: list[str]) -> int:
    """Translates the escape starting at pattern[i] == '\\'; returns the index after it."""
    nxt = pattern[i + 1 : i + 2]
    if nxt == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        out.append(re.escape(literal))
        return len(pattern) if end < 0 else end + 2
    out.append("\\Z" if nxt == "z" else "\\" + nxt)
    return i + 2


def translate(pattern: str) -> str:
    """The Python equivalent of an RE2 pattern (unanchored)."""
    out: list[str] = []
    pending = [0]  # per open group: closing parens owed by flags set inside it
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i = _escape(pattern, i, out)
        elif ch == "[":
            i = _char_class(pattern, i, out)
        elif ch == "(":
            flags = _INLINE_FLAGS.match(pattern, i)
            named = _NAMED_GROUP.match(pattern, i)
            if flags:
                out.append(f"(?{flags.group(1)}:")
                pending[-1] += 1
                i = flags.end()
                continue
            out.append(f"(?P<{named.group(1)}>" if named else "(")
            pending.append(0)
            i = named.end() if named else i + 1
        elif ch == ")" and len(pending) > 1:
            out.append(")" * pending.pop() + ")")
            i += 1
        else:
            out.append(ch)
            i += 1
    out.append(")" * pending[0])
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Compiles a PromQL regex that must match the whole string; raises re.error when invalid."""
    return re.compile("(?s:" + translate(pattern) + ")")


def full_match(pattern: str, value: str) -> bool:
    return compile_anchored(pattern).fullmatch(value) is not None
