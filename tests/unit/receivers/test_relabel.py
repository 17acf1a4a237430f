from __future__ import annotations

import hashlib
from typing import Any

import pytest

from observatory.errors import ConfigError
from observatory.receivers.relabel import RelabelConfig, compile_regex, expand, parse_rules, relabel


def rules(*raw: dict[str, Any]) -> tuple[RelabelConfig, ...]:
    return parse_rules(list(raw), "test")


def test_defaults_are_prometheus_defaults() -> None:
    rule = RelabelConfig.from_dict({"target_label": "x"}, "test")
    assert (rule.action, rule.separator, rule.replacement) == ("replace", ";", "$1")
    assert rule.regex.fullmatch("anything at all")


def test_regex_is_anchored_at_both_ends() -> None:
    keep = rules({"source_labels": ["job"], "regex": "api", "action": "keep"})
    assert relabel({"job": "api"}, keep) == {"job": "api"}
    assert relabel({"job": "api-2"}, keep) is None
    assert relabel({"job": "my-api"}, keep) is None


def test_dollar_does_not_match_before_a_trailing_newline() -> None:
    assert compile_regex("a").fullmatch("a\n") is None
    assert compile_regex("a.b").fullmatch("a\nb")  # `.` matches newlines, as in Prometheus


def test_leading_flags_still_apply() -> None:
    assert compile_regex("(?i)api").fullmatch("API")


def test_drop_and_missing_labels_as_empty() -> None:
    drop = rules({"source_labels": ["env"], "regex": "", "action": "drop"})
    assert relabel({"job": "a"}, drop) is None
    assert relabel({"job": "a", "env": "prod"}, drop) == {"job": "a", "env": "prod"}


def test_replace_with_groups_and_separator() -> None:
    rule = rules(
        {
            "source_labels": ["__address__", "port"],
            "separator": "|",
            "regex": r"([^:]+):\d+\|(.*)",
            "target_label": "host",
            "replacement": "${1}-$2",
        }
    )
    assert relabel({"__address__": "node1:9100", "port": "80"}, rule) == {
        "__address__": "node1:9100",
        "port": "80",
        "host": "node1-80",
    }


def test_replace_without_match_changes_nothing_and_empty_result_deletes() -> None:
    rule = rules({"source_labels": ["a"], "regex": "x(.*)", "target_label": "b"})
    assert relabel({"a": "nomatch", "b": "keep"}, rule) == {"a": "nomatch", "b": "keep"}
    assert relabel({"a": "x", "b": "gone"}, rule) == {"a": "x"}


def test_target_label_expands_too() -> None:
    rule = rules({"source_labels": ["k"], "regex": "(.+)=(.+)", "target_label": "$1"})
    assert relabel({"k": "zone=eu"}, rule) == {"k": "zone=eu", "zone": "zone"}
    rule = rules(
        {"source_labels": ["k"], "regex": "(.+)=(.+)", "target_label": "$1", "replacement": "$2"}
    )
    assert relabel({"k": "zone=eu"}, rule) == {"k": "zone=eu", "zone": "eu"}


def test_expand_follows_go_template_rules() -> None:
    match = compile_regex(r"(?P<host>\w+):(\d+)").fullmatch("db:5432")
    assert match is not None
    assert expand("$host/$2", match) == "db/5432"
    assert expand("${1}x", match) == "dbx"
    assert expand("$1x", match) == ""  # the name is `1x`, which is no group
    assert expand("$$1 $9 $", match) == "$1  $"


def test_labeldrop_and_labelkeep_match_names() -> None:
    labels = {"__name__": "m", "pod": "p", "pod_ip": "1.2.3.4", "job": "j"}
    assert relabel(labels, rules({"regex": "pod.*", "action": "labeldrop"})) == {
        "__name__": "m",
        "job": "j",
    }
    assert relabel(labels, rules({"regex": "__name__|job", "action": "labelkeep"})) == {
        "__name__": "m",
        "job": "j",
    }


def test_labelmap_copies_matching_labels() -> None:
    rule = rules({"regex": "__meta_(.+)", "action": "labelmap"})
    assert relabel({"__meta_zone": "eu", "job": "j"}, rule) == {
        "__meta_zone": "eu",
        "zone": "eu",
        "job": "j",
    }


def test_hashmod_matches_prometheus() -> None:
    rule = rules(
        {"source_labels": ["a"], "modulus": 8, "target_label": "shard", "action": "hashmod"}
    )
    expected = int.from_bytes(hashlib.md5(b"value").digest()[8:], "big") % 8
    assert relabel({"a": "value"}, rule) == {"a": "value", "shard": str(expected)}


def test_case_and_equality_actions() -> None:
    lower = rules({"source_labels": ["A"], "target_label": "a", "action": "lowercase"})
    assert relabel({"A": "MiXed"}, lower) == {"A": "MiXed", "a": "mixed"}
    keep_equal = rules({"source_labels": ["a"], "target_label": "b", "action": "keepequal"})
    assert relabel({"a": "1", "b": "1"}, keep_equal) is not None
    assert relabel({"a": "1", "b": "2"}, keep_equal) is None


def test_rules_apply_in_order_on_the_metric_name() -> None:
    chain = rules(
        {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"},
        {
            "source_labels": ["__name__"],
            "regex": "vllm:(.*)",
            "target_label": "__name__",
            "replacement": "vllm_$1",
        },
    )
    assert relabel({"__name__": "go_goroutines"}, chain) is None
    assert relabel({"__name__": "vllm:num_requests_running"}, chain) == {
        "__name__": "vllm_num_requests_running"
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"action": "explode"}, "unknown relabel action"),
        ({"action": "replace"}, "needs a target_label"),
        ({"action": "hashmod", "target_label": "x"}, "positive modulus"),
        ({"regex": "(unclosed"}, "invalid relabel regex"),
        ({"sourcelabels": ["a"]}, "unknown relabel keys"),
    ],
)
def test_invalid_rules_are_config_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules([raw], "job 'x'")


def test_rules_must_be_a_list_of_mappings() -> None:
    assert parse_rules(None, "x") == ()
    with pytest.raises(ConfigError, match="expected a list"):
        parse_rules({"action": "keep"}, "x")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_rules(["keep"], "x")
