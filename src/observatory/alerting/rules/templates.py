"""Prometheus's alert template expansion, for the labels and annotations of alerting rules.

Prometheus prepends `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
{{$externalURL := .ExternalURL}}{{$value := .Value}}` to each label and annotation value and
runs it as a Go text/template (with missingkey=zero) whose data has `.Labels`,
`.ExternalLabels`, `.ExternalURL` and `.Value`. We run it on the Go template engine written for
LogQL, with Prometheus's function table (`template_functions`) instead of Loki's.

A template that fails while running does not fail the rule: as in Prometheus, the error text
becomes the value (`<error expanding template: ...>`). A template that does not parse is
rejected when the rule file loads (`check_template`), and renders as an error if it gets here.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeAlias

import grpc

from observatory.alerting.rules.template_functions import (
    FUNCTION_NAMES,
    STATIC_FUNCTIONS,
    Sample,
)
from observatory.errors import ObservatoryError
from observatory.query.logql.gofmt import StringMap, TemplateValue, sprint_value
from observatory.query.logql.template_funcs import Function, TemplateCallError
from observatory.query.logql.template_parse import TemplateSyntaxError
from observatory.query.logql.templates import Template, TemplateExecError

# An instant query: (expression, evaluation time in ms) -> [(labels, value)].
QueryFunc: TypeAlias = Callable[[str, int], list[tuple[dict[str, str], float]]]

ALERT_TEMPLATE_PREFIX = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)


class TemplateError(ObservatoryError):
    """A label or annotation template that does not parse."""

    http_status = 400
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    reason = "template"


class AlertData(TemplateValue):
    """The data of an alert template: Prometheus's AlertTemplateData struct."""

    go_type = (
        "struct { Labels map[string]string; ExternalLabels map[string]string; "
        "ExternalURL string; Value interface {} }"
    )
    __slots__ = ("fields",)

    def __init__(
        self,
        labels: Mapping[str, str],
        external_labels: Mapping[str, str],
        external_url: str,
        value: float,
    ) -> None:
        self.fields: dict[str, Any] = {
            "Labels": StringMap(labels),
            "ExternalLabels": StringMap(external_labels),
            "ExternalURL": external_url,
            "Value": float(value),
        }

    def template_member(self, name: str, args: list[Any]) -> Any:
        if args and name in self.fields:
            raise TemplateCallError(f"{name} has arguments but cannot be invoked as function")
        return self.fields[name]  # KeyError (a LookupError): no such field

    def __str__(self) -> str:
        return "{" + " ".join(sprint_value(v) for v in self.fields.values()) + "}"


@lru_cache(maxsize=8192)
def _compile(text: str, name: str) -> Template | str:
    """The parsed template with Prometheus's prefix, or Go's message saying why it does not
    parse. Rules expand the same few texts at every evaluation, so each is parsed once."""
    try:
        return Template(ALERT_TEMPLATE_PREFIX + text, name, FUNCTION_NAMES)
    except TemplateSyntaxError as exc:
        return str(exc)  # not the exception: the cache would keep its traceback alive


def check_template(text: str, name: str) -> None:
    """Parses `text` as an alert template named `name` (Prometheus names it `__alert_<alert>`).

    Raises TemplateError with Go's message, e.g.
    `template: __alert_X:1: function "foo" not defined`."""
    compiled = _compile(text, name)
    if isinstance(compiled, str):
        raise TemplateError(compiled)


def expand_template(
    text: str,
    *,
    name: str,
    labels: Mapping[str, str],
    value: float,
    external_labels: Mapping[str, str],
    external_url: str,
    timestamp_ms: int,
    query: QueryFunc | None,
) -> str:
    """Expands one label or annotation value of an alert; never raises for a bad template.

    `labels` are the alert's labels, `value` the sample value that fired it, `timestamp_ms` the
    evaluation time (what `query` and `now` see), `query` runs the `query` function's PromQL."""
    if "{{" not in text:
        return text  # the prefix's declarations print nothing, so plain text is the result
    compiled = _compile(text, name)
    if isinstance(compiled, str):
        return f"<error expanding template: error parsing template {name}: {compiled}>"
    data = AlertData(labels, external_labels, external_url, value)
    functions = STATIC_FUNCTIONS | _bound_functions(query, timestamp_ms, external_url)
    try:
        return compiled.execute(data, functions)
    except TemplateExecError as exc:
        return f"<error expanding template: error executing template {name}: {exc}>"
    except Exception as exc:  # a template must never fail the rule; Prometheus recovers too
        return f"<error expanding template: panic expanding template {name}: {exc}>"


def _bound_functions(
    query: QueryFunc | None, timestamp_ms: int, external_url: str
) -> dict[str, Function]:
    path = urllib.parse.unquote(urllib.parse.urlsplit(external_url).path)
    return {
        "query": Function(lambda expr: _run_query(query, expr, timestamp_ms), ("str",)),
        "now": Function(lambda: timestamp_ms / 1000),
        "externalURL": Function(lambda: external_url),
        "pathPrefix": Function(lambda: path),
    }


def _run_query(query: QueryFunc | None, expr: str, timestamp_ms: int) -> list[Sample]:
    if query is None:
        raise TemplateCallError("no query function to run queries with")
    try:
        vector = query(expr, timestamp_ms)
    except ObservatoryError as exc:
        raise TemplateCallError(exc.message) from exc
    return [Sample(StringMap(labels), float(value)) for labels, value in vector]
