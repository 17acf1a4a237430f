from __future__ import annotations

import os
import time

from observatory.signals.columns import ScopeContext
from observatory.signals.spans import NO_SPAN_ID, SpanColumns, SpanRow
from observatory.store.embedded import EmbeddedStore
from observatory.store.schema import MIGRATIONS, Retention, migrate
from tests.unit.conftest import RETENTION


def test_migrations_apply_once(store: EmbeddedStore) -> None:
    assert migrate(store, RETENTION) == []
    versions = store.query("SELECT version FROM schema_migrations").column(0).to_pylist()
    assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))


def test_every_sort_key_leads_with_tenant(store: EmbeddedStore) -> None:
    rows = store.query(
        "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    ).to_pylist()
    assert {r["name"] for r in rows} == {
        "spans",
        "trace_summaries",
        "series",
        "samples",
        "metric_metadata",
        "logs",
    }
    assert all(row["sorting_key"].startswith("tenant") for row in rows), rows


def test_retention_follows_settings(store: EmbeddedStore) -> None:
    migrate(store, Retention(3, 30, 91, 30, 2))
    ddl = store.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).to_pylist()
    by_name = {row["name"]: row["create_table_query"] for row in ddl}
    assert "toIntervalDay(3)" in by_name["spans"]
    assert "91" in by_name["logs"] and ", 2," in by_name["logs"]
    migrate(store, RETENTION)


def _span(columns: SpanColumns, trace: bytes, parent: bytes, name: str, start: int) -> None:
    scope = columns.add_scope(
        ScopeContext("svc-" + name, [("service.name", "svc-" + name)], "s", "1")
    )
    row = SpanRow(
        trace_id=trace,
        span_id=os.urandom(8),
        parent_span_id=parent,
        trace_state="",
        flags=0,
        name=name,
        kind=2,
        start_time=start,
        duration_ns=1000,
        status_code=0,
        status_message="",
        dropped_attributes_count=0,
        events=[],
        dropped_events_count=0,
        links=[],
        dropped_links_count=0,
    )
    columns.append(scope, [], row)


def test_trace_summary_is_right_when_spans_arrive_out_of_order(store: EmbeddedStore) -> None:
    trace, now = os.urandom(16), time.time_ns()
    late_child = SpanColumns("summary-tenant")
    _span(late_child, trace, os.urandom(8), "child", now + 5000)
    store.insert("spans", late_child.table())
    root = SpanColumns("summary-tenant")
    _span(root, trace, NO_SPAN_ID, "root", now)
    store.insert("spans", root.table())
    summary = store.query(
        "SELECT min(start_time) AS start, max(end_time) AS end, sum(span_count) AS spans, "
        "max(root_name) AS root, max(root_service_name) AS root_service, "
        "groupUniqArrayArray(services) AS services FROM trace_summaries "
        "WHERE tenant = 'summary-tenant' AND trace_id = unhex({t:String})",
        {"t": trace.hex()},
    ).to_pylist()[0]
    assert summary["spans"] == 2
    assert summary["root"] == "root"
    assert summary["root_service"] == "svc-root"
    assert sorted(summary["services"]) == ["svc-child", "svc-root"]


def test_string_parameters_arrive_exactly(store: EmbeddedStore) -> None:
    for value in ("a\\.b", "x\\ny", "tab\there", "new\nline", "back\\\\slash", "\\N"):
        row = store.query("SELECT {v:String} AS v", {"v": value}).to_pylist()[0]
        assert row["v"] == value
