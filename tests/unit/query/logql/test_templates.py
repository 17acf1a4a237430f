"""The Go template engine of line_format / label_format, with Loki's template functions.

Expected outputs are those of Loki's "template functions" documentation and of Go's
text/template and fmt for the same input.
"""

from __future__ import annotations

import pytest

from observatory.query.logql.template_parse import TemplateSyntaxError
from observatory.query.logql.templates import Template, TemplateExecError

TS = 1_623_316_469_120_000_000  # 2021-06-10T09:14:29.12Z
LABELS = {
    "path": "/api/v1 x",
    "status": "200",
    "duration": "3000",
    "ip": "1.1.1.1",
    "err": "ErrTimeout foo",
    "cluster": "prod-cluster",
    "query": "a\nb",
    "empty": "",
}


def render(text: str, line: str = "Hello LINE", labels: dict[str, str] | None = None) -> str:
    return Template(text).render(LABELS if labels is None else labels, line, TS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{.status}} {{ .path }}", "200 /api/v1 x"),
        ("{{ .missing }}|", "|"),  # a missing label renders as ""
        ("plain text", "plain text"),
        ('{{ .path | replace " " "_" | trunc 5 | upper }}', "/API/"),
        ("{{ __line__ | lower }}", "hello line"),
        ("{{ __line__ }}", "Hello LINE"),
        ("{{ __timestamp__ }}", "2021-06-10 09:14:29.12 +0000 UTC"),
        ('{{ __timestamp__ | date "2006-01-02T15:04:05.00Z07:00" }}', "2021-06-10T09:14:29.12Z"),
        ("{{ __timestamp__ | unixEpoch }}", "1623316469"),
        ("{{ __timestamp__ | unixEpochMillis }}", "1623316469120"),
        ("{{ __timestamp__ | unixEpochNanos }}", "1623316469120000000"),
        (
            "{{ (__timestamp__).Unix }} {{ __timestamp__.Format `Jan _2 3:04PM` }}",
            "1623316469 Jun 10 9:14AM",
        ),
    ],
)
def test_fields_pipes_and_entry_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}', " yes "),
        ('{{ if or (contains "he" "hello") (contains "x" "hello") }} yes {{end}}', " yes "),
        (
            '{{ if contains "ErrTimeout" .err }} timeout {{else if contains "he" "hello"}} yes'
            " {{else}} no {{end}}",
            " timeout ",
        ),
        ('{{ if eq "x" .err }}a{{else if eq .status "200"}}b{{else}}c{{end}}', "b"),
        ("{{ if .empty }}set{{ else }}unset{{ end }}", "unset"),
        (
            "{{ with .status }}[{{ . }}]{{ end }}{{ with .empty }}x{{ else }}none{{ end }}",
            "[200]none",
        ),
        ("{{- .status -}}  \n {{ .ip }}", "2001.1.1.1"),
        ("a  {{- /* a comment */ -}}  b", "ab"),
        ('{{ $s := .status }}{{ $s = print $s "!" }}{{ $s }}', "200!"),
        (
            '{{ range $i, $e := fromJson "[1, 2.5, \\"x\\"]" }}{{ $i }}={{ $e }};{{ end }}',
            "0=1;1=2.5;2=x;",
        ),
        ('{{ range fromJson "{\\"b\\": 2, \\"a\\": 1}" }}{{ . }}{{ end }}', "12"),  # sorted keys
        ('{{ range fromJson "[]" }}x{{ else }}empty{{ end }}', "empty"),
        ("{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}", "012"),
        ("{{ range 4 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "023"),
        ('{{ (fromJson "{\\"q\\": {\\"n\\": 7}}").q.n }}', "7"),
        ('{{ fromJson "{\\"foo\\": 55}" }}', "map[foo:55]"),
        ('{{ $.status }} {{ index (fromJson "{\\"a\\": [5, 6]}") "a" 1 }}', "200 6"),
        ('{{ not true }} {{ or "" "x" }} {{ and 1 0 }} {{ len "héllo" }}', "false x 0 6"),
        (
            '{{ eq .status "200" }} {{ ne .status "200" }} {{ lt 1 2 }} {{ ge 2.5 2.5 }}',
            "true false true true",
        ),
        ('{{ eq .status "1" "200" }}', "true"),  # eq with several candidates
        ('{{ print 1 2 "a" 3 }} {{ println "x" }}', "1 2a3 x\n"),
    ],
)
def test_control_structures_and_builtins(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ alignLeft 5 "hello world"}}|{{ alignLeft 5 "hi"}}', "hello|hi   "),
        ('{{ alignRight 5 "hello world"}}|{{ alignRight 5 "hi"}}', "world|   hi"),
        ('{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }}', "aGVsbG8= hello"),
        ('{{ default "-" "" }} {{ default "-" "foo" }} {{ .empty | default "-" }}', "- foo -"),
        (
            '{{ lower "HELLO" }} {{ upper "hello" }} {{ title "hello world" }}',
            "hello HELLO Hello World",
        ),
        ("{{ indent 4 .query }}|{{ nindent 2 .query }}", "    a\n    b|\n  a\n  b"),
        ('{{ repeat 3 "hello" }}', "hellohellohello"),
        ('{{ printf "The IP address was %s" .ip }}', "The IP address was 1.1.1.1"),
        ('{{ printf "%-10.10s|%-5.5s|" "/a/509965767" "GET" }}', "/a/5099657|GET  |"),
        (
            '{{ .cluster | replace "-cluster" "" }} {{ replace "hello" "world" "hello world" }}',
            "prod world world",
        ),
        (
            '{{ substr 0 5 "hello world"}} {{ substr 6 11 "hello world"}} {{ .path | substr 2 5 }}',
            "hello world pi/",
        ),
        ('{{ trim "   hello    " }}|{{ trimAll "$" "$5.00" }}', "hello|5.00"),
        ('{{ trimPrefix "-" "-hello" }} {{ trimSuffix "-" "hello-" }}', "hello hello"),
        ('{{ trunc 5 "hello world"}} {{ trunc -5 "hello world"}}', "hello world"),
        ('{{ urlencode "a b&c/d" }} {{ urldecode "a+b%26c" }}', "a+b%26c%2Fd a b&c"),
        (
            '{{ contains "he" "hello" }} {{ hasPrefix "he" "hello" }} {{ hasSuffix "x" "hello" }}',
            "true true false",
        ),
        (
            '{{ ToUpper "a" }}{{ ToLower "B" }}{{ Replace "aaa" "a" "b" 2 }}{{ TrimSpace " c " }}',
            "Abbbac",
        ),
        (
            '{{ Trim "xxhixx" "x" }} {{ TrimLeft "xxhi" "x" }} {{ TrimPrefix "pre-x" "pre-" }}',
            "hi hi x",
        ),
    ],
)
def test_string_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ add 3 2 5 }}", "10"),
        ("{{ addf 3.5 2 5 }}", "10.5"),
        ("{{ addf 0.1 0.2 }}", "0.3"),  # decimal arithmetic, as sprig does
        ("{{ ceil 123.001 }}", "124"),
        ("{{ div 10 2 }} {{ div .duration 1000 }} {{ div -7 2 }}", "5 3 -3"),
        ("{{ divf 10 2 4 }}", "1.25"),
        ('{{ "3.5" | float64 }} {{ "3" | int }} {{ "3.0" | int }} {{ "x" | int }}', "3.5 3 3 0"),
        ("{{ floor 123.9999 }}", "123"),
        ("{{ max 1 2 3 }} {{ maxf 1 2.5 3 }} {{ min 1 2 3 }} {{ minf 1 2.5 3 }}", "3 3 1 1"),
        ("{{ mod 10 3 }} {{ mul 5 2 3 }} {{ mulf 5.5 2 2.5 }}", "1 30 27.5"),
        ("{{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }}", "123.556 123.88572"),
        ("{{ sub 5 2 }} {{ subf 5.5 2 1.5 }}", "3 2"),
        ("{{ mulf 1000 1000 }} {{ divf 1 100000 }}", "1e+06 1e-05"),  # Go's %v for floats
        ('{{ add "010" 1 }}', "9"),  # cast reads a leading 0 as octal
    ],
)
def test_math_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ count "a|b" "abab" }} {{ count "o" "foo" }}', "4 2"),
        ('{{ regexReplaceAll "(a*)bc" "aabc xbc" "${1}a" }}', "aaa xa"),
        ('{{ regexReplaceAll "(?P<w>\\\\w+)@" "me@x" "$w at " }}', "me at x"),
        ('{{ regexReplaceAllLiteral "(ts=)" "ts=1" "$1=" }}', "$1=1"),
        (
            '{{ bytes "1KiB" }} {{ bytes "20 MB" }} {{ duration "1m30s" }}'
            ' {{ duration_seconds "250ms" }}',
            "1024 2e+07 90 0.25",
        ),
    ],
)
def test_regex_and_unit_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ toDate "2006-01-02" "2021-11-02" }}', "2021-11-02 00:00:00 +0000 UTC"),
        ('{{ unixEpoch (toDate "2006-01-02" "2021-11-02") }}', "1635811200"),
        ('{{ toDate "2006-01-02" "not a date" | unixEpoch }}', "-62135596800"),  # the zero time
        (
            '{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2021-11-02 10:11" }}',
            "2021-11-02 10:11:00 +0100 CET",
        ),
        ('{{ date "2006-01-02" (unixToTime "1679577215") }}', "2023-03-23"),
        (
            '{{ date "Mon Jan 2 15:04:05 MST 2006" (unixToTime "1679577215902") }}',
            "Thu Mar 23 13:13:35 UTC 2023",
        ),
        ('{{ date "02/01/06 03:04:05.000 PM -0700" 0 }}', "01/01/70 12:00:00.000 AM +0000"),
        (
            '{{ (toDate "2006-01-02T15:04:05Z07:00" "2021-11-02T10:11:12.5+02:00").UnixMilli }}',
            "1635840672500",
        ),
        ('{{ date "2006" now | len }}', "4"),
    ],
)
def test_date_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ printf "%s-%d" .status 3 }}', "200-3"),
        ('{{ printf "%v %v %v" 1.5 true "x" }}', "1.5 true x"),
        (
            '{{ printf "%f %.2f %5.1f|%-6.1f|" 2.0 3.14159 2.25 1.0 }}',
            "2.000000 3.14   2.2|1.0   |",
        ),
        (
            '{{ printf "%q %x %X %05d %+d %o %c" "a\\"b" 255 "hi" 42 5 8 65 }}',
            '"a\\"b" ff 6869 00042 +5 10 A',
        ),
        ('{{ printf "%e %g %g" 123456.789 1e21 0.0001 }}', "1.234568e+05 1e+21 0.0001"),
        ('{{ printf "%d" "x" }}', "%!d(string=x)"),
        ('{{ printf "%s %s" "a" }}', "a %!s(MISSING)"),
        ('{{ printf "%s" "a" "b" }}', "a%!(EXTRA string=b)"),
        ('{{ printf "100%%" }}', "100%"),
    ],
)
def test_printf(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ nosuch .a }}", 'function "nosuch" not defined'),
        ("{{ .a ", "unclosed action"),
        ("{{ if .a }}x", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $undefined }}", 'undefined variable "$undefined"'),
        ('{{ .a | "x" }}', "non executable command in pipeline stage 2"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ('{{ template "x" }}', "unsupported action"),
        ('{{ "abc }}', "unterminated quoted string"),
        ("{{ 3x }}", "bad number syntax"),
        ("{{/* unclosed }}", "unclosed comment"),
        ("{{ .a # }}", "unrecognized character"),
        ("a\n{{ nosuch }}", "line:2:"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=r"^template: line:") as caught:
        Template(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ div 1 0 }}", "integer divide by zero"),
        ("{{ divf 1 0 }}", "division by 0"),
        ("{{ eq .status 200 }}", "incompatible types for comparison"),
        ('{{ repeat .status "x" }}', "wrong type for value; expected int; got string"),
        ("{{ .status.x }}", "can't evaluate field x in type string"),
        ('{{ urldecode "%zz" }}', 'invalid URL escape "%zz"'),
        ('{{ duration "abc" }}', 'time: invalid duration "abc"'),
        ('{{ bytes "12 parsecs" }}', "unhandled size name: parsecs"),
        ('{{ unixToTime "123" }}', "unable to parse time"),
        ("{{ trunc 1 }}", "wrong number of args for trunc: want 2 got 1"),
        ("{{ .status 1 }}", "status is not a method but has arguments"),
        ('{{ "x" 1 }}', "can't give argument to non-function"),
        ('{{ range "abc" }}{{ end }}', "range can't iterate over abc"),
        ("{{ range 1000000 }}{{ end }}", "too many iterations"),
    ],
)
def test_execution_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateExecError) as caught:
        render(text)
    assert message in str(caught.value)


def test_label_templates_name_themselves_in_errors() -> None:
    with pytest.raises(TemplateSyntaxError, match=r"^template: label:1:"):
        Template("{{ nosuch }}", "label")


def test_simple_key_and_constant_templates() -> None:
    assert Template("{{.status}}").render({"status": "ok"}, "", 0) == "ok"
    assert Template("{{.status}}").render({}, "line", 0) == ""
    assert Template("constant").render({}, "line", 0) == "constant"
