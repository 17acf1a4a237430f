"""The Tempo search routes, in process over the fixture traces."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from observatory.api.tempo_search import TempoSearchApi
from observatory.store.embedded import EmbeddedStore
from observatory.tenancy import TenantResolver
from tests.unit.query.traceql.conftest import BASE_NS, TENANT, TRACES

WINDOW = {"start": BASE_NS // 10**9 - 3600, "end": BASE_NS // 10**9 + 60}
HEADERS = {"X-Scope-OrgID": TENANT}


class ApiClient:
    """Requests to the routes in process, without a server."""

    def __init__(self, store: EmbeddedStore, required: bool = False) -> None:
        api = TempoSearchApi(store, TenantResolver("default-tenant", required))
        self.app = Starlette(routes=api.routes())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return asyncio.run(self._get(path, **kwargs))

    async def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tempo") as client:
            return await client.get(path, **kwargs)


@pytest.fixture
def client(traces: EmbeddedStore) -> ApiClient:
    return ApiClient(traces)


def _get(client: ApiClient, path: str, **params: Any) -> Any:
    response = client.get(path, params={**WINDOW, **params}, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def _trace_ids(body: dict[str, Any]) -> list[str]:
    letters = {trace_id.hex(): letter for letter, trace_id in TRACES.items()}
    return [letters[trace["traceID"]] for trace in body["traces"]]


def test_traceql_search(client: ApiClient) -> None:
    body = _get(
        client, "/api/search", q='{ resource.service.name = "gateway" } >> { status = error }'
    )
    assert _trace_ids(body) == ["A", "C"]
    assert body["metrics"]["inspectedTraces"] >= 2
    assert _trace_ids(_get(client, "/api/search", q="{ }", limit=1)) == ["A"]
    one = _get(client, "/api/search", q="{ }", spss=1)["traces"][0]["spanSet"]
    assert len(one["spans"]) == 1 and one["matched"] == 5


def test_tag_search_with_durations(client: ApiClient) -> None:
    assert _trace_ids(
        _get(client, "/api/search", tags="service.name=gateway", minDuration="2s")
    ) == ["A"]
    assert _trace_ids(_get(client, "/api/search", maxDuration="100ms")) == ["B", "D"]
    no_window = client.get("/api/search", params={"tags": "name=consume"}, headers=HEADERS)
    assert _trace_ids(no_window.json()) == ["D"]  # the last hour by default


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "{ .a = }"}, "invalid TraceQL query: expected a value, found '}' at position 8"),
        ({"q": "{ status = 2 }"}, "status compares with = or != to one of"),
        ({"q": '{ name =~ "(" }'}, "bad regular expression"),
        ({"tags": "novalue"}, "invalid tags"),
        ({"limit": "many"}, "invalid limit 'many': expected a positive integer"),
        ({"spss": "-1"}, "invalid spss"),
        ({"minDuration": "5x"}, "invalid minDuration '5x'"),
        ({"minDuration": "2s", "maxDuration": "1s"}, "must not be less than minDuration"),
        ({"start": "10", "end": "5"}, "invalid start: must not be after end"),
        ({"end": "soon"}, "invalid end 'soon': expected Unix seconds"),
    ],
)
def test_bad_requests_answer_400_in_plain_text(
    client: ApiClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/search", params=params, headers=HEADERS)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert message in response.text


def test_tenants(traces: EmbeddedStore) -> None:
    strict = ApiClient(traces, required=True)
    missing = strict.get("/api/search", params={"q": "{ }"})
    assert missing.status_code == 401
    assert "X-Scope-OrgID" in missing.text
    bad = strict.get("/api/search", params={"q": "{ }"}, headers={"X-Scope-OrgID": "a/b"})
    assert bad.status_code == 400
    lenient = ApiClient(traces)
    assert lenient.get("/api/search", params={"q": "{ }"}).json()["traces"] == []


def test_tag_names(client: ApiClient) -> None:
    names = _get(client, "/api/search/tags")["tagNames"]
    assert {"service.name", "gen_ai.request.model", "deployment.environment"} <= set(names)
    assert "span:name" not in names
    assert "span:name" in _get(client, "/api/search/tags", scope="intrinsic")["tagNames"]
    scopes = _get(client, "/api/v2/search/tags")["scopes"]
    assert [scope["name"] for scope in scopes] == ["span", "resource", "intrinsic"]
    assert scopes[1]["tags"] == ["deployment.environment", "env", "service.name"]
    rag = _get(client, "/api/v2/search/tags", scope="span", q='{ resource.service.name = "rag" }')
    assert rag["scopes"] == [{"name": "span", "tags": ["a b", "db.system", "retries"]}]
    bad = client.get("/api/search/tags", params={"scope": "event"}, headers=HEADERS)
    assert bad.status_code == 400


def test_tag_values(client: ApiClient) -> None:
    services = _get(client, "/api/search/tag/service.name/values")["tagValues"]
    assert services == ["chat-svc", "embed", "gateway", "rag", "vllm", "worker"]
    codes = _get(client, "/api/search/tag/http.status_code/values")["tagValues"]
    assert codes == ["200", "500"]
    typed = _get(client, "/api/v2/search/tag/resource.service.name/values", q="{ status = error }")
    assert typed["tagValues"] == [
        {"type": "string", "value": "embed"},
        {"type": "string", "value": "gateway"},
        {"type": "string", "value": "rag"},
    ]
    ignored = _get(client, "/api/v2/search/tag/resource.service.name/values", q="{ status = }")
    assert len(ignored["tagValues"]) == 6  # like Tempo, an unusable filter is ignored
    status = _get(client, "/api/v2/search/tag/status/values")["tagValues"]
    assert [item["value"] for item in status] == ["error", "ok", "unset"]
    spaced = _get(client, '/api/v2/search/tag/span."a b"/values')["tagValues"]
    assert spaced == [{"type": "string", "value": "spaced"}]
    bad = client.get("/api/v2/search/tag/span:nope/values", headers=HEADERS)
    assert bad.status_code == 400 and "span:nope" in bad.text
    regex = client.get("/api/v2/search/tag/name/values", params={"q": '{ name =~ "(" }'})
    assert regex.status_code == 400 and "bad regular expression" in regex.text


def test_echo_and_buildinfo(client: ApiClient) -> None:
    echo = client.get("/api/echo")
    assert echo.text == "echo" and echo.headers["content-type"].startswith("text/plain")
    info = client.get("/api/status/buildinfo").json()
    assert set(info) == {"version", "revision", "branch", "buildDate", "buildUser", "goVersion"}
