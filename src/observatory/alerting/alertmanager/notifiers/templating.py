"""Renders the template text of receiver fields (Slack `title`, PagerDuty `description`...).

Alertmanager runs these through Go's text/template over its notification data with sprig's
functions and its own. Observatory renders them with its Go template engine over the same
data (`.Status`, `.Receiver`, `.GroupLabels`, `.CommonLabels.severity`,
`.CommonAnnotations.summary`, `range .Alerts`, `.Alerts.Firing`, `.Alerts.Resolved`, each
alert's `.Labels`, `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`, `.Fingerprint`),
LogQL's sprig-like functions and Alertmanager's (`toUpper`, `toLower`, `title`, `join`,
`trimSpace`, `match`, `reReplaceAll`, `safeHtml`, `safeUrl`, `urlUnescape`, `stringSlice`).

Template files are not read, so `{{ template "name" . }}` works only for Alertmanager's
default templates (`slack.default.title`...), which become Observatory's defaults. A text
that still cannot be rendered falls back to the field's default with a warning in the log:
a notification always goes out.
"""

from __future__ import annotations

import html
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from observatory.alerting.alertmanager.matchers import go_quote
from observatory.query.logql.gofmt import StringMap, TemplateValue
from observatory.query.logql.gotime import ZERO_TIME, GoTime
from observatory.query.logql.template_funcs import FUNCTIONS, Function
from observatory.query.logql.template_parse import TemplateSyntaxError
from observatory.query.logql.templates import Template, TemplateExecError

log = logging.getLogger(__name__)

_DEFAULT_REFERENCE = re.compile(r"\{\{-?\s*template\s+\"([\w.]+)\"\s+\.\s*-?\}\}")


def _join(separator: str, items: Any) -> str:
    return separator.join(str(item) for item in (items or []))


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    # Go's `$1` references become Python's `\g<1>`.
    python = re.sub(
        r"\$(\d+|\{\w+\})", lambda m: "\\g<" + m.group(1).strip("{}") + ">", replacement
    )
    return re.sub(pattern, python, text)


# Alertmanager's own template functions (template.DefaultFuncs), beside LogQL's sprig subset.
ALERTMANAGER_FUNCTIONS: dict[str, Function] = {
    **FUNCTIONS,
    "toUpper": Function(str.upper, ("str",)),
    "toLower": Function(str.lower, ("str",)),
    "trimSpace": Function(str.strip, ("str",)),
    "join": Function(_join, ("str", "any")),
    "match": Function(lambda p, s: re.search(p, s) is not None, ("str", "str")),
    "reReplaceAll": Function(_re_replace_all, ("str", "str", "str")),
    "safeHtml": Function(lambda s: s, ("str",)),
    "safeUrl": Function(lambda s: s, ("str",)),
    "urlUnescape": Function(urllib.parse.unquote, ("str",)),
    "stringSlice": Function(lambda *items: list(items), (), "str"),
    "htmlEscape": Function(html.escape, ("str",)),
}
FUNCTION_NAMES = frozenset(ALERTMANAGER_FUNCTIONS) | {"and", "or"}


class KV(StringMap, TemplateValue):
    """Alertmanager's `template.KV`: a label map with SortedPairs, Names, Values, Remove.

    A missing label reads as "". (The methods need the engine to look up members of a map
    that is also a TemplateValue before its keys; until then only keys are reachable.)"""

    go_type: ClassVar[str] = "template.KV"

    def template_member(self, name: str, args: list[Any]) -> Any:
        if name == "SortedPairs":
            return [Pair(k, self[k]) for k in sorted(self)]
        if name == "Names":
            return sorted(self)
        if name == "Values":
            return [self[k] for k in sorted(self)]
        if name == "Remove":
            drop = set(args[0] if args else [])
            return KV({k: v for k, v in self.items() if k not in drop})
        return self.get(name, "")


class Pair(TemplateValue):
    go_type: ClassVar[str] = "template.Pair"

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def template_member(self, name: str, args: list[Any]) -> Any:
        return {"Name": self.name, "Value": self.value}[name]


class AlertValue(TemplateValue):
    go_type: ClassVar[str] = "template.Alert"

    def __init__(self, alert: Mapping[str, Any]) -> None:
        self.fields = {
            "Status": alert["status"],
            "Labels": KV(alert["labels"]),
            "Annotations": KV(alert["annotations"]),
            "StartsAt": _time(alert["startsAt"]),
            "EndsAt": _time(alert["endsAt"]),
            "GeneratorURL": alert["generatorURL"],
            "Fingerprint": alert["fingerprint"],
        }

    def template_member(self, name: str, args: list[Any]) -> Any:
        return self.fields[name]


class AlertList(list[AlertValue], TemplateValue):
    """`template.Alerts`: a list that also answers `.Firing` and `.Resolved`."""

    go_type: ClassVar[str] = "template.Alerts"

    def template_member(self, name: str, args: list[Any]) -> Any:
        if name in ("Firing", "Resolved"):
            wanted = name.lower()
            return AlertList(a for a in self if a.fields["Status"] == wanted)
        raise LookupError(name)


class Data(TemplateValue):
    """`template.Data`, built from the webhook-shaped notification data."""

    go_type: ClassVar[str] = "template.Data"

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.fields = {
            "Receiver": data["receiver"],
            "Status": data["status"],
            "Alerts": AlertList(AlertValue(a) for a in data["alerts"]),
            "GroupLabels": KV(data["groupLabels"]),
            "CommonLabels": KV(data["commonLabels"]),
            "CommonAnnotations": KV(data["commonAnnotations"]),
            "ExternalURL": data["externalURL"],
        }

    def template_member(self, name: str, args: list[Any]) -> Any:
        return self.fields[name]


def _time(text: str) -> GoTime:
    if text == "0001-01-01T00:00:00Z":
        return ZERO_TIME
    seconds, _, rest = text.rstrip("Z").partition(".")
    whole = int(datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    nanos = int((rest + "000000000")[:9]) if rest else 0
    return GoTime(whole * 1_000_000_000 + nanos)


class Renderer:
    """Renders configured texts for one notification; `defaults` maps Alertmanager's default
    template names (e.g. "slack.default.title") to Observatory's rendering of them."""

    def __init__(
        self, data: Mapping[str, Any], defaults: Mapping[str, Callable[[], str]], where: str
    ) -> None:
        self._data = Data(data)
        self._defaults = defaults
        self._where = where

    def render(self, text: str | None, default: str) -> str:
        """`text` rendered; the named default when unset or when it cannot be rendered."""
        if text is None:
            return self._default(default)
        if "{{" not in text:
            return text
        try:
            expanded = _DEFAULT_REFERENCE.sub(self._literal, text)
            template = Template(expanded, self._where, FUNCTION_NAMES)
            return template.execute(self._data, ALERTMANAGER_FUNCTIONS)
        except (TemplateSyntaxError, TemplateExecError, KeyError) as exc:
            log.warning("%s: cannot render %r, using the default: %s", self._where, text, exc)
            return self._default(default)

    def _default(self, name: str) -> str:
        make = self._defaults.get(name)
        return make() if make is not None else ""

    def _literal(self, found: re.Match[str]) -> str:
        if found.group(1) not in self._defaults:
            raise KeyError(f"template {found.group(1)!r} is not defined")
        return "{{ " + go_quote(self._default(found.group(1))) + " }}"


def check_template(text: str | None) -> str | None:
    """Why `text` would not render (a syntax error), or None; for config-time warnings."""
    if text is None or "{{" not in text:
        return None
    try:
        Template(_DEFAULT_REFERENCE.sub('{{ "" }}', text), "check", FUNCTION_NAMES)
    except TemplateSyntaxError as exc:
        return str(exc)
    return None
