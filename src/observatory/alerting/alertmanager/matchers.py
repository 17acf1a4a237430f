"""Alertmanager's matcher strings: `{a="b", c=~"d.*"}`, `a=b`, `a!~"x"`.

Routes (`matchers:`), inhibit rules, silences, the API's `filter` parameter and amtool all
speak this syntax. The parser follows Alertmanager's classic parser, which its default
"fallback" mode still accepts: braces are optional, values may be quoted or not (an unquoted
value runs to the next comma or the end, trimmed), and inside a value `\\"`, `\\\\` and `\\n`
are escapes while any other backslash stays literal. Label names are read as the newer UTF-8
parser reads them: anything without a reserved character (`service.name=x`), or quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from observatory.alerting.model import Matcher, MatchType
from observatory.errors import BadRequestError

# `=~` and `!~` must be tried before `=`, or `a=~"x"` would read as `a` equal to `~"x"`.
_OPERATOR = r"(=~|!=|!~|=)"
# A bare name is what either parser reads: anything up to a reserved character.
_CLASSIC = re.compile(r"\s*([^\s{}!=~,\\\"'`]+)\s*" + _OPERATOR + r"\s*(.*?)\s*", re.DOTALL)
_QUOTED_NAME = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*' + _OPERATOR + r"\s*(.*?)\s*", re.DOTALL)
_RESERVED = re.compile(r"[\s{}!=~,\\\"'`]")
_TYPE_ORDER = {MatchType.EQ: 0, MatchType.NE: 1, MatchType.RE: 2, MatchType.NRE: 3}


class MatcherError(BadRequestError):
    """A matcher string that cannot be parsed, or a matcher with an invalid regex."""


def parse_matchers(text: str) -> list[Matcher]:
    """All matchers of `{a="b",c!="d"}` or `a="b", c!="d"`; an empty text gives none."""
    body = text.strip()
    body = body.removeprefix("{").removesuffix("}")
    tokens = _split_top_level(body)
    # A trailing comma (`{a="b",}`) leaves an empty last token, which Alertmanager allows.
    if tokens and not tokens[-1].strip():
        tokens.pop()
    return [parse_matcher(token) for token in tokens]


def parse_matcher(text: str) -> Matcher:
    """One matcher, `name op value`."""
    found = _QUOTED_NAME.fullmatch(text) or _CLASSIC.fullmatch(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, operator, raw = found.groups()
    if found.re is _QUOTED_NAME:
        name = _unescape(name, text)
        if not name:
            raise MatcherError(f"bad matcher format: {text}")
    return new_matcher(name, MatchType(operator), _value(raw, text))


def new_matcher(name: str, match_type: MatchType, value: str) -> Matcher:
    """A matcher, its regex (if any) checked the way `Matcher.matches` will compile it."""
    if match_type in (MatchType.RE, MatchType.NRE):
        try:
            re.compile(f"(?:{value})\\Z", re.DOTALL)
        except re.error as exc:
            raise MatcherError(f"invalid regular expression {value!r}: {exc}") from exc
    return Matcher(name, match_type, value)


def sort_matchers(matchers: Iterable[Matcher]) -> list[Matcher]:
    """Alertmanager's matcher order: by name, then value, then type (=, !=, =~, !~)."""
    return sorted(matchers, key=lambda m: (m.name, m.value, _TYPE_ORDER[m.type]))


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """`{a="b",c=~"d"}`, as Alertmanager prints a matcher list (route keys, logs)."""
    return "{" + ",".join(format_matcher(m) for m in matchers) + "}"


def format_matcher(matcher: Matcher) -> str:
    # Only a name the classic parser could not read back gets quoted, as Alertmanager does.
    if _RESERVED.search(matcher.name) is None:
        return str(matcher)
    return f"{go_quote(matcher.name)}{matcher.type.value}{go_quote(matcher.value)}"


def go_quote(text: str) -> str:
    """Go's `strconv.Quote`: a double-quoted string with Go escapes for unprintable runes."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _split_top_level(body: str) -> list[str]:
    """The text split at commas that are not inside double quotes."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in body:
        if char == "," and not quoted:
            tokens.append("".join(current))
            current = []
            continue
        if char == '"' and not escaped:
            quoted = not quoted
        escaped = char == "\\" and not escaped
        current.append(char)
    tokens.append("".join(current))
    return tokens


def _value(raw: str, text: str) -> str:
    """The value with quotes removed and escapes applied; a stray quote is an error."""
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"') or _ends_escaped(raw[1:-1]):
            raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
        raw = raw[1:-1]
    return _unescape(raw, text)


def _ends_escaped(body: str) -> bool:
    """Whether the closing quote is really an escaped quote (an odd run of backslashes)."""
    run = len(body) - len(body.rstrip("\\"))
    return run % 2 == 1


def _unescape(raw: str, text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            following = raw[i + 1]
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(following, "\\" + following))
            i += 2
            continue
        if char == '"':
            raise MatcherError(f"matcher value contains unescaped double quote: {text.strip()}")
        out.append(char)
        i += 1
    return "".join(out)
