"""TraceQL searches executed by ClickHouse over the fixture traces (see conftest)."""

from __future__ import annotations

import pytest

from observatory.errors import QueryError
from observatory.store.embedded import EmbeddedStore
from tests.unit.query.traceql.conftest import names_by_trace, search, span_id

ROOT_A, CHAT, RETRIEVE, GENERATE, DECODE = (
    "POST /v1/chat",
    "chat llama-3-8b",
    "retrieve",
    "generate",
    "decode",
)
HEALTH, ROOT_C, EMBED, TOKENIZE, CONSUME = (
    "GET /health",
    "POST /v1/embed",
    "embed",
    "tokenize",
    "consume",
)
ALL = {
    "A": {ROOT_A, CHAT, RETRIEVE, GENERATE, DECODE},
    "B": {HEALTH},
    "C": {ROOT_C, EMBED, TOKENIZE},
    "D": {CONSUME},
}

INTRINSICS = [
    ('{ name = "retrieve" }', {"A": {RETRIEVE}}),
    ('{ name != "decode" && resource.service.name = "vllm" }', {"A": {GENERATE}}),
    ('{ name =~ "POST.*" }', {"A": {ROOT_A}, "C": {ROOT_C}}),
    ('{ name =~ "v1" }', {}),  # anchored: a part of the name does not match
    ('{ name !~ "POST.*|GET.*" && kind = server }', {"A": {GENERATE}}),
    ('{ name > "t" }', {"C": {TOKENIZE}}),
    ("{ status = error }", {"A": {RETRIEVE}, "C": {ROOT_C, EMBED}}),
    ("{ status = ok }", {"B": {HEALTH}}),
    ('{ status = unset && resource.service.name = "embed" }', {"C": {TOKENIZE}}),
    ("{ status != unset }", {"A": {RETRIEVE}, "B": {HEALTH}, "C": {ROOT_C, EMBED}}),
    ('{ statusMessage = "timeout" }', {"C": {EMBED}}),
    ('{ span:statusMessage =~ "index.*" }', {"A": {RETRIEVE}}),
    ("{ kind = client }", {"A": {CHAT}, "C": {EMBED}}),
    ("{ span:kind = consumer }", {"D": {CONSUME}}),
    ("{ kind != internal && kind != server && kind != client }", {"D": {CONSUME}}),
    ("{ duration > 2s }", {"A": {ROOT_A, CHAT}}),
    ("{ duration >= 2s }", {"A": {ROOT_A, CHAT, GENERATE}}),
    ("{ duration < 10ms }", {"B": {HEALTH}}),
    ("{ duration <= 10ms }", {"B": {HEALTH}, "C": {TOKENIZE}}),
    ("{ span:duration = 800ms }", {"C": {EMBED}}),
    ("{ duration > 1s && duration < 2.5s && kind = internal }", {"A": {DECODE}}),
    ("{ duration = 1500000us }", {"A": {DECODE}}),
    ('{ rootName = "POST /v1/embed" }', {"C": ALL["C"]}),
    (
        '{ rootServiceName = "gateway" && kind = internal }',
        {"A": {RETRIEVE, DECODE}, "C": {TOKENIZE}},
    ),
    ('{ traceDuration > 2s && name = "decode" }', {"A": {DECODE}}),
    ('{ trace:rootService = "gateway" && trace:duration < 100ms }', {"B": {HEALTH}}),
    ('{ trace:rootName =~ "GET.*" }', {"B": {HEALTH}}),
    (f'{{ span:id = "{span_id(RETRIEVE).hex()}" }}', {"A": {RETRIEVE}}),
    (f'{{ span:parentID = "{span_id(GENERATE).hex().upper()}" }}', {"A": {DECODE}}),
    (f'{{ trace:id = "{"d" * 32}" }}', {"D": {CONSUME}}),
    ('{ event:name = "gen_ai.content.prompt" }', {"A": {GENERATE}}),
    ('{ event:name != nil && name != "x" }', {"A": {GENERATE}}),
    ('{ instrumentation:name = "tests.traceql" && name = "consume" }', {"D": {CONSUME}}),
    ('{ statusMessage = nil && name = "decode" }', {"A": {DECODE}}),
]

ATTRIBUTES = [
    ("{ span.http.status_code = 500 }", {"C": {ROOT_C}}),  # the string "500" is another type
    ('{ span.http.status_code = "500" }', {"D": {CONSUME}}),
    (
        "{ span.http.status_code >= 200 && span.http.status_code < 300 }",
        {"A": {ROOT_A}, "B": {HEALTH}},
    ),
    ("{ span.http.status_code != 200 }", {"C": {ROOT_C}}),
    (
        "{ span.http.status_code <= 200 && span.http.status_code > -1 }",
        {"A": {ROOT_A}, "B": {HEALTH}},
    ),
    ("{ span.gen_ai.usage.input_tokens > 100 }", {"A": {GENERATE}}),
    ("{ span.gen_ai.usage.input_tokens = 42.0 }", {"A": {CHAT}}),
    ("{ 300 = span.gen_ai.usage.input_tokens }", {"A": {GENERATE}}),
    ("{ 100 > span.gen_ai.usage.input_tokens }", {"A": {CHAT}}),
    ("{ span.gen_ai.usage.input_tokens > 1.5e2 }", {"A": {GENERATE}}),
    ("{ span.sampled.ratio > 1 }", {"C": {EMBED}}),
    ("{ span.sampled.ratio = 0.5 }", {"A": {CHAT}}),
    ("{ span.sampled.ratio < 1.0 }", {"A": {CHAT}}),
    ("{ span.retries = 3 && span.retries != 4 }", {"A": {RETRIEVE}}),
    ("{ span.cache.hit = false }", {"A": {CHAT}}),
    ("{ span.cache.hit }", {"C": {TOKENIZE}}),
    ("{ span.cache.hit != true }", {"A": {CHAT}}),
    ('{ .gen_ai.request.model = "llama-3-8b" }', {"A": {CHAT, GENERATE}}),
    ('{ span.gen_ai.request.model =~ "llama.*|mistral.*" }', {"A": {CHAT, GENERATE}, "C": {EMBED}}),
    ('{ span.gen_ai.request.model !~ "llama.*" }', {"C": {EMBED}}),
    ('{ span.gen_ai.request.model != "llama-3-8b" }', {"C": {EMBED}}),
    ('{ span.gen_ai.request.model > "m" }', {"C": {EMBED}}),
    ('{ span.gen_ai.request.model <= "llama-3-8b" }', {"A": {CHAT, GENERATE}}),
    ('{ span.gen_ai.request.model >= "mistral-7b" }', {"C": {EMBED}}),
    ('{ span.gen_ai.request.model < "m" }', {"A": {CHAT, GENERATE}}),
    (
        '{ span.gen_ai.usage.output_tokens = nil && resource.service.name = "vllm" }',
        {"A": {GENERATE}},
    ),
    ("{ span.gen_ai.usage.output_tokens != nil }", {"A": {DECODE}}),
    ('{ span.missing = nil && name = "consume" }', {"D": {CONSUME}}),
    ("{ .deployment.environment != nil }", {"A": {CHAT}}),
    ('{ resource.deployment.environment = "prod" }', {"A": {CHAT}}),
    ('{ resource.service.name = "embed" }', {"C": {EMBED, TOKENIZE}}),
    (
        '{ resource.service.name != "gateway" && resource.service.name =~ "e.*" }',
        {"C": {EMBED, TOKENIZE}},
    ),
    ('{ .service.name = "worker" }', {"D": {CONSUME}}),
    ('{ .env = "span-level" }', {"A": {CHAT}}),
    ('{ .env = "resource-level" }', {"C": {EMBED, TOKENIZE}}),  # the span's own env wins in A
    ('{ resource.env = "resource-level" }', {"A": {CHAT}, "C": {EMBED, TOKENIZE}}),
    ('{ span."a b" = "spaced" }', {"A": {RETRIEVE}}),
    ('{ span.gen_ai.response.finish_reasons = "length" }', {"A": {CHAT}}),
    ('{ span.gen_ai.response.finish_reasons != "stop" }', {}),
    ('{ span.gen_ai.response.finish_reasons != "eos" }', {"A": {CHAT}}),
    ('{ span.gen_ai.response.finish_reasons =~ "st.*" }', {"A": {CHAT}}),
    ('{ span.gen_ai.response.finish_reasons !~ "le.*" }', {}),
    ('{ span.retries = 3 && span.db.system = "qdrant" }', {"A": {RETRIEVE}}),
    (
        '{ span.http.status_code = 500 || span.messaging.system = "kafka" }',
        {"C": {ROOT_C}, "D": {CONSUME}},
    ),
    ('{ !(span.http.method = "POST") && resource.service.name = "gateway" }', {"B": {HEALTH}}),
    ('{ (kind = server || kind = client) && resource.service.name = "vllm" }', {"A": {GENERATE}}),
    ("{ true }", ALL),
    ("{ }", ALL),
    ("{ false }", {}),
]

SPANSETS = [
    ('{ name = "retrieve" } && { name = "decode" }', {"A": {RETRIEVE, DECODE}}),
    ('{ name = "retrieve" } && { name = "tokenize" }', {}),
    ('{ name = "retrieve" } || { name = "tokenize" }', {"A": {RETRIEVE}, "C": {TOKENIZE}}),
    (
        '{ resource.service.name = "gateway" } >> { status = error }',
        {"A": {RETRIEVE}, "C": {EMBED}},
    ),
    ('{ resource.service.name = "gateway" } > { }', {"A": {CHAT}, "C": {EMBED, TOKENIZE}}),
    ('{ name = "chat llama-3-8b" } > { }', {"A": {RETRIEVE, GENERATE}}),
    ('{ name = "chat llama-3-8b" } >> { }', {"A": {RETRIEVE, GENERATE, DECODE}}),
    ('{ name = "decode" } < { }', {"A": {GENERATE}}),
    ('{ name = "decode" } << { }', {"A": {GENERATE, CHAT, ROOT_A}}),
    ('{ name = "retrieve" } ~ { }', {"A": {GENERATE}}),
    ('{ name = "embed" } ~ { status = error }', {}),  # a span is not its own sibling
    ("{ } ~ { }", {"A": {RETRIEVE, GENERATE}, "C": {EMBED, TOKENIZE}}),
    ('{ name = "chat llama-3-8b" } !> { resource.service.name = "vllm" }', {"A": {DECODE}}),
    (
        "{ } !< { }",
        {"A": {RETRIEVE, DECODE}, "B": {HEALTH}, "C": {EMBED, TOKENIZE}, "D": {CONSUME}},
    ),
    ('{ name = "generate" } !>> { kind = internal }', {"A": {RETRIEVE}, "C": {TOKENIZE}}),
    ('{ status = error } !<< { resource.service.name = "gateway" }', {"B": {HEALTH}}),
    ('{ name = "retrieve" } !~ { resource.service.name = "vllm" }', {"A": {DECODE}}),
    ('{ name = "chat llama-3-8b" } &> { name = "generate" }', {"A": {CHAT, GENERATE}}),
    ('{ name = "POST /v1/chat" } &>> { status = error }', {"A": {ROOT_A, RETRIEVE}}),
    ('{ name = "decode" } &< { kind = server }', {"A": {GENERATE, DECODE}}),
    ('{ name = "decode" } &<< { kind = server }', {"A": {DECODE, GENERATE, ROOT_A}}),
    ('{ name = "retrieve" } &~ { name = "generate" }', {"A": {RETRIEVE, GENERATE}}),
    ("{ kind = server } > { kind = client } > { status = error }", {"A": {RETRIEVE}}),
    (
        '{ name = "tokenize" } || { name = "decode" } && { name = "retrieve" }',
        {"A": {DECODE, RETRIEVE}, "C": {TOKENIZE}},
    ),
    (
        '({ name = "tokenize" } || { name = "decode" }) && { name = "retrieve" }',
        {"A": {DECODE, RETRIEVE}},
    ),
    (
        '{ name = "decode" } && { name = "retrieve" } || { name = "GET /health" }',
        {"A": {DECODE, RETRIEVE}, "B": {HEALTH}},
    ),
]

PIPELINES = [
    ("{ } | count() > 4", {"A": ALL["A"]}),
    ("{ } | count() = 1", {"B": {HEALTH}, "D": {CONSUME}}),
    ('{ resource.service.name = "vllm" } | count() >= 2', {"A": {GENERATE, DECODE}}),
    ("{ } | avg(duration) > 1s", {"A": ALL["A"]}),
    ("{ } | max(duration) < 100ms", {"B": {HEALTH}, "D": {CONSUME}}),
    ("{ } | min(duration) < 20ms", {"B": {HEALTH}, "C": ALL["C"]}),
    ("{ } | sum(span.gen_ai.usage.input_tokens) > 300", {"A": ALL["A"]}),
    ("{ span.sampled.ratio != nil } | avg(span.sampled.ratio) > 1", {"C": {EMBED}}),
    ("{ } | min(duration) = max(duration)", {"B": {HEALTH}, "D": {CONSUME}}),
    ("{ } | 4 < count()", {"A": ALL["A"]}),
    ("{ status = error } | count() > 1", {"C": {ROOT_C, EMBED}}),
    ("{ } | count() > 2 | avg(duration) > 1s", {"A": ALL["A"]}),
    ("{ } | { status = error }", {"A": {RETRIEVE}, "C": {ROOT_C, EMBED}}),
    ("({ } | count() > 2) && { status = error }", {"A": ALL["A"], "C": ALL["C"]}),
    ("({ kind = server } | count() > 1) || { kind = consumer }",
     {"A": {ROOT_A, GENERATE}, "D": {CONSUME}}),
    ("{ kind = server } >> { } | count() > 1",
     {"A": {CHAT, RETRIEVE, GENERATE, DECODE}, "C": {EMBED, TOKENIZE}}),
    ("{ } | count() > 1 | select(span.http.method) | coalesce()", {"A": ALL["A"], "C": ALL["C"]}),
    ("{ status = error } with (most_recent = true)", {"A": {RETRIEVE}, "C": {ROOT_C, EMBED}}),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expected"), INTRINSICS)
def test_intrinsics(traces: EmbeddedStore, query: str, expected: dict[str, set[str]]) -> None:
    assert names_by_trace(search(traces, query)) == expected


@pytest.mark.parametrize(("query", "expected"), ATTRIBUTES)
def test_typed_attributes(traces: EmbeddedStore, query: str, expected: dict[str, set[str]]) -> None:
    assert names_by_trace(search(traces, query)) == expected


@pytest.mark.parametrize(("query", "expected"), SPANSETS)
def test_spanset_operators(
    traces: EmbeddedStore, query: str, expected: dict[str, set[str]]
) -> None:
    assert names_by_trace(search(traces, query)) == expected


@pytest.mark.parametrize(("query", "expected"), PIPELINES)
def test_pipelines(traces: EmbeddedStore, query: str, expected: dict[str, set[str]]) -> None:
    assert names_by_trace(search(traces, query)) == expected


def test_a_bad_regular_expression_is_the_users_error(traces: EmbeddedStore) -> None:
    with pytest.raises(QueryError, match="bad regular expression"):
        search(traces, '{ name =~ "(unclosed" }')
