"""Reads log entries and range samples for LogQL from the `logs` table.

Stream selection, the time range, line filters that see the stored line, and a leading
`trace_id` filter are answered by SQL. What is left of the pipeline (parsers, label filters,
formatting) runs in Python on the rows SQL returns. A range aggregation over lines with no
pipeline left is counted entirely in SQL, per stream and per time bucket.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from observatory.errors import QueryTimeoutError
from observatory.query.logql import ast, sql
from observatory.query.logql.evaluator import SampleSeries
from observatory.query.logql.stages import LogPipeline
from observatory.signals.attributes import KIND_SUFFIXES
from observatory.store.protocol import Store

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_ID_LABELS = ("trace_id", "span_id")
# Rows fetched per round trip when the pipeline runs in Python: bounds memory per query.
CHUNK_ROWS = 200_000
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_BYTES_OPS = frozenset({ast.RangeOp.BYTES_OVER_TIME, ast.RangeOp.BYTES_RATE})


def _as_text(prefix: str, suffix: str) -> str:
    column = prefix + suffix
    if suffix in ("", "_json"):
        return column
    return f"mapApply((k, v) -> (k, toString(v)), {column})"


# Structured metadata: the record's attributes and the resource attributes that are not
# stream labels, as one text map (stream labels are removed again by name in Python, after
# the names are made label-safe).
METADATA = "mapConcat({})".format(
    ", ".join(
        [_as_text("resource_attributes", s) for s in KIND_SUFFIXES]
        + [_as_text("attributes", s) for s in KIND_SUFFIXES]
    )
)
_METADATA_KEY = "cityHash64({}, severity_number)".format(
    ", ".join(p + s for p in ("resource_attributes", "attributes") for s in KIND_SUFFIXES)
)
_ENTRY_COLUMNS = (
    "toUnixTimestamp64Nano(timestamp) AS ts, body, labels AS stream, "
    f"{METADATA} AS metadata, lower(hex(trace_id)) AS tid, lower(hex(span_id)) AS sid, "
    "severity_number AS severity"
)
_LEVELS = ((1, "trace"), (5, "debug"), (9, "info"), (13, "warn"), (17, "error"), (21, "fatal"))


@dataclass
class LogEntry:
    timestamp_ns: int
    line: str
    labels: dict[str, str]


@dataclass
class ReadStats:
    """What a query read, for Loki's `stats` object."""

    lines: int = 0
    bytes: int = 0
    post_filter_lines: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, lines: int, nbytes: int) -> None:
        self.lines += lines
        self.bytes += nbytes


@lru_cache(maxsize=65536)
def label_name(key: str) -> str:
    """An attribute name as a label name: `k8s.pod.name` becomes `k8s_pod_name`, as in Loki."""
    name = _INVALID_LABEL_CHARS.sub("_", key)
    return "_" + name if name[:1].isdigit() else name


def detected_level(severity_number: int) -> str:
    level = ""
    for floor, name in _LEVELS:
        if severity_number >= floor:
            level = name
    return level


def entry_labels(
    stream: list[tuple[str, str]],
    metadata: list[tuple[str, str]],
    trace_id: str,
    span_id: str,
    severity: int,
) -> dict[str, str]:
    """Stream labels, then structured metadata under names that do not shadow them."""
    labels = dict(stream)
    for key, value in metadata:
        labels.setdefault(label_name(key), value)
    if trace_id != _ZERO_TRACE:
        labels.setdefault("trace_id", trace_id)
    if span_id != _ZERO_SPAN:
        labels.setdefault("span_id", span_id)
    level = detected_level(severity)
    if level:
        labels.setdefault("detected_level", level)
    return labels


class LogReader:
    """One tenant's logs, read for one query; `deadline` is a `time.monotonic()` value."""

    def __init__(self, store: Store, tenant: str, deadline: float | None = None) -> None:
        self.store = store
        self.tenant = tenant
        self.deadline = deadline
        self.stats = ReadStats()

    # ------------------------------------------------------------ log queries

    def entries(
        self, query: ast.LogQuery, start_ns: int, end_ns: int, limit: int, backward: bool
    ) -> list[LogEntry]:
        """Up to `limit` entries in [start_ns, end_ns], newest first when `backward`.

        Pages are cut by time, not OFFSET, so reading deep into a range whose lines the
        Python pipeline mostly drops costs one pass, not one per page.
        """
        cond, pipeline = self._plan(query, start_ns, end_ns)
        found: list[LogEntry] = []
        page = limit if pipeline is None else max(limit, 1000)
        lower, upper = start_ns, end_ns
        while len(found) < limit:
            self._check_deadline()
            rows = list(_rows(self._page(cond, lower, upper, backward, page)))
            full = len(rows) == page
            if full:
                # The page may end inside a run of equal timestamps: leave that run to the
                # next page, which starts at it, so no row is skipped or read twice.
                boundary = rows[-1][0]
                kept = [row for row in rows if row[0] != boundary]
                if not kept:
                    page *= 2
                    continue
                rows = kept
                lower, upper = (lower, boundary) if backward else (boundary, upper)
            self.stats.add(len(rows), sum(len(line.encode()) for _, line, _ in rows))
            for ts, line, labels in rows:
                processed = (
                    (line, labels) if pipeline is None else pipeline.process(ts, line, labels)
                )
                if processed is not None:
                    found.append(LogEntry(ts, processed[0], processed[1]))
                    if len(found) == limit:
                        break
            if not full:
                break
            page = min(page * 2, CHUNK_ROWS)
        self.stats.post_filter_lines += len(found)
        return found

    def _page(
        self, cond: sql.Conditions, lower: int, upper: int, backward: bool, size: int
    ) -> pa.Table:
        order = "DESC" if backward else "ASC"
        return self._select(
            f"SELECT {_ENTRY_COLUMNS} FROM logs WHERE {cond.where} "
            "AND timestamp BETWEEN fromUnixTimestamp64Nano({lo:Int64}) "
            f"AND fromUnixTimestamp64Nano({{hi:Int64}}) ORDER BY timestamp {order} LIMIT {size}",
            {**cond.params, "lo": lower, "hi": upper},
        )

    # ------------------------------------------------------------ metric queries

    def range_samples(
        self, agg: ast.RangeAggregation, start_ns: int, end_ns: int, step_ns: int
    ) -> list[SampleSeries]:
        """The samples of one range aggregation (see `evaluator.RangeSource`)."""
        first = start_ns - agg.offset_ns - agg.range_ns + 1
        last = end_ns - agg.offset_ns
        cond, pipeline = self._plan(agg.query, first, last)
        if pipeline is None and agg.query.unwrap is None:
            return self._counted_in_sql(agg, cond, start_ns, end_ns, step_ns)
        return self._sampled_in_python(agg, cond, pipeline, first, last)

    def _counted_in_sql(
        self, agg: ast.RangeAggregation, cond: sql.Conditions, start: int, end: int, step: int
    ) -> list[SampleSeries]:
        # Lines are counted per elementary bucket: the stretch between two consecutive window
        # edges. Window i is (base + i*step, base + i*step + range], so every window is a
        # whole number of buckets, and there are at most two buckets per step whatever the
        # step and range are. A line falls in the bucket ending at the first edge at or after
        # it: the nearer of the next left edge and the next right edge.
        step = agg.range_ns if start == end else step
        window = agg.range_ns
        base = start - agg.offset_ns - window
        ahead = -(-window // step) * step  # keeps the right-edge arithmetic positive
        ts = "toUnixTimestamp64Nano(timestamp)"
        next_left = f"{base} + intDiv({ts} - {base} + {step - 1}, {step}) * {step}"
        next_right = (
            f"{base + window - ahead} + intDiv({ts} - {base + window - ahead} + {step - 1}, "
            f"{step}) * {step}"
        )
        measure = "sum(length(body))" if agg.op in _BYTES_OPS else "count()"
        rows = self._select(
            f"""SELECT any(labels) AS stream, any({METADATA}) AS metadata,
                any(severity_number) AS severity,
                least({next_left}, {next_right}) AS bucket_end,
                {measure} AS measure, count() AS lines, sum(length(body)) AS nbytes
            FROM logs WHERE {cond.where}
            GROUP BY stream_id, {_METADATA_KEY}, bucket_end""",
            cond.params,
        )
        columns = rows.to_pydict()
        self.stats.add(sum(columns["lines"]), sum(columns["nbytes"]))
        grouped: dict[frozenset[tuple[str, str]], tuple[list[int], list[float]]] = {}
        for i, stream in enumerate(columns["stream"]):
            # Trace and span ids are per line: as series labels they would make a series of
            # every traced line. Metric queries see them only as filters.
            labels = entry_labels(
                stream, columns["metadata"][i], _ZERO_TRACE, _ZERO_SPAN, columns["severity"][i]
            )
            for name in _ID_LABELS:
                labels.pop(name, None)
            times, values = grouped.setdefault(frozenset(labels.items()), ([], []))
            times.append(columns["bucket_end"][i])
            values.append(float(columns["measure"][i]))
        return [_series(key, times, values) for key, (times, values) in grouped.items()]

    def _sampled_in_python(
        self,
        agg: ast.RangeAggregation,
        cond: sql.Conditions,
        pipeline: LogPipeline | None,
        first: int,
        last: int,
    ) -> list[SampleSeries]:
        if pipeline is None:
            pipeline = LogPipeline((), agg.query.unwrap)
        unwrapped = agg.query.unwrap is not None
        byte_counts = agg.op in _BYTES_OPS
        grouped: dict[frozenset[tuple[str, str]], tuple[list[int], list[float]]] = {}
        for rows in self._chunks(cond, first, last):
            self._count(rows)
            for ts, line, labels in _rows(rows):
                ids = {k: labels[k] for k in _ID_LABELS if k in labels}
                value: float
                if unwrapped:
                    sampled = pipeline.sample(ts, line, labels)
                    if sampled is None:
                        continue
                    labels, value = sampled
                else:
                    processed = pipeline.process(ts, line, labels)
                    if processed is None:
                        continue
                    labels = processed[1]
                    value = float(len(line.encode())) if byte_counts else 1.0
                self.stats.post_filter_lines += 1
                for name, value_id in ids.items():
                    # The line's own ids, still as read: filters, not series labels.
                    if labels.get(name) == value_id:
                        del labels[name]
                times, values = grouped.setdefault(frozenset(labels.items()), ([], []))
                times.append(ts)
                values.append(value)
        return [_series(key, times, values) for key, (times, values) in grouped.items()]

    def _chunks(self, cond: sql.Conditions, first: int, last: int) -> Iterator[pa.Table]:
        """The matching rows in time order, in slices of about CHUNK_ROWS rows."""
        total = self._select(f"SELECT count() AS n FROM logs WHERE {cond.where}", cond.params)
        count = int(total.column("n")[0].as_py()) if total.num_rows else 0
        slices = max(1, math.ceil(count / CHUNK_ROWS))
        width = max(1, math.ceil((last - first + 1) / slices))
        for lower in range(first, last + 1, width):
            self._check_deadline()
            upper = min(lower + width - 1, last)
            params = {**cond.params, "lo": lower, "hi": upper}
            yield self._select(
                f"SELECT {_ENTRY_COLUMNS} FROM logs WHERE {cond.where} "
                "AND timestamp BETWEEN fromUnixTimestamp64Nano({lo:Int64}) "
                "AND fromUnixTimestamp64Nano({hi:Int64}) ORDER BY timestamp",
                params,
            )

    # ------------------------------------------------------------ shared

    def _plan(
        self, query: ast.LogQuery, start_ns: int, end_ns: int
    ) -> tuple[sql.Conditions, LogPipeline | None]:
        """The SQL conditions, and the pipeline left for Python (None when nothing is left)."""
        cond = sql.base_conditions(self.tenant, start_ns, end_ns)
        sql.add_selector(cond, query.selector)
        pushed = sql.pushable_line_filters(query.stages)
        for position in pushed:
            stage = query.stages[position]
            assert isinstance(stage, ast.LineFilter)
            sql.add_line_filter(cond, stage)
        trace_id = sql.trace_id_filter(query.stages)
        if trace_id is not None:
            sql.add_trace_id(cond, trace_id)
        rest = tuple(s for i, s in enumerate(query.stages) if i not in pushed)
        if not rest and query.unwrap is None:
            return cond, None
        return cond, LogPipeline(rest, query.unwrap)

    def _count(self, rows: pa.Table) -> None:
        if rows.num_rows:
            body = pc.binary_length(rows.column("body").cast(pa.binary()))
            self.stats.add(rows.num_rows, int(pc.sum(body).as_py() or 0))

    def _select(self, query: str, params: dict[str, object]) -> pa.Table:
        return self.store.query(query, params)

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryTimeoutError(
                "query timed out while reading logs (setting query_timeout_seconds)"
            )


def _rows(rows: pa.Table) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Timestamp, line and labels of each fetched row."""
    columns: dict[str, list[Any]] = rows.to_pydict()
    for i, ts in enumerate(columns.get("ts", [])):
        labels = entry_labels(
            columns["stream"][i],
            columns["metadata"][i],
            columns["tid"][i],
            columns["sid"][i],
            columns["severity"][i],
        )
        yield ts, columns["body"][i], labels


def _series(key: frozenset[tuple[str, str]], times: list[int], values: list[float]) -> SampleSeries:
    order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
    return SampleSeries(
        dict(key),
        np.asarray(times, dtype=np.int64)[order],
        np.asarray(values, dtype=np.float64)[order],
    )
