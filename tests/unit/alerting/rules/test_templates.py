"""Prometheus alert template expansion.

Expected values come from Prometheus's documentation ("Template reference", "Template
examples", "Alerting rules") and the behaviour its own template tests pin down (e.g.
`humanize 1234567` is `1.235M`, `humanizeDuration 899.99` is `14m 59s`).
"""

from __future__ import annotations

from typing import Any

import pytest

from observatory.alerting.rules.templates import (
    ALERT_TEMPLATE_PREFIX,
    TemplateError,
    check_template,
    expand_template,
)
from observatory.errors import ObservatoryError, QueryError

NAME = "__alert_HighErrorRate"
EXTERNAL_URL = "http://testhost:9090/path/prefix"
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
UINT64_MAX = (1 << 64) - 1

Vector = list[tuple[dict[str, str], float]]


class FakeQuery:
    """Answers every query with a fixed vector and records what was asked."""

    def __init__(self, result: Vector) -> None:
        self.result = result
        self.calls: list[tuple[str, int]] = []

    def __call__(self, expr: str, time_ms: int) -> Vector:
        self.calls.append((expr, time_ms))
        return [(dict(labels), value) for labels, value in self.result]


def expand(text: str, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "name": NAME,
        "labels": {"instance": "web-1:9090", "job": "api", "severity": "page"},
        "value": 0.25,
        "external_labels": {"cluster": "eu-1"},
        "external_url": EXTERNAL_URL,
        "timestamp_ms": 1_700_000_000_000,
        "query": None,
    }
    arguments.update(overrides)
    return expand_template(text, **arguments)


def each(function: str, values: list[Any]) -> str:
    """`{{ function v }}:` for each value, the way Prometheus's tests range over inputs."""
    return "".join(expand(f"{{{{ {function} {_literal(v)} }}}}:") for v in values)


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _error(message: str) -> str:
    return (
        f"<error expanding template: error executing template {NAME}: template: {NAME}: {message}>"
    )


# ---------------------------------------------------------------- data and variables


def test_plain_text_is_unchanged() -> None:
    assert expand("plain text") == "plain text"
    assert expand("") == ""


def test_labels_and_value_variables() -> None:
    text = "{{ $labels.instance }} of job {{ $labels.job }} is at {{ $value }}"
    assert expand(text) == "web-1:9090 of job api is at 0.25"


def test_dot_fields_match_the_variables() -> None:
    text = "{{ .Labels.job }}|{{ .Value }}|{{ .ExternalLabels.cluster }}|{{ .ExternalURL }}"
    assert expand(text) == f"api|0.25|eu-1|{EXTERNAL_URL}"


def test_external_labels_and_url_variables() -> None:
    assert expand("{{ $externalLabels.cluster }} {{ $externalURL }}") == f"eu-1 {EXTERNAL_URL}"


def test_missing_label_is_empty() -> None:
    assert expand("[{{ $labels.nope }}][{{ index $labels `nope` }}]") == "[][]"


def test_label_names_that_are_not_identifiers_are_read_with_index() -> None:
    labels = {"app.kubernetes.io/name": "vllm"}
    assert expand('{{ index $labels "app.kubernetes.io/name" }}', labels=labels) == "vllm"


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_value_prints_as_go_prints_a_float64(value: float, printed: str) -> None:
    assert expand("{{ $value }}", value=value) == printed


def test_printing_maps_sorts_keys() -> None:
    labels = {"b": "2", "a": "1"}
    assert expand("{{ $labels }}", labels=labels) == "map[a:1 b:2]"


def test_range_over_labels() -> None:
    labels = {"b": "2", "a": "1"}
    text = "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"
    assert expand(text, labels=labels) == "a=1;b=2;"


def test_conditionals_on_value() -> None:
    text = '{{ if gt $value 0.2 }}high{{ else }}low{{ end }} {{ printf "%.1f%%" $value }}'
    assert expand(text) == "high 0.2%"
    assert expand(text, value=0.1) == "low 0.1%"


def test_and_or_not_eq() -> None:
    text = '{{ if and (eq $labels.job "api") (not (eq $labels.severity "info")) }}y{{ end }}'
    assert expand(text) == "y"
    assert expand('{{ or $labels.nope "fallback" }}') == "fallback"


def test_user_variables() -> None:
    assert expand('{{ $x := "a" }}{{ $x = "b" }}{{ $x }}') == "b"


def test_len_and_urlquery() -> None:
    assert expand("{{ len $labels }}") == "3"
    assert expand('{{ urlquery "a b&c" }}') == "a+b%26c"


def test_html_and_js_escape_as_go_does() -> None:
    assert expand("{{ html `<a href='x'>&\"` }}") == "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    assert expand("{{ js `a'b\"<>&=\\` }}") == "a\\'b\\\"\\u003C\\u003E\\u0026\\u003D\\\\"


def test_multi_line_templates() -> None:
    text = "Instance {{ $labels.instance }}\n  value: {{ $value | humanizePercentage }}\n"
    assert expand(text) == "Instance web-1:9090\n  value: 25%\n"


# ---------------------------------------------------------------- numbers


def test_humanize() -> None:
    assert each("humanize", [0.0, 1.0, 1234567.0, 0.12]) == "0:1:1.235M:120m:"
    assert each("humanize", ["0.0", "1.0", "1234567.0", ".12"]) == "0:1:1.235M:120m:"
    assert each("humanize", [0, -1, 1, 1234567, INT64_MAX]) == "0:-1:1:1.235M:9.223E:"
    assert each("humanize", [UINT64_MAX, 0.0012, -1500.0]) == "18.45E:1.2m:-1.5k:"


def test_humanize1024() -> None:
    assert each("humanize1024", [0.0, 1.0, 1048576.0, 0.12]) == "0:1:1Mi:0.12:"
    assert each("humanize1024", ["0.0", "1.0", "1048576.0", ".12"]) == "0:1:1Mi:0.12:"
    assert each("humanize1024", [0, -1, 1, 1234567, INT64_MAX]) == "0:-1:1:1.177Mi:8Ei:"
    # Prometheus spells the kibi prefix in lower case.
    assert each("humanize1024", [2048, UINT64_MAX]) == "2ki:16Ei:"


def test_humanize_duration() -> None:
    seconds = [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5)]
    expected = "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:"
    assert each("humanizeDuration", seconds) == expected
    assert each("humanizeDuration", [899.99, 3661, 1234567]) == "14m 59s:1h 1m 1s:14d 6h 56m 7s:"
    fractions = [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345, 0.5]
    expected = "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:500ms:"
    assert each("humanizeDuration", fractions) == expected
    assert each("humanizeDuration", [".1", "60.5", "86400"]) == "100ms:1m 0s:1d 0h 0m 0s:"


def test_humanize_percentage() -> None:
    text = "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
    text += "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"
    assert expand(text) == "-22.22%:0%:12.35%:123.5%"
    assert each("humanizePercentage", [0.1234, "0.5"]) == "12.34%:50%:"
    assert each("humanizePercentage", [1234567, INT64_MAX]) == "1.235e+08%:9.223e+20%:"


def test_humanize_timestamp() -> None:
    assert expand("{{ 1435065584.128 | humanizeTimestamp }}") == (
        "2015-06-23 13:19:44.128 +0000 UTC"
    )
    assert expand('{{ "1435065584.128" | humanizeTimestamp }}') == (
        "2015-06-23 13:19:44.128 +0000 UTC"
    )
    expected = (
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:"
        "1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    )
    assert each("humanizeTimestamp", [0, -1, 1234567, 9223372036]) == expected


def test_humanize_timestamp_overflow_is_an_error() -> None:
    assert expand(f"{{{{ humanizeTimestamp {INT64_MIN} }}}}") == _error(
        'executing "__alert_HighErrorRate" at <humanizeTimestamp>: error calling '
        "humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds "
        "timestamp since it overflows int64"
    )


def test_humanize_infinities_and_nan() -> None:
    row = "{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
    row += "{{ humanizeTimestamp . }}:"
    for raw, printed in (("+Inf", "+Inf"), ("-Inf", "-Inf"), ("NaN", "NaN")):
        text = f'{{{{ with "{raw}" }}}}{row}{{{{ end }}}}'
        assert expand(text) == f"{printed}:" * 4
        assert expand(row.replace(".", "$value"), value=float(raw)) == f"{printed}:" * 4


def test_humanize_rejects_what_is_not_a_number() -> None:
    assert expand('{{ humanize "one" }}') == _error(
        'executing "__alert_HighErrorRate" at <humanize>: error calling humanize: '
        'strconv.ParseFloat: parsing "one": invalid syntax'
    )
    assert "can't convert bool to float" in expand("{{ humanizeDuration true }}")


def test_to_time_and_its_methods() -> None:
    assert expand('{{ (1435065584.128 | toTime).Format "2006" }}') == "2015"
    assert expand('{{ ("1435065584.128" | toTime).Format "2006-01-02" }}') == "2015-06-23"
    assert expand("{{ toTime 1657155181 }}") == "2022-07-07 00:53:01 +0000 UTC"
    assert expand("{{ (toTime 1657155181).Unix }}") == "1657155181"
    assert "value is NaN or Inf" in expand('{{ toTime "NaN" }}')


def test_to_duration() -> None:
    assert expand("{{ toDuration 3723.5 }}|{{ toDuration 0.25 }}|{{ toDuration 0 }}") == (
        "1h2m3.5s|250ms|0s"
    )
    assert expand("{{ (toDuration 90).Seconds }} {{ (toDuration 90).Minutes }}") == "90 1.5"
    assert expand("{{ toDuration 120 | humanizeDuration }}") == "2m 0s"


def test_now_is_the_evaluation_time() -> None:
    assert expand("{{ now }}", timestamp_ms=1_500_000) == "1500"
    assert expand("{{ now | humanizeTimestamp }}", timestamp_ms=1_435_065_584_128) == (
        "2015-06-23 13:19:44.128 +0000 UTC"
    )


def test_parse_duration() -> None:
    assert expand('{{ printf "%0.2f" (parseDuration "1h2m10ms") }}') == "3720.01"
    assert expand('{{ parseDuration "1d" }} {{ parseDuration "0" }}') == "86400 0"
    # A float64 of eight digits prints in exponent form, as Go's %v does.
    assert expand('{{ parseDuration "1y2w" }}') == "3.27456e+07"
    assert expand('{{ parseDuration "-5m" }}') == "-300"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty duration string"),
        ("abc", 'not a valid duration string: "abc"'),
        ("5m1h", 'not a valid duration string: "5m1h"'),
        ("1x", 'unknown unit "x" in duration "1x"'),
        ("10", 'not a valid duration string: "10"'),
    ],
)
def test_parse_duration_errors(text: str, error: str) -> None:
    assert expand(f'{{{{ parseDuration "{text}" }}}}') == _error(
        f'executing "__alert_HighErrorRate" at <parseDuration>: error calling parseDuration: '
        f"{error}"
    )


# ---------------------------------------------------------------- strings


def test_case_functions() -> None:
    assert expand('{{ "aa bb CC" | title }}') == "Aa Bb CC"
    assert expand('{{ "aa bb CC" | toUpper }}') == "AA BB CC"
    assert expand('{{ "aA bB CC" | toLower }}') == "aa bb cc"


def test_title_keeps_words_joined_by_apostrophes_and_dots() -> None:
    assert expand("{{ title `don't stop foo-bar node.example.com` }}") == (
        "Don't Stop Foo-Bar Node.example.com"
    )


def test_case_mapping_is_rune_by_rune() -> None:
    # Go maps one rune to one rune: `ß` has no single-rune upper case and stays.
    assert expand('{{ toUpper "straße" }}') == "STRAßE"


def test_match_and_re_replace_all() -> None:
    assert expand('{{ match "a+" "aa" }} {{ match "a+" "b" }}') == "true false"
    assert expand('{{ match "^web-" $labels.instance }}') == "true"
    text = '{{ reReplaceAll "localhost:(.*)" "my.domain:$1" "localhost:3000" }}'
    assert expand(text) == "my.domain:3000"
    assert expand('{{ reReplaceAll "(a)b" "x$1" "ab" }}') == "xa"
    assert expand('{{ reReplaceAll ":[0-9]+$" "" $labels.instance }}') == "web-1"


def test_re_replace_all_skips_an_empty_match_after_a_match_as_go_does() -> None:
    assert expand('{{ reReplaceAll "x*" "-" "abxd" }}') == "-a-b-d-"


def test_bad_regular_expression_is_an_error() -> None:
    assert "error calling match: error parsing regexp" in expand('{{ match "(" "x" }}')
    assert "regexp: Compile(" in expand('{{ reReplaceAll "(" "" "x" }}')


def test_links() -> None:
    assert expand('{{ graphLink "up" }}') == "/graph?g0.expr=up&g0.tab=0"
    assert expand('{{ tableLink "up" }}') == "/graph?g0.expr=up&g0.tab=1"
    assert expand('{{ graphLink "rate(x[5m]) > 1" }}') == (
        "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0"
    )
    assert expand('{{ urlQueryEscape "a b/c?d" }}') == "a+b%2Fc%3Fd"


def test_external_url_functions() -> None:
    assert expand("{{ externalURL }}|{{ pathPrefix }}") == f"{EXTERNAL_URL}|/path/prefix"
    assert expand("[{{ pathPrefix }}]", external_url="") == "[]"


@pytest.mark.parametrize(
    ("address", "port_stripped", "domain_stripped"),
    [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        ("[2001:0DB8::1]:12345", "2001:0DB8::1", "[2001:0DB8::1]:12345"),
        ("[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345"),
    ],
)
def test_strip_port_and_domain(address: str, port_stripped: str, domain_stripped: str) -> None:
    assert expand(f'{{{{ "{address}" | stripPort }}}}') == port_stripped
    assert expand(f'{{{{ "{address}" | stripDomain }}}}') == domain_stripped


def test_safe_html_and_args() -> None:
    assert expand('{{ "<b>" | safeHtml }}') == "<b>"
    assert expand('{{ (args 1 "2").arg1 }}|{{ args 1 "x" }}') == "2|map[arg0:1 arg1:x]"
    # args builds a map[string]interface{}: a missing key is no value, unlike a label.
    assert expand("{{ (args 1).arg5 }}") == "<no value>"


def test_sprig_and_logql_functions_are_not_available() -> None:
    assert 'function "upper" not defined' in expand('{{ upper "x" }}')
    assert 'function "__line__" not defined' in expand("{{ __line__ }}")


# ---------------------------------------------------------------- queries


def two_instances() -> FakeQuery:
    return FakeQuery(
        [
            ({"__name__": "metric", "instance": "b", "__value__": "x"}, 21.0),
            ({"__name__": "metric", "instance": "a"}, 11.0),
        ]
    )


def test_query_runs_at_the_evaluation_time() -> None:
    query = two_instances()
    assert expand('{{ query "metric" | first | value }}', query=query) == "21"
    assert query.calls == [("metric", 1_700_000_000_000)]


def test_range_over_query_sorted_by_label() -> None:
    text = '{{ range query "metric" | sortByLabel "instance" }}'
    text += "{{ .Labels.instance }}:{{ .Value }}: {{ end }}"
    assert expand(text, query=two_instances()) == "a:11: b:21: "


def test_sort_by_label_is_stable() -> None:
    query = FakeQuery([({"k": "2", "n": "1"}, 1.0), ({"k": "1"}, 2.0), ({"k": "2", "n": "3"}, 3)])
    text = '{{ range query "x" | sortByLabel "k" }}{{ .Value }}{{ end }}'
    assert expand(text, query=query) == "213"


def test_first_label_value_strvalue() -> None:
    query = two_instances()
    assert expand('{{ query "metric" | first | label "instance" }}', query=query) == "b"
    assert expand('[{{ query "metric" | first | label "foo" }}]', query=query) == "[]"
    assert expand('{{ query "metric" | first | strvalue }}', query=query) == "x"
    assert expand('{{ $x := query "metric" | first }}[{{ $x.Labels.foo }}]', query=query) == "[]"


def test_query_with_documented_pattern() -> None:
    query = FakeQuery([({"instance": "a"}, 1234567.0)])
    text = '{{ with query "some_metric" }}{{ . | first | value | humanize }}{{ end }}'
    assert expand(text, query=query) == "1.235M"
    text = '{{ with printf "x{instance=%q}" $labels.instance | query }}{{ len . }}{{ end }}'
    assert expand(text, query=query) == "1"
    assert query.calls[-1][0] == 'x{instance="web-1:9090"}'


def test_empty_query_result_is_falsy_and_first_fails() -> None:
    empty = FakeQuery([])
    assert expand('{{ with query "x" }}some{{ else }}none{{ end }}', query=empty) == "none"
    assert expand('{{ query "missing" | first }}', query=empty) == _error(
        'executing "__alert_HighErrorRate" at <first>: error calling first: '
        "first() called on vector with no elements"
    )


def test_sample_printing_and_bad_fields() -> None:
    query = FakeQuery([({"__name__": "m", "instance": "a"}, 11.0)])
    assert expand('{{ query "m" | first }}', query=query) == "&{map[__name__:m instance:a] 11}"
    assert "can't evaluate field banana in type *template.sample" in expand(
        '{{ (query "m" | first).banana }}', query=query
    )


def test_query_errors_are_rendered() -> None:
    def failing(expr: str, time_ms: int) -> Vector:
        raise QueryError(f"parse error in {expr}")

    assert expand('{{ query "up{" }}', query=failing) == _error(
        'executing "__alert_HighErrorRate" at <query>: error calling query: parse error in up{'
    )
    assert "no query function" in expand('{{ query "up" }}', query=None)


def test_unexpected_exceptions_do_not_escape() -> None:
    def broken(expr: str, time_ms: int) -> Vector:
        raise RuntimeError("boom")

    result = expand('{{ query "up" }}', query=broken)
    assert result == f"<error expanding template: panic expanding template {NAME}: boom>"


# ---------------------------------------------------------------- errors and parsing


def test_missing_field_on_the_data_is_an_error() -> None:
    assert expand("{{ .Foo }}") == _error(
        "can't evaluate field Foo in type struct { Labels map[string]string; "
        "ExternalLabels map[string]string; ExternalURL string; Value interface {} }"
    )


def test_wrong_argument_type_is_an_error() -> None:
    assert expand("{{ toUpper 1 }}") == _error(
        'executing "__alert_HighErrorRate" at <toUpper>: wrong type for value; expected '
        "string; got int"
    )


def test_parse_errors_are_rendered_by_expand() -> None:
    assert expand("{{") == (
        f"<error expanding template: error parsing template {NAME}: "
        f"template: {NAME}:1: unclosed action>"
    )
    assert expand("{{ nosuchfunc }}") == (
        f"<error expanding template: error parsing template {NAME}: "
        f'template: {NAME}:1: function "nosuchfunc" not defined>'
    )


def test_check_template_accepts_valid_templates() -> None:
    check_template("{{ $labels.instance }} {{ $value | humanize }} {{ .ExternalURL }}", NAME)
    check_template('{{ range query "up" }}{{ .Labels.job }}{{ end }}', NAME)
    check_template("no template at all", NAME)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{", f"template: {NAME}:1: unclosed action"),
        ("{{ foo }}", f'template: {NAME}:1: function "foo" not defined'),
        ("line one\n{{ $undefined }}", f'template: {NAME}:2: undefined variable "$undefined"'),
        ("{{ if true }}x", f"template: {NAME}:1: unexpected EOF"),
        ("{{ end }}", f"template: {NAME}:1: unexpected {{{{end}}}}"),
    ],
)
def test_check_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(text, NAME)
    assert str(caught.value) == message


def test_template_error_is_a_bad_request() -> None:
    assert issubclass(TemplateError, ObservatoryError)
    assert TemplateError.http_status == 400
    assert TemplateError.reason == "template"


def test_prefix_declares_the_documented_variables() -> None:
    for variable in ("$labels", "$externalLabels", "$externalURL", "$value"):
        assert f"{{{{{variable} :=" in ALERT_TEMPLATE_PREFIX


def test_expansion_is_repeatable() -> None:
    text = "{{ $labels.instance }} {{ $value | humanize }}"
    first_run = expand(text, value=1500.0)
    assert first_run == "web-1:9090 1.5k"
    assert expand(text, value=2500.0, labels={"instance": "x"}) == "x 2.5k"
    assert expand(text, value=1500.0) == first_run
