from __future__ import annotations

import re

import pytest

from observatory.query.promql.regex import compile_anchored, full_match, translate


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("pro.*", "production", True),
        ("pro", "production", False),  # anchored at both ends
        ("(?i:PRO).*", "production", True),
        ("((?i)PRO).*", "production", True),  # flags in the middle of a pattern
        (".*((?i)TION)", "production", True),
        ("(?i)foo|bar", "BAR", True),  # flags reach across alternatives of their group
        ("a|b", "ab", False),
        ("[[:digit:]]+", "123", True),
        ("\\Qa.b\\E", "a.b", True),
        ("\\Qa.b\\E", "axb", False),
        (".+", "line\nbreak", True),  # `.` matches newlines, as Prometheus's (?s) does
        ("(?<word>x)y", "xy", True),
    ],
)
def test_full_match(pattern: str, value: str, expected: bool) -> None:
    assert full_match(pattern, value) is expected


def test_translate_leaves_plain_patterns_alone() -> None:
    assert translate("a(b|c)*[^d]\\d+") == "a(b|c)*[^d]\\d+"


def test_invalid_pattern_raises() -> None:
    with pytest.raises(re.error):
        compile_anchored("(")
