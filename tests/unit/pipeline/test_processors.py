from __future__ import annotations

import pytest

from observatory.errors import ConfigError
from observatory.pipeline.processors import AttributeLimits, ResourceProcessor


def test_resource_actions_apply_in_order() -> None:
    processor = ResourceProcessor.from_config(
        [
            {"action": "insert", "key": "env", "value": "dev"},
            {"action": "insert", "key": "service.name", "value": "ignored"},
            {"action": "upsert", "key": "region", "value": "eu"},
            {"action": "delete", "key": "secret"},
        ]
    )
    out = dict(processor.apply([("service.name", "gw"), ("region", "us"), ("secret", "x")]))
    assert out == {"service.name": "gw", "region": "eu", "env": "dev"}


def test_bad_resource_action_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"resource_processor\[0\]"):
        ResourceProcessor.from_config([{"action": "rename", "key": "a"}])
    with pytest.raises(ConfigError, match="needs a value"):
        ResourceProcessor.from_config([{"action": "upsert", "key": "a"}])


def test_truncate_limits_count_and_length() -> None:
    limits = AttributeLimits(max_count=2, max_value_length=3, action="truncate")
    outcome = limits.apply([("a", "abcdef"), ("b", 5), ("c", "x")])
    assert outcome.attributes == [("a", "abc"), ("b", 5)]
    assert outcome.dropped == 1
    assert outcome.violated


def test_reject_leaves_attributes_alone_and_flags_violation() -> None:
    limits = AttributeLimits(max_count=5, max_value_length=3, action="reject")
    outcome = limits.apply([("a", "abcdef")])
    assert outcome.violated and limits.reject
    assert not AttributeLimits(5, 10, "reject").apply([("a", "abc")]).violated
