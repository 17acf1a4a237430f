"""Reads Alertmanager's own `alertmanager.yml`, unchanged, and checks it as amtool check-config.

What Alertmanager has and Observatory does not act on (email and other receiver kinds, time
intervals, notification templates, HTTP client settings) is accepted and listed in
`AlertmanagerConfig.warnings`, so an existing file loads; a mistake in what Observatory does
act on (a route naming an unknown receiver, a misspelt route field, a bad matcher or duration)
is a ConfigError naming the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor

from observatory.alerting.alertmanager.config_model import (
    INHIBIT_KEYS,
    PAGERDUTY_V1_URL,
    ROUTE_KEYS,
    SLACK_TEXT_FIELDS,
    TOP_KEYS,
    AlertmanagerConfig,
    GlobalConfig,
    InhibitRule,
    PagerdutyConfig,
    ReceiverConfig,
    RouteConfig,
    SlackConfig,
    WebhookConfig,
)
from observatory.alerting.alertmanager.matchers import MatcherError, new_matcher, parse_matchers
from observatory.alerting.model import Matcher, MatchType
from observatory.errors import ConfigError

T = TypeVar("T")

SUPPORTED_RECEIVERS = ("webhook_configs", "slack_configs", "pagerduty_configs")
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_PAGERDUTY_KEYS = ("routing_key", "routing_key_file", "service_key", "service_key_file")
_PAGERDUTY_TEXT = ("client", "client_url", "description", "severity", "source", "component")


def load_config_file(path: Path) -> AlertmanagerConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read Alertmanager config {path}: {exc}") from exc
    return load_config(text, str(path))


def load_config(text: str, source: str, base_dir: Path | None = None) -> AlertmanagerConfig:
    """The config in `text`; `source` names it in errors, relative `*_file` paths resolve
    against `base_dir` (default: the directory of `source`)."""
    ctx = _Context(source, base_dir if base_dir is not None else Path(source).parent)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        raise ConfigError(f"{source}: no route provided in config")
    return _config(_Map(ctx, root, ""), text, ctx)


@dataclass
class _Context:
    source: str
    base_dir: Path
    warnings: list[str] = field(default_factory=list)

    def fail(self, node: yaml.Node, where: str, message: str) -> ConfigError:
        place = f"{where}: " if where else ""
        return ConfigError(f"{self.source}:{node.start_mark.line + 1}: {place}{message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}" if where else message)

    def path(self, value: str) -> str:
        return str(self.base_dir / value)


_CONSTRUCTOR = SafeConstructor()


class _Map:
    """A YAML mapping with the position of every entry, for errors that point at a line."""

    def __init__(self, ctx: _Context, node: yaml.Node, where: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.fail(node, where, "expected a mapping")
        # Resolves `<<:` merge keys in place, as the YAML loader would.
        _CONSTRUCTOR.flatten_mapping(node)
        self.ctx, self.node, self.where = ctx, node, where
        self.entries: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = _CONSTRUCTOR.construct_object(key, deep=True)
            if not isinstance(name, str):
                raise ctx.fail(key, where, f"keys must be strings, got {name!r}")
            if name in self.entries:
                raise ctx.fail(key, where, f"field {name!r} is given twice")
            self.entries[name] = value

    def at(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        node = self.entries.get(name)
        return node is not None and not _is_null(node)

    def get(self, name: str, convert: Callable[[_Context, yaml.Node, str], T]) -> T | None:
        node = self.entries.get(name)
        if node is None or _is_null(node):
            return None
        return convert(self.ctx, node, self.at(name))

    def map(self, name: str) -> _Map | None:
        node = self.entries.get(name)
        if node is None or _is_null(node):
            return None
        return _Map(self.ctx, node, self.at(name))

    def items(self, name: str) -> list[tuple[yaml.Node, str]]:
        """The elements of a list field with their paths; missing or null is empty."""
        node = self.entries.get(name)
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.fail(node, self.at(name), "expected a list")
        return [(item, f"{self.at(name)}[{i}]") for i, item in enumerate(node.value)]

    def reject_unknown(self, known: frozenset[str], kind: str) -> None:
        for name, node in self.entries.items():
            if name not in known:
                raise self.ctx.fail(node, self.where, f"field {name!r} not found in {kind}")

    def warn_unknown(self, known: frozenset[str] | tuple[str, ...], verb: str) -> None:
        for name in self.entries:
            if name not in known:
                self.ctx.warn(self.at(name), verb)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _scalar(ctx: _Context, node: yaml.Node, where: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.fail(node, where, "expected a single value")
    return _CONSTRUCTOR.construct_object(node, deep=True)


def _str(ctx: _Context, node: yaml.Node, where: str) -> str:
    value = _scalar(ctx, node, where)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ctx.fail(node, where, f"expected a string, got {value!r}")
    return str(value)


def _bool(ctx: _Context, node: yaml.Node, where: str) -> bool:
    value = _scalar(ctx, node, where)
    if not isinstance(value, bool):
        raise ctx.fail(node, where, f"expected true or false, got {value!r}")
    return value


def _count(ctx: _Context, node: yaml.Node, where: str) -> int:
    value = _scalar(ctx, node, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.fail(node, where, f"expected a whole number >= 0, got {value!r}")
    return value


def _duration(ctx: _Context, node: yaml.Node, where: str) -> float:
    """Seconds of a Prometheus duration (`30s`, `1h30m`, `500ms`, `0`)."""
    value = _scalar(ctx, node, where)
    text = value if isinstance(value, str) else ""
    found = _DURATION.fullmatch(text) if text else None
    if text == "0":
        return 0.0
    if found is None or not any(found.groups()):
        raise ctx.fail(node, where, f"invalid duration {value!r}; use e.g. 30s, 5m, 4h, 1h30m")
    return sum(int(n) * unit for n, unit in zip(found.groups(), _DURATION_UNITS, strict=True) if n)


def _str_list(ctx: _Context, node: yaml.Node, where: str) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, where, "expected a list")
    return tuple(_str(ctx, item, f"{where}[{i}]") for i, item in enumerate(node.value))


def _str_map(ctx: _Context, node: yaml.Node, where: str) -> tuple[tuple[str, str], ...]:
    mapping = _Map(ctx, node, where)
    return tuple(
        (name, _str(ctx, value, mapping.at(name))) for name, value in mapping.entries.items()
    )


# ---------------------------------------------------------------- the document


def _config(top: _Map, text: str, ctx: _Context) -> AlertmanagerConfig:
    top.reject_unknown(TOP_KEYS, "the Alertmanager config")
    global_ = _global(top.map("global"), ctx)
    intervals = _time_intervals(top, ctx)
    receivers = _receivers(top, global_, ctx)
    route_map = top.map("route")
    if route_map is None:
        raise ConfigError(f"{ctx.source}: no route provided in config")
    route = _route(route_map)
    _check_root(route_map, route, ctx)
    names = {r.name for r in receivers}
    _check_route_refs(route_map, route, names, intervals, ctx)
    templates = top.get("templates", _str_list) or ()
    if templates:
        ctx.warn("templates", "notification template files are not read; defaults are used")
    return AlertmanagerConfig(
        route=route,
        receivers=receivers,
        inhibit_rules=tuple(
            _inhibit_rule(ctx, node, where) for node, where in top.items("inhibit_rules")
        ),
        global_=global_,
        templates=templates,
        original=text,
        source=ctx.source,
        warnings=tuple(ctx.warnings),
    )


def _global(section: _Map | None, ctx: _Context) -> GlobalConfig:
    if section is None:
        return GlobalConfig()
    known = ("resolve_timeout", "slack_api_url", "slack_api_url_file", "pagerduty_url")
    section.warn_unknown(known, "not used by Observatory; ignored")
    if section.has("slack_api_url") and section.has("slack_api_url_file"):
        raise ctx.fail(
            section.node,
            section.where,
            "at most one of slack_api_url & slack_api_url_file must be configured",
        )
    url_file = section.get("slack_api_url_file", _str)
    defaults = GlobalConfig()
    return GlobalConfig(
        resolve_timeout=_or(section.get("resolve_timeout", _duration), defaults.resolve_timeout),
        slack_api_url=section.get("slack_api_url", _str),
        slack_api_url_file=ctx.path(url_file) if url_file else None,
        pagerduty_url=section.get("pagerduty_url", _str) or defaults.pagerduty_url,
    )


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _time_intervals(top: _Map, ctx: _Context) -> set[str]:
    names: set[str] = set()
    for key in ("time_intervals", "mute_time_intervals"):
        for node, where in top.items(key):
            name = _Map(ctx, node, where).get("name", _str)
            if not name:
                raise ctx.fail(node, where, "time interval without a name")
            if name in names:
                raise ctx.fail(node, where, f"time interval {name!r} is not unique")
            names.add(name)
        if top.has(key):
            ctx.warn(key, "time intervals are not applied: routes using them are never muted")
    return names


# ---------------------------------------------------------------- routes


def _route(section: _Map) -> RouteConfig:
    section.reject_unknown(ROUTE_KEYS, "route")
    ctx = section.ctx
    group_by = section.get("group_by", _str_list)
    group_by_all = group_by is not None and "..." in group_by
    if group_by is not None:
        _check_group_by(section, group_by)
    children = section.items("routes")
    return RouteConfig(
        receiver=section.get("receiver", _str),
        group_by=None if group_by is None or group_by_all else group_by,
        group_by_all=group_by_all,
        matchers=_route_matchers(section),
        continue_=bool(section.get("continue", _bool)),
        group_wait=section.get("group_wait", _duration),
        group_interval=_non_zero(section, "group_interval"),
        repeat_interval=_non_zero(section, "repeat_interval"),
        mute_time_intervals=section.get("mute_time_intervals", _str_list) or (),
        active_time_intervals=section.get("active_time_intervals", _str_list) or (),
        routes=tuple(_route(_Map(ctx, node, where)) for node, where in children),
    )


def _check_group_by(section: _Map, group_by: tuple[str, ...]) -> None:
    node, where = section.entries["group_by"], section.at("group_by")
    if "..." in group_by and len(group_by) > 1:
        raise section.ctx.fail(
            node, where, "cannot have wildcard group_by (`...`) and other labels at the same time"
        )
    seen: set[str] = set()
    for name in group_by:
        if not name:
            raise section.ctx.fail(node, where, "empty label name in group_by")
        if name in seen:
            raise section.ctx.fail(node, where, f"duplicated label {name!r} in group_by")
        seen.add(name)


def _non_zero(section: _Map, name: str) -> float | None:
    value = section.get(name, _duration)
    if value == 0:
        raise section.ctx.fail(section.entries[name], section.at(name), f"{name} cannot be zero")
    return value


def _route_matchers(section: _Map) -> tuple[Matcher, ...]:
    """`match` and `match_re` (deprecated) first, then `matchers`, as Alertmanager builds them."""
    found = _legacy(section, "match", MatchType.EQ) + _legacy(section, "match_re", MatchType.RE)
    return found + _matcher_list(section, "matchers")


def _legacy(section: _Map, name: str, match_type: MatchType) -> tuple[Matcher, ...]:
    pairs = section.get(name, _str_map) or ()
    out: list[Matcher] = []
    for label, value in pairs:
        # Alertmanager anchors a legacy regex into its text, so route keys show `^(?:...)$`.
        text = value if match_type is MatchType.EQ else f"^(?:{value})$"
        try:
            if not label:
                raise MatcherError("empty label name")
            out.append(new_matcher(label, match_type, text))
        except MatcherError as exc:
            raise section.ctx.fail(section.entries[name], section.at(name), exc.message) from exc
    return tuple(out)


def _matcher_list(section: _Map, name: str) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    for node, where in section.items(name):
        text = _str(section.ctx, node, where)
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            raise section.ctx.fail(node, where, exc.message) from exc
    return tuple(out)


def _check_root(section: _Map, route: RouteConfig, ctx: _Context) -> None:
    if not route.receiver:
        raise ctx.fail(section.node, "route", "root route must specify a default receiver")
    if route.matchers:
        raise ctx.fail(section.node, "route", "root route must not have any matchers")
    if route.mute_time_intervals:
        raise ctx.fail(section.node, "route", "root route must not have any mute time intervals")
    if route.active_time_intervals:
        raise ctx.fail(section.node, "route", "root route must not have any active time intervals")


def _check_route_refs(
    section: _Map, route: RouteConfig, receivers: set[str], intervals: set[str], ctx: _Context
) -> None:
    """Every receiver and time interval a route names exists (depth first, as amtool)."""
    for (node, where), child in zip(section.items("routes"), route.routes, strict=True):
        _check_route_refs(_Map(ctx, node, where), child, receivers, intervals, ctx)
    if route.receiver and route.receiver not in receivers:
        raise ctx.fail(
            section.node, section.where, f"undefined receiver {route.receiver!r} used in route"
        )
    for name in route.mute_time_intervals + route.active_time_intervals:
        if name not in intervals:
            raise ctx.fail(
                section.node, section.where, f"undefined time interval {name!r} used in route"
            )


# ---------------------------------------------------------------- inhibit rules


def _inhibit_rule(ctx: _Context, node: yaml.Node, where: str) -> InhibitRule:
    section = _Map(ctx, node, where)
    section.reject_unknown(INHIBIT_KEYS, "inhibit rule")
    equal = section.get("equal", _str_list) or ()
    if any(not name for name in equal):
        raise ctx.fail(section.entries["equal"], section.at("equal"), "empty label name")
    return InhibitRule(
        source_matchers=_side(section, "source"),
        target_matchers=_side(section, "target"),
        equal=equal,
    )


def _side(section: _Map, side: str) -> tuple[Matcher, ...]:
    legacy = _legacy(section, f"{side}_match", MatchType.EQ)
    legacy += _legacy(section, f"{side}_match_re", MatchType.RE)
    return legacy + _matcher_list(section, f"{side}_matchers")


# ---------------------------------------------------------------- receivers


def _receivers(top: _Map, global_: GlobalConfig, ctx: _Context) -> tuple[ReceiverConfig, ...]:
    out: list[ReceiverConfig] = []
    seen: set[str] = set()
    for node, where in top.items("receivers"):
        receiver = _receiver(_Map(ctx, node, where), global_)
        if receiver.name in seen:
            raise ctx.fail(node, where, f"notification config name {receiver.name!r} is not unique")
        seen.add(receiver.name)
        out.append(receiver)
    return tuple(out)


def _receiver(section: _Map, global_: GlobalConfig) -> ReceiverConfig:
    ctx = section.ctx
    name = section.get("name", _str)
    if not name:
        raise ctx.fail(section.node, section.where, "missing name in receiver")
    unsupported: list[str] = []
    for key, node in section.entries.items():
        if key == "name" or key in SUPPORTED_RECEIVERS:
            continue
        if not key.endswith("_configs"):
            raise ctx.fail(node, section.where, f"field {key!r} not found in receiver")
        unsupported.append(key.removesuffix("_configs"))
        ctx.warn(section.at(key), f"receiver {name!r}: {key} are not supported and not sent")
    return ReceiverConfig(
        name=name,
        webhook_configs=_each(section, "webhook_configs", _webhook),
        slack_configs=_each(section, "slack_configs", lambda m: _slack(m, global_)),
        pagerduty_configs=_each(section, "pagerduty_configs", lambda m: _pagerduty(m, global_)),
        unsupported=tuple(unsupported),
    )


def _each(section: _Map, key: str, build: Callable[[_Map], T]) -> tuple[T, ...]:
    return tuple(build(_Map(section.ctx, node, where)) for node, where in section.items(key))


def _exclusive(section: _Map, first: str, second: str) -> None:
    if section.has(first) and section.has(second):
        raise section.ctx.fail(
            section.node, section.where, f"at most one of {first} & {second} must be configured"
        )


def _file(section: _Map, name: str) -> str | None:
    value = section.get(name, _str)
    return section.ctx.path(value) if value else None


def _webhook(section: _Map) -> WebhookConfig:
    known = ("url", "url_file", "send_resolved", "max_alerts", "timeout")
    section.warn_unknown(known, "not supported; ignored")
    _exclusive(section, "url", "url_file")
    if not section.has("url") and not section.has("url_file"):
        raise section.ctx.fail(
            section.node, section.where, "one of url or url_file must be configured"
        )
    return WebhookConfig(
        url=section.get("url", _str),
        url_file=_file(section, "url_file"),
        send_resolved=_or(section.get("send_resolved", _bool), True),
        max_alerts=section.get("max_alerts", _count) or 0,
        timeout=section.get("timeout", _duration),
    )


def _slack(section: _Map, global_: GlobalConfig) -> SlackConfig:
    known = ("api_url", "api_url_file", "send_resolved", *SLACK_TEXT_FIELDS)
    section.warn_unknown(known, "not supported; ignored")
    _exclusive(section, "api_url", "api_url_file")
    api_url = section.get("api_url", _str)
    api_url_file = _file(section, "api_url_file")
    if api_url is None and api_url_file is None:
        api_url, api_url_file = global_.slack_api_url, global_.slack_api_url_file
    if api_url is None and api_url_file is None:
        raise section.ctx.fail(section.node, section.where, "no global Slack API URL set")
    texts = {name: section.get(name, _str) for name in SLACK_TEXT_FIELDS}
    return SlackConfig(
        api_url=api_url,
        api_url_file=api_url_file,
        send_resolved=_or(section.get("send_resolved", _bool), False),
        **texts,
    )


def _pagerduty(section: _Map, global_: GlobalConfig) -> PagerdutyConfig:
    known = (*_PAGERDUTY_KEYS, "url", "send_resolved", "class", "group", "details")
    section.warn_unknown((*known, *_PAGERDUTY_TEXT), "not supported; ignored")
    _exclusive(section, "routing_key", "routing_key_file")
    _exclusive(section, "service_key", "service_key_file")
    if not any(section.has(key) for key in _PAGERDUTY_KEYS):
        raise section.ctx.fail(
            section.node, section.where, "missing service or routing key in PagerDuty config"
        )
    config = PagerdutyConfig(
        routing_key=section.get("routing_key", _str),
        routing_key_file=_file(section, "routing_key_file"),
        service_key=section.get("service_key", _str),
        service_key_file=_file(section, "service_key_file"),
        send_resolved=_or(section.get("send_resolved", _bool), True),
        class_=section.get("class", _str),
        group=section.get("group", _str),
        details=section.get("details", _str_map),
        **{name: section.get(name, _str) for name in _PAGERDUTY_TEXT},
    )
    url = section.get("url", _str) or (
        PAGERDUTY_V1_URL if config.uses_v1 else global_.pagerduty_url
    )
    return replace(config, url=url)
