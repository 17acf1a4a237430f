"""Route matching, inheritance and keys, checked against Alertmanager's own route tests."""

from __future__ import annotations

import pytest

from observatory.alerting.alertmanager.config import load_config
from observatory.alerting.alertmanager.routing import (
    Route,
    RouteOpts,
    format_label_set,
    receivers_for,
)

RECEIVERS = """
receivers:
- name: notify-def
- name: notify-A
- name: notify-testing
- name: notify-productionA
- name: notify-productionB
- name: notify-BC
"""

LEGACY_TREE = """
route:
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      group_by: [...]
    - match:
        env: "production"
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - match_re:
      owner: 'team-(B|C)'
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - match:
      group_by: 'role'
    group_by: ['role']
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
        group_wait: 2m
"""

MATCHERS_TREE = """
route:
  receiver: 'notify-def'
  routes:
  - matchers: ['{owner="team-A"}', '{level!="critical"}']
    receiver: 'notify-A'
    routes:
    - matchers: ['{env="testing"}', '{baz!~".*quux"}']
      receiver: 'notify-testing'
      group_by: [...]
    - matchers: ['{env="production"}']
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - matchers: [ env=~"produ.*", job=~".*"]
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - matchers: [owner=~"team-(B|C)"]
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
"""

DEFAULT = RouteOpts()


def tree(text: str) -> Route:
    return Route.from_config(load_config(text + RECEIVERS, "am.yml").route)


def opts(receiver: str, **changes: object) -> RouteOpts:
    values: dict[str, object] = {
        "receiver": receiver,
        "group_by": frozenset(),
        "group_by_all": False,
        "group_wait": 30.0,
        "group_interval": 300.0,
        "repeat_interval": 4 * 3600.0,
    }
    values.update(changes)
    return RouteOpts(**values)  # type: ignore[arg-type]


LEGACY_CASES = [
    ({"owner": "team-A"}, [opts("notify-A")], ['{}/{owner="team-A"}']),
    ({"owner": "team-A", "env": "unset"}, [opts("notify-A")], ['{}/{owner="team-A"}']),
    (
        {"owner": "team-C"},
        [opts("notify-BC", group_by=frozenset({"foo", "bar"}), group_wait=120.0)],
        ['{}/{owner=~"^(?:team-(B|C))$"}'],
    ),
    (
        {"owner": "team-A", "env": "testing"},
        [opts("notify-testing", group_by_all=True)],
        ['{}/{owner="team-A"}/{env="testing"}'],
    ),
    (
        {"owner": "team-A", "env": "production"},
        [
            opts("notify-productionA", group_wait=60.0),
            opts("notify-productionB", group_by=frozenset({"job"}), repeat_interval=3600.0),
        ],
        [
            '{}/{owner="team-A"}/{env="production"}',
            '{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}',
        ],
    ),
    (
        {"group_by": "role"},
        [opts("notify-def", group_by=frozenset({"role"}))],
        ['{}/{group_by="role"}'],
    ),
    (
        {"env": "testing", "group_by": "role"},
        [opts("notify-testing", group_by=frozenset({"role"}))],
        ['{}/{group_by="role"}/{env="testing"}'],
    ),
    (
        {"env": "testing", "group_by": "role", "wait": "long"},
        [opts("notify-testing", group_by=frozenset({"role"}), group_wait=120.0)],
        ['{}/{group_by="role"}/{env="testing"}/{wait="long"}'],
    ),
    ({"other": "x"}, [opts("notify-def")], ["{}"]),
]


@pytest.mark.parametrize(("labels", "expected_opts", "keys"), LEGACY_CASES)
def test_match_legacy_tree(
    labels: dict[str, str], expected_opts: list[RouteOpts], keys: list[str]
) -> None:
    matched = tree(LEGACY_TREE).match(labels)
    assert [r.opts for r in matched] == expected_opts
    assert [r.key() for r in matched] == keys


@pytest.mark.parametrize(
    ("labels", "keys"),
    [
        ({"owner": "team-A"}, ['{}/{level!="critical",owner="team-A"}']),
        (
            {"owner": "team-A", "env": "testing"},
            ['{}/{level!="critical",owner="team-A"}/{baz!~".*quux",env="testing"}'],
        ),
        (
            {"owner": "team-A", "env": "production"},
            [
                '{}/{level!="critical",owner="team-A"}/{env="production"}',
                '{}/{level!="critical",owner="team-A"}/{env=~"produ.*",job=~".*"}',
            ],
        ),
        ({"owner": "team-C"}, ['{}/{owner=~"team-(B|C)"}']),
        # `level!="critical"` excludes the team-A route: the alert stays at the root.
        ({"owner": "team-A", "level": "critical"}, ["{}"]),
    ],
)
def test_match_matchers_tree(labels: dict[str, str], keys: list[str]) -> None:
    assert [r.key() for r in tree(MATCHERS_TREE).match(labels)] == keys


def test_walk_is_depth_first_in_order() -> None:
    assert [r.opts.receiver for r in tree(LEGACY_TREE).walk()] == [
        "notify-def",
        "notify-A",
        "notify-testing",
        "notify-productionA",
        "notify-productionB",
        "notify-BC",
        "notify-def",
        "notify-testing",
        "notify-testing",
    ]


def test_group_by_all_is_inherited_until_overridden() -> None:
    root = tree(
        """
route:
  receiver: notify-def
  routes:
  - matchers: [env="parent"]
    group_by: ['...']
    routes:
    - matchers: [env="child1"]
    - matchers: [env="child2"]
      group_by: ['foo']
"""
    )
    parent = root.routes[0]
    assert parent.opts.group_by_all
    assert parent.routes[0].opts.group_by_all
    assert not parent.routes[1].opts.group_by_all
    assert parent.routes[1].opts.group_by == frozenset({"foo"})


def test_group_labels_and_key() -> None:
    root = tree(LEGACY_TREE)
    labels = {"owner": "team-A", "env": "production", "job": "api", "instance": "i-1"}
    first, second = root.match(labels)
    assert first.group_labels(labels) == {}
    assert first.group_key(labels) == '{}/{owner="team-A"}/{env="production"}:{}'
    assert second.group_labels(labels) == {"job": "api"}
    assert second.group_key(labels).endswith(':{job="api"}')
    testing = root.match({"owner": "team-A", "env": "testing", "a": 'x"y'})[0]
    assert testing.group_key({"owner": "team-A", "env": "testing", "a": 'x"y'}) == (
        '{}/{owner="team-A"}/{env="testing"}:{a="x\\"y", env="testing", owner="team-A"}'
    )


def test_group_labels_only_those_present() -> None:
    root = tree(LEGACY_TREE)
    route = root.match({"owner": "team-B"})[0]
    assert route.group_labels({"owner": "team-B", "foo": "1"}) == {"foo": "1"}


def test_ids_are_unique_where_keys_are_not() -> None:
    root = tree(
        """
route:
  receiver: notify-def
  routes:
  - {matchers: [a="1"], receiver: notify-A, continue: true}
  - {matchers: [a="1"], receiver: notify-BC}
"""
    )
    first, second = root.match({"a": "1"})
    assert first.key() == second.key() == '{}/{a="1"}'
    assert (first.id(), second.id()) == ('{}/{a="1"}/0', '{}/{a="1"}/1')
    assert root.id() == "{}"


def test_receivers_for() -> None:
    root = tree(LEGACY_TREE)
    labels = {"owner": "team-A", "env": "production"}
    assert receivers_for(root, labels) == ["notify-productionA", "notify-productionB"]


def test_format_label_set() -> None:
    assert format_label_set({"b": "2", "a": "1\n"}) == '{a="1\\n", b="2"}'
    assert format_label_set({}) == "{}"
