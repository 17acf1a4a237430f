"""The route tree: which receivers an alert goes to, and with which grouping and timers.

Options a route does not set are inherited from its parent, the root's from Alertmanager's
defaults (group_wait 30s, group_interval 5m, repeat_interval 4h, no grouping). Matching is
Alertmanager's depth-first search: an alert goes to the deepest matching routes; among
siblings the first match ends the search unless that route has `continue: true`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from observatory.alerting.alertmanager.config_model import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    RouteConfig,
)
from observatory.alerting.alertmanager.matchers import format_matchers, go_quote, sort_matchers
from observatory.alerting.model import Matcher, matches_all


@dataclass(frozen=True)
class RouteOpts:
    receiver: str = ""
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    # Not inherited, as in Alertmanager; accepted but not applied (see config warnings).
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


class Route:
    """A node of the tree; `routes` are its children in configuration order."""

    def __init__(
        self,
        opts: RouteOpts,
        matchers: tuple[Matcher, ...] = (),
        continue_: bool = False,
        parent: Route | None = None,
    ) -> None:
        self.opts = opts
        self.matchers = tuple(sort_matchers(matchers))
        self.continue_ = continue_
        self.parent = parent
        self.routes: list[Route] = []
        self._key = self._compute_key()
        self._id: str | None = None  # known once the parent's children are all built

    @classmethod
    def from_config(cls, config: RouteConfig, parent: Route | None = None) -> Route:
        route = cls(_opts(config, parent), config.matchers, config.continue_, parent)
        route.routes = [cls.from_config(child, route) for child in config.routes]
        return route

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with `labels` is dispatched to; empty if this one does not
        match (never the case for the root, which has no matchers)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def key(self) -> str:
        """Alertmanager's route key, e.g. `{}/{severity="critical"}`; not unique in general."""
        return self._key

    def id(self) -> str:
        """The key plus the position among its siblings, which makes it unique."""
        if self._id is None:
            if self.parent is None:
                self._id = self._key
            else:
                position = next(i for i, r in enumerate(self.parent.routes) if r is self)
                self._id = f"{self._key}/{position}"
        return self._id

    def walk(self) -> Iterator[Route]:
        """This route and all below it, depth first, in configuration order."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels of an alert its group is formed by (only those the alert has)."""
        if self.opts.group_by_all:
            return dict(labels)
        return {name: value for name, value in labels.items() if name in self.opts.group_by}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The key of the group an alert with `labels` falls in on this route, e.g.
        `{}/{severity="critical"}:{alertname="HighLatency"}`; PagerDuty dedups on it."""
        return f"{self._key}:{format_label_set(self.group_labels(labels))}"

    def _compute_key(self) -> str:
        own = format_matchers(self.matchers)
        return own if self.parent is None else f"{self.parent.key()}/{own}"


def receivers_for(root: Route, labels: Mapping[str, str]) -> list[str]:
    """The receiver names an alert is routed to, each once, in routing order."""
    names = [route.opts.receiver for route in root.match(labels)]
    return list(dict.fromkeys(names))


def format_label_set(labels: Mapping[str, str]) -> str:
    """A label set as Go's `model.LabelSet.String()` prints it: `{a="1", b="2"}`."""
    pairs = (f"{name}={go_quote(labels[name])}" for name in sorted(labels))
    return "{" + ", ".join(pairs) + "}"


def _opts(config: RouteConfig, parent: Route | None) -> RouteOpts:
    base = parent.opts if parent is not None else RouteOpts()
    group_by, group_by_all = base.group_by, base.group_by_all
    if config.group_by is not None:
        group_by, group_by_all = frozenset(config.group_by), False
    elif config.group_by_all:
        group_by, group_by_all = frozenset(), True
    return RouteOpts(
        receiver=config.receiver or base.receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=_pick(config.group_wait, base.group_wait),
        group_interval=_pick(config.group_interval, base.group_interval),
        repeat_interval=_pick(config.repeat_interval, base.repeat_interval),
        mute_time_intervals=config.mute_time_intervals,
        active_time_intervals=config.active_time_intervals,
    )


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


@dataclass(frozen=True)
class RouteGroup:
    """One route an alert matches: the route's identity, its receiver, the group labels."""

    route_key: str
    receiver: str
    labels: Mapping[str, str]
