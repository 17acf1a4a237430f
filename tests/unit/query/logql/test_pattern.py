"""Loki's pattern expressions: parsing, the parser form and the filter form."""

from __future__ import annotations

import pytest

from observatory.query.logql.pattern import parse_pattern


def test_parts_and_names() -> None:
    pattern = parse_pattern("<ip> - <_> <status>")
    assert pattern.parts == (("ip",), " - ", ("_",), " ", ("status",))
    assert pattern.names == ("ip", "status")


def test_angle_brackets_that_are_not_captures_are_literals() -> None:
    pattern = parse_pattern("<a> <1x> <b c>")
    assert pattern.names == ("a",)
    assert pattern.captures("v <1x> <b c>") == [("a", "v")]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("<a> <b>", "one two three", [("a", "one"), ("b", "two three")]),
        ("<a>,<b>,<c>", "1,2", [("a", "1"), ("b", "2")]),  # missed literal: b takes the rest
        ("x=<x> ", "x=1 y=2", [("x", "1")]),  # text after a final literal is ignored
        ("GET <p>", "POST /", []),  # the leading literal anchors the pattern
        ("<_> end=<e>", "a b end=9", [("e", "9")]),
        ("<a>", "", []),
    ],
)
def test_captures(text: str, line: str, expected: list[tuple[str, str]]) -> None:
    assert parse_pattern(text).captures(line) == expected


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("<_> bar", "foo bar baz", False),
        ("<_> baz", "foo bar baz", True),
        ("foo <_>", "foo bar baz", True),
        ("foo <_>", "xfoo bar", False),
        ("<_> bar <_>", " bar ", False),
        ("<_>bar<_>", " bar ", True),
        ("<_> x", "", False),
    ],
)
def test_filter_form(text: str, line: str, expected: bool) -> None:
    assert parse_pattern(text, require_capture=False).matches(line) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plain", "at least one capture is required"),
        ("<_> <_>x", "at least one capture is required"),
        ("<a><b>", "found consecutive capture '<a><b>'"),
        ("<a> <a>", "duplicate capture name (a)"),
    ],
)
def test_invalid_patterns(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_pattern(text)
    assert message in str(caught.value)
