"""The parsed Alertmanager configuration: what `config.load_config` returns.

Durations are seconds. File paths (`url_file`, `api_url_file`, `routing_key_file`) are already
resolved against the directory of the config file; their contents are read at send time, so a
rotated secret is picked up without a reload, as in Alertmanager.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from observatory.alerting.model import Matcher

DEFAULT_RESOLVE_TIMEOUT = 300.0
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
PAGERDUTY_V2_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")

# The fields Alertmanager knows in each section; another one there is a mistake.
TOP_KEYS = frozenset(
    (
        "global",
        "route",
        "receivers",
        "inhibit_rules",
        "templates",
        "time_intervals",
        "mute_time_intervals",
        "tracing",
    )
)
ROUTE_KEYS = frozenset(
    (
        "receiver",
        "group_by",
        "continue",
        "matchers",
        "match",
        "match_re",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "mute_time_intervals",
        "active_time_intervals",
        "routes",
    )
)
INHIBIT_KEYS = frozenset(
    (
        "source_matchers",
        "target_matchers",
        "source_match",
        "source_match_re",
        "target_match",
        "target_match_re",
        "equal",
    )
)
# The Slack fields Observatory renders; Alertmanager's others (fields, actions...) are ignored.
SLACK_TEXT_FIELDS = (
    "channel",
    "username",
    "color",
    "title",
    "title_link",
    "pretext",
    "text",
    "fallback",
    "footer",
    "icon_emoji",
    "icon_url",
)


@dataclass(frozen=True)
class GlobalConfig:
    resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT
    slack_api_url: str | None = None
    slack_api_url_file: str | None = None
    pagerduty_url: str = PAGERDUTY_V2_URL


@dataclass(frozen=True)
class RouteConfig:
    """One node of the route tree as written; unset options (None) inherit from the parent."""

    receiver: str | None = None
    group_by: tuple[str, ...] | None = None
    group_by_all: bool = False
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[RouteConfig, ...] = ()


@dataclass(frozen=True)
class WebhookConfig:
    url: str | None = None
    url_file: str | None = None
    send_resolved: bool = True
    max_alerts: int = 0
    timeout: float | None = None


@dataclass(frozen=True)
class SlackConfig:
    """Text fields hold the configured template text; None means Alertmanager's default."""

    api_url: str | None = None
    api_url_file: str | None = None
    send_resolved: bool = False
    channel: str | None = None
    username: str | None = None
    color: str | None = None
    title: str | None = None
    title_link: str | None = None
    pretext: str | None = None
    text: str | None = None
    fallback: str | None = None
    footer: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None


@dataclass(frozen=True)
class PagerdutyConfig:
    """`routing_key*` selects Events API v2; `service_key*` the older v1 API."""

    routing_key: str | None = None
    routing_key_file: str | None = None
    service_key: str | None = None
    service_key_file: str | None = None
    url: str | None = None
    send_resolved: bool = True
    client: str | None = None
    client_url: str | None = None
    description: str | None = None
    severity: str | None = None
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    details: tuple[tuple[str, str], ...] | None = None

    @property
    def uses_v1(self) -> bool:
        return self.service_key is not None or self.service_key_file is not None


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    webhook_configs: tuple[WebhookConfig, ...] = ()
    slack_configs: tuple[SlackConfig, ...] = ()
    pagerduty_configs: tuple[PagerdutyConfig, ...] = ()
    # Integration kinds Alertmanager has and Observatory does not send to (email, opsgenie...).
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...] = ()
    target_matchers: tuple[Matcher, ...] = ()
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertmanagerConfig:
    route: RouteConfig
    receivers: tuple[ReceiverConfig, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    templates: tuple[str, ...] = ()
    # The YAML exactly as given: `/api/v2/status` returns it as `config.original`.
    original: str = ""
    source: str = ""
    # What was accepted but is not acted on (unsupported receivers, time intervals, ...).
    warnings: tuple[str, ...] = ()

    def receiver(self, name: str) -> ReceiverConfig | None:
        return next((r for r in self.receivers if r.name == name), None)

    def receiver_names(self) -> list[str]:
        return [r.name for r in self.receivers]
