"""LogReader against the real store: paging, push-down, and SQL counting that agrees with Python."""

from __future__ import annotations

import time

import numpy as np
import pytest

from observatory.query.logql import ast
from observatory.query.logql.evaluator import evaluate
from observatory.query.logql.parser import parse_expr, parse_log_query
from observatory.query.logql.reader import LogReader
from observatory.signals.logs import LogColumns, LogRow
from observatory.store.embedded import EmbeddedStore

TENANT = "logql-reader"
NOW = time.time_ns() // 10**9 * 10**9
SECOND = 10**9
ROWS = 2500
# Runs of equal timestamps longer than a page boundary might cut.
RUN = 300


def _row(ts: int, body: str, severity: int, trace_number: int = 0) -> LogRow:
    trace = trace_number.to_bytes(16, "big")
    span = trace_number.to_bytes(8, "big")
    return LogRow(ts, ts, severity, "", body, "", trace, span, 0, "", 0)


@pytest.fixture(scope="module")
def loaded(store: EmbeddedStore) -> EmbeddedStore:
    columns = LogColumns(TENANT)
    streams = [columns.add_stream({"service_name": "api", "pod": f"p{i}"}, "api") for i in range(2)]
    for i in range(ROWS):
        ts = NOW - 3600 * SECOND + (i // RUN) * 60 * SECOND + (i % 7)
        body = f"n={i} level={'error' if i % 10 == 0 else 'info'} took={i % 50}ms"
        row = _row(ts, body, 9, trace_number=i + 1 if i % 5 == 0 else 0)
        columns.append(streams[i % 2], [("user", f"u{i % 3}")], row)
    store.insert("logs", columns.table())
    return store


def _reader(store: EmbeddedStore) -> LogReader:
    return LogReader(store, TENANT)


def test_entries_page_through_runs_of_equal_timestamps(loaded: EmbeddedStore) -> None:
    query = parse_log_query('{service_name="api"} | logfmt | level="info"')
    for backward in (True, False):
        entries = _reader(loaded).entries(query, NOW - 7200 * SECOND, NOW, 5000, backward)
        numbers = [int(e.labels["n"]) for e in entries]
        assert len(numbers) == len(set(numbers)) == ROWS - ROWS // 10
        stamps = [e.timestamp_ns for e in entries]
        assert stamps == sorted(stamps, reverse=backward)


def test_limit_and_pushed_line_filter(loaded: EmbeddedStore) -> None:
    query = parse_log_query('{service_name="api", pod="p0"} |= "level=error"')
    entries = _reader(loaded).entries(query, NOW - 7200 * SECOND, NOW, 50, True)
    assert len(entries) == 50
    assert all("level=error" in e.line and e.labels["pod"] == "p0" for e in entries)
    assert all(e.labels["user"] in {"u0", "u1", "u2"} for e in entries)


@pytest.mark.parametrize("step_s", [60, 45, 600])
def test_counts_in_sql_equal_counts_in_python(loaded: EmbeddedStore, step_s: int) -> None:
    start, end, step = NOW - 3000 * SECOND, NOW, step_s * SECOND
    in_sql = parse_expr('sum by (pod) (count_over_time({service_name="api"}[5m]))')
    in_python = parse_expr(
        'sum by (pod) (count_over_time({service_name="api"} | label_format x="1" [5m]))'
    )
    assert isinstance(in_sql, ast.VectorAggregation)
    assert isinstance(in_python, ast.VectorAggregation)
    a = evaluate(in_sql, start, end, step, _reader(loaded))
    b = evaluate(in_python, start, end, step, _reader(loaded))
    assert (
        [s.labels for s in a.series]
        == [s.labels for s in b.series]
        == [
            {"pod": "p0"},
            {"pod": "p1"},
        ]
    )
    for x, y in zip(a.series, b.series, strict=True):
        np.testing.assert_array_equal(x.timestamps, y.timestamps)
        np.testing.assert_array_equal(x.values, y.values)
    total = evaluate(
        parse_expr('sum(count_over_time({service_name="api"}[2h]))'),  # type: ignore[arg-type]
        NOW,
        NOW,
        SECOND,
        _reader(loaded),
    )
    assert total.series[0].values.tolist() == [ROWS]


def test_bytes_and_unwrap(loaded: EmbeddedStore) -> None:
    reader = _reader(loaded)
    expr = parse_expr('sum(bytes_over_time({service_name="api"}[2h]))')
    result = evaluate(expr, NOW, NOW, SECOND, reader)  # type: ignore[arg-type]
    assert result.series[0].values[0] == reader.stats.bytes > 0
    top = parse_expr(
        'max_over_time({service_name="api"} | logfmt | keep pod, took | unwrap duration(took) [2h])'
    )
    values = evaluate(top, NOW, NOW, SECOND, _reader(loaded))  # type: ignore[arg-type]
    assert max(s.values.max() for s in values.series) == pytest.approx(0.049)


def test_trace_ids_filter_but_do_not_split_series(loaded: EmbeddedStore) -> None:
    for text in (
        'count_over_time({service_name="api"}[2h])',
        'count_over_time({service_name="api"} | label_format x="1" [2h])',
    ):
        result = evaluate(parse_expr(text), NOW, NOW, SECOND, _reader(loaded))  # type: ignore[arg-type]
        assert len(result.series) == 6  # two pods x three users
        assert all("trace_id" not in s.labels for s in result.series)
        assert sum(s.values[0] for s in result.series) == ROWS
    entries = _reader(loaded).entries(
        parse_log_query('{service_name="api"} |= "n=0 "'), NOW - 7200 * SECOND, NOW, 10, True
    )
    trace_id = entries[0].labels["trace_id"]
    by_trace = parse_expr(f'count_over_time({{service_name="api"}} | trace_id="{trace_id}" [2h])')
    result = evaluate(by_trace, NOW, NOW, SECOND, _reader(loaded))  # type: ignore[arg-type]
    assert [s.values[0] for s in result.series] == [1]
