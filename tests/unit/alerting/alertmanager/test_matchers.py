from __future__ import annotations

import pytest

from observatory.alerting.alertmanager.matchers import (
    MatcherError,
    format_matchers,
    go_quote,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)
from observatory.alerting.model import Matcher, MatchType
from observatory.errors import BadRequestError

EQ, NE, RE, NRE = MatchType.EQ, MatchType.NE, MatchType.RE, MatchType.NRE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{a="b", c=~"d.*"}', [Matcher("a", EQ, "b"), Matcher("c", RE, "d.*")]),
        ("a=b", [Matcher("a", EQ, "b")]),
        ('a!~"x"', [Matcher("a", NRE, "x")]),
        ("alertname!=Watchdog", [Matcher("alertname", NE, "Watchdog")]),
        ('severity=~"warning|info"', [Matcher("severity", RE, "warning|info")]),
        ("{foo=bar}", [Matcher("foo", EQ, "bar")]),
        # An unquoted value runs to the comma and is trimmed; spaces inside it stay.
        ("  foo = bar baz ,x=y", [Matcher("foo", EQ, "bar baz"), Matcher("x", EQ, "y")]),
        # Commas inside quotes belong to the value.
        ('{a="x,y", b!="z"}', [Matcher("a", EQ, "x,y"), Matcher("b", NE, "z")]),
        ('{a="b",}', [Matcher("a", EQ, "b")]),
        ('a=""', [Matcher("a", EQ, "")]),
        ("a=", [Matcher("a", EQ, "")]),
        ("", []),
        ("{}", []),
        ("job:rate=1", [Matcher("job:rate", EQ, "1")]),
        ('"service.name"="checkout"', [Matcher("service.name", EQ, "checkout")]),
        ("service.name=checkout", [Matcher("service.name", EQ, "checkout")]),
    ],
)
def test_parse_matchers(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'a="say \"hi\""', 'say "hi"'),
        (r'a="back\\slash"', "back\\slash"),
        (r'a="line\nbreak"', "line\nbreak"),
        # A backslash before anything else is kept, as Alertmanager's parser does.
        (r'a=~"\d+\.\d+"', r"\d+\.\d+"),
        (r"a=trailing\\", "trailing\\"),
        (r'a="ends with \\"', "ends with \\"),
    ],
)
def test_escapes(text: str, value: str) -> None:
    assert parse_matcher(text).value == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "bad matcher format: a"),
        ("=b", "bad matcher format: =b"),
        ("a b=c", "bad matcher format"),
        ('a="b', "unescaped double quote"),
        ('a=b"', "unescaped double quote"),
        ('a="b"c"', "unescaped double quote"),
        (r'a="b\"', "unescaped double quote"),
        ('a=~"("', "invalid regular expression"),
        ("a=b,,c=d", "bad matcher format"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    assert message in info.value.message
    assert isinstance(info.value, BadRequestError)  # the API answers 400


def test_parsed_regex_matches_fully_anchored() -> None:
    matcher = parse_matcher('severity=~"warning|info"')
    assert matcher.matches({"severity": "info"})
    assert not matcher.matches({"severity": "information"})


def test_sort_and_format_like_alertmanager() -> None:
    matchers = parse_matchers('{owner="team-A", level!="critical", a=~"x", a="x"}')
    assert format_matchers(sort_matchers(matchers)) == (
        '{a="x",a=~"x",level!="critical",owner="team-A"}'
    )


def test_format_round_trips_through_parse() -> None:
    original = [Matcher("a", EQ, 'q"uo\\te\nnl'), Matcher("service.name", NE, "x")]
    text = format_matchers(original)
    assert text == '{a="q\\"uo\\\\te\\nnl",service.name!="x"}'
    assert parse_matchers(text) == original


def test_reserved_name_is_quoted() -> None:
    assert format_matchers([Matcher("a b", EQ, "x")]) == '{"a b"="x"}'
    assert parse_matchers('{"a b"="x"}') == [Matcher("a b", EQ, "x")]


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\t\x01é') == '"a\\"b\\\\c\\n\\t\\x01é"'
