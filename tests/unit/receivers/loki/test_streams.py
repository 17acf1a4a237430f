"""Loki label strings, label checks, service_name discovery and entry levels."""

from __future__ import annotations

import pytest

from observatory.errors import BadRequestError
from observatory.receivers.loki.streams import (
    discover_service_name,
    entry_severity,
    format_labels,
    label_problem,
    label_severity,
    parse_labels,
    with_service_name,
)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('{app="api", env="prod"}', {"app": "api", "env": "prod"}),
        ("{}", {}),
        (' { a = "b" , } ', {"a": "b"}),
        ('{a="say \\"hi\\"\\n", b=\'it\\\'s\'}', {"a": 'say "hi"\n', "b": "it's"}),
        ("{path=`C:\\temp\\n`}", {"path": "C:\\temp\\n"}),
        ('{a="\\u00e9\\x41\\101\\t"}', {"a": "éAA\t"}),
        ('{a="", b="1"}', {"b": "1"}),
        ('{_private="x", a1="y"}', {"_private": "x", "a1": "y"}),
    ],
)
def test_parse_labels(text: str, labels: dict[str, str]) -> None:
    assert parse_labels(text) == labels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{a="b"', "col 7: unexpected end of input"),
        ('a="b"}', "col 1: unexpected 'a'"),
        ('{a!="b"}', "col 3: unexpected '!'"),
        ('{a="b}', "col 4: unterminated quoted string"),
        ('{1a="b"}', "col 2: unexpected '1'"),
        ("{a=b}", "col 4: expected a quoted label value"),
        ('{a="b"} x', "col 9: unexpected 'x'"),
        ('{a="\\q"}', "col 6: unknown escape sequence \\q"),
        ('{a="\\xff"}', "label value is not valid UTF-8"),
        ('{a="b" c="d"}', "col 8: unexpected 'c'"),
        ("", "col 1: unexpected end of input"),
    ],
)
def test_label_syntax_errors_name_the_column(text: str, message: str) -> None:
    with pytest.raises(BadRequestError, match="parse error") as caught:
        parse_labels(text)
    assert message in caught.value.message
    assert repr(text) in caught.value.message


def test_duplicate_label_names_are_refused() -> None:
    with pytest.raises(BadRequestError, match="duplicate label name: 'a'"):
        parse_labels('{a="1", a=""}')


def test_format_labels_sorts_and_quotes() -> None:
    assert format_labels({"z": "1", "a": 'say "hi"'}) == '{a="say \\"hi\\"", z="1"}'


def test_label_problems() -> None:
    assert label_problem({"app": "x"}, 15) is None
    assert label_problem({}, 15) == (
        "missing_labels",
        "error at least one label pair is required per stream",
    )
    reason, message = label_problem({"app.name": "x"}, 15) or ("", "")
    assert reason == "invalid_labels" and "'app.name'" in message
    many = {f"l{i}": "v" for i in range(16)}
    reason, message = label_problem(many, 15) or ("", "")
    assert reason == "max_label_names_per_series"
    assert "has 16 label names; limit 15" in message
    # service_name does not count toward the limit, as in Loki.
    assert label_problem({**{f"l{i}": "v" for i in range(15)}, "service_name": "s"}, 15) is None


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        ({"service_name": "given", "app": "x"}, "given"),
        ({"app": "api", "job": "j"}, "api"),
        ({"job": "varlogs", "container": "nginx"}, "nginx"),
        ({"app_kubernetes_io_name": "cart", "container": "c"}, "cart"),
        ({"service": "svc", "app": "a"}, "svc"),
        ({"k8s_job_name": "nightly"}, "nightly"),
        ({"env": "prod"}, "unknown_service"),
        ({}, "unknown_service"),
    ],
)
def test_service_name_discovery_follows_loki_order(labels: dict[str, str], service: str) -> None:
    assert discover_service_name(labels) == service
    stream, found = with_service_name(labels)
    assert found == service
    assert stream == {**labels, "service_name": labels.get("service_name", service)}


def test_entry_level_from_label_then_metadata_then_line() -> None:
    assert label_severity({"app": "x"}) is None
    from_label = label_severity({"app": "x", "Level": "WARN"})
    assert from_label == (13, "warn")
    assert entry_severity(from_label, [("level", "error")], "ERROR boom") == (13, "warn")
    assert entry_severity(None, [("severity", "error")], "INFO hi") == (17, "error")
    assert entry_severity(None, [("user", "error")], "INFO hi") == (9, "info")
    assert entry_severity(None, [], "plain line") == (0, "")
    assert entry_severity(label_severity({"lvl": "verbose"}), [], "ERROR") == (0, "verbose")
