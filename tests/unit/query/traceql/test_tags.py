"""Tag names and typed tag values over the fixture traces."""

from __future__ import annotations

import pytest

from observatory.query.traceql.parser import parse_condition, parse_field
from observatory.query.traceql.tags import TagCatalog, TagWindow
from observatory.store.embedded import EmbeddedStore
from tests.unit.query.traceql.conftest import BASE_NS, TENANT


def _window(q: str = "", limit: int = 100) -> TagWindow:
    condition = parse_condition(q) if q else None
    return TagWindow(TENANT, BASE_NS - 3600 * 10**9, BASE_NS + 60 * 10**9, limit, condition)


def _values(store: EmbeddedStore, field: str, q: str = "") -> list[tuple[str, str]]:
    found = TagCatalog(store).values(_window(q), parse_field(field))
    return [(item["type"], item["value"]) for item in found]


def test_tag_names_by_scope(traces: EmbeddedStore) -> None:
    catalog = TagCatalog(traces)
    span = catalog.tag_names(_window(), "span")
    assert {"gen_ai.request.model", "http.status_code", "a b", "cache.hit"} <= set(span)
    assert span == sorted(span)
    assert "service.name" not in span
    resource = catalog.tag_names(_window(), "resource")
    assert resource == ["deployment.environment", "env", "service.name"]
    filtered = catalog.tag_names(_window('{ resource.service.name = "rag" }'), "span")
    assert filtered == ["a b", "db.system", "retries"]
    assert len(catalog.tag_names(_window(limit=2), "span")) == 2


@pytest.mark.parametrize(
    ("field", "q", "expected"),
    [
        (".http.status_code", "", [("int", "200"), ("int", "500"), ("string", "500")]),
        ("span.sampled.ratio", "", [("float", "0.5"), ("float", "1.5")]),
        ("span.cache.hit", "", [("bool", "false"), ("bool", "true")]),
        ("resource.env", "", [("string", "resource-level")]),
        (".env", "", [("string", "resource-level"), ("string", "span-level")]),
        ("span.env", "", [("string", "span-level")]),
        ("resource.service.name", "{ status = error }",
         [("string", "embed"), ("string", "gateway"), ("string", "rag")]),
        ("status", "", [("keyword", "error"), ("keyword", "ok"), ("keyword", "unset")]),
        ("kind", '{ resource.service.name = "gateway" }', [("keyword", "server")]),
        ("span:kind", "{ duration > 2s }", [("keyword", "client"), ("keyword", "server")]),
        ("name", '{ rootServiceName = "gateway" && status = error }',
         [("string", "POST /v1/embed"), ("string", "embed"), ("string", "retrieve")]),
        ("rootServiceName", "", [("string", "gateway")]),
        ("trace:rootName", '{ name = "x" }', []),
        ("statusMessage", "", [("string", "index offline"), ("string", "timeout")]),
        ("event:name", "", [("string", "gen_ai.content.prompt")]),
        ("instrumentation:version", "", [("string", "1.0")]),
        ("duration", "", []),
    ],
)  # fmt: skip
def test_typed_values(
    traces: EmbeddedStore, field: str, q: str, expected: list[tuple[str, str]]
) -> None:
    assert _values(traces, field, q) == expected
