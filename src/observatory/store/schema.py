"""The ClickHouse schema, applied in numbered versions, and retention from settings.

Every sort key leads with the tenant. Retention is ClickHouse TTL; it is re-applied at each
start so a changed setting takes effect without rewriting old parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory.signals.attributes import KIND_SUFFIXES
from observatory.store.protocol import Store

_MAP_VALUE_TYPES = ("String", "Int64", "Float64", "Bool", "String")


def _attribute_maps(prefix: str) -> str:
    return ",\n    ".join(
        f"{prefix}{suffix} Map(LowCardinality(String), {value_type})"
        for suffix, value_type in zip(KIND_SUFFIXES, _MAP_VALUE_TYPES, strict=True)
    )


SPANS = f"""
CREATE TABLE IF NOT EXISTS spans (
    tenant LowCardinality(String),
    trace_id FixedString(16),
    span_id FixedString(8),
    parent_span_id FixedString(8),
    trace_state String,
    flags UInt32,
    service_name LowCardinality(String),
    name LowCardinality(String),
    kind Int8,
    start_time DateTime64(9) CODEC(Delta, ZSTD(1)),
    duration_ns Int64 CODEC(T64, ZSTD(1)),
    status_code Int8,
    status_message String,
    scope_name LowCardinality(String),
    scope_version LowCardinality(String),
    {_attribute_maps("resource_attributes")},
    {_attribute_maps("attributes")},
    dropped_attributes_count UInt32,
    events Array(Tuple(time_unix_nano Int64, name String, attributes String,
                       dropped_attributes_count UInt32)),
    dropped_events_count UInt32,
    links Array(Tuple(trace_id FixedString(16), span_id FixedString(8), trace_state String,
                      attributes String, dropped_attributes_count UInt32, flags UInt32)),
    dropped_links_count UInt32,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(start_time)
ORDER BY (tenant, service_name, name, start_time)
SETTINGS ttl_only_drop_parts = 1
"""

# One row per trace and insert; rows of one trace merge by the aggregate functions, so the
# summary is right whatever order and batch a trace's spans arrive in. The root's service and
# name are '' on every other span, and max() picks the root's.
TRACE_SUMMARIES = """
CREATE TABLE IF NOT EXISTS trace_summaries (
    tenant LowCardinality(String),
    trace_id FixedString(16),
    start_time SimpleAggregateFunction(min, DateTime64(9)),
    end_time SimpleAggregateFunction(max, DateTime64(9)),
    span_count SimpleAggregateFunction(sum, UInt64),
    error_count SimpleAggregateFunction(sum, UInt64),
    root_service_name SimpleAggregateFunction(max, String),
    root_name SimpleAggregateFunction(max, String),
    services SimpleAggregateFunction(groupUniqArrayArray, Array(String))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(start_time)
ORDER BY (tenant, trace_id)
"""

TRACE_SUMMARIES_VIEW = """
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_summaries_mv TO trace_summaries AS
SELECT
    s.tenant AS tenant,
    s.trace_id AS trace_id,
    min(s.start_time) AS start_time,
    max(s.start_time + toIntervalNanosecond(s.duration_ns)) AS end_time,
    toUInt64(count()) AS span_count,
    toUInt64(countIf(s.status_code = 2)) AS error_count,
    max(if(s.parent_span_id = toFixedString('', 8), toString(s.service_name), ''))
        AS root_service_name,
    max(if(s.parent_span_id = toFixedString('', 8), toString(s.name), '')) AS root_name,
    groupUniqArray(toString(s.service_name)) AS services
FROM spans AS s
GROUP BY s.tenant, s.trace_id
"""

SERIES = """
CREATE TABLE IF NOT EXISTS series (
    tenant LowCardinality(String),
    metric_name LowCardinality(String),
    fingerprint UInt64,
    labels Map(LowCardinality(String), String),
    last_seen DateTime64(3)
) ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (tenant, metric_name, fingerprint)
"""

SAMPLES = """
CREATE TABLE IF NOT EXISTS samples (
    tenant LowCardinality(String),
    metric_name LowCardinality(String),
    fingerprint UInt64,
    timestamp DateTime64(3) CODEC(DoubleDelta, ZSTD(1)),
    value Float64 CODEC(Gorilla, ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (tenant, metric_name, fingerprint, timestamp)
SETTINGS ttl_only_drop_parts = 1
"""

METRIC_METADATA = """
CREATE TABLE IF NOT EXISTS metric_metadata (
    tenant LowCardinality(String),
    metric_name LowCardinality(String),
    type LowCardinality(String),
    unit LowCardinality(String),
    help String
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, metric_name)
"""

LOGS = f"""
CREATE TABLE IF NOT EXISTS logs (
    tenant LowCardinality(String),
    timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    observed_timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    severity_number UInt8,
    severity_text LowCardinality(String),
    body String CODEC(ZSTD(1)),
    body_any String CODEC(ZSTD(1)),
    trace_id FixedString(16),
    span_id FixedString(8),
    flags UInt32,
    event_name LowCardinality(String),
    service_name LowCardinality(String),
    scope_name LowCardinality(String),
    scope_version LowCardinality(String),
    {_attribute_maps("resource_attributes")},
    {_attribute_maps("attributes")},
    dropped_attributes_count UInt32,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (tenant, service_name, timestamp)
"""

SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""

# Loki streams: the stream's labels and their hash; an n-gram bloom filter on the body so line
# filters (`|= "timeout"`, `|~ "5.."`, compiled to LIKE and match()) skip granules. A bloom
# filter rather than a full-text index: measured on log lines, the text index took three times
# the space of the compressed bodies and made inserts nine times slower, for line filters that
# were only a little faster.
LOG_STREAMS = (
    "ALTER TABLE logs ADD COLUMN IF NOT EXISTS labels Map(LowCardinality(String), String) "
    "AFTER service_name",
    "ALTER TABLE logs ADD COLUMN IF NOT EXISTS stream_id UInt64 AFTER labels",
    "ALTER TABLE logs ADD INDEX IF NOT EXISTS idx_body body TYPE ngrambf_v1(3, 65536, 2, 0) "
    "GRANULARITY 1",
    "ALTER TABLE logs MATERIALIZE INDEX idx_body",
)

# Append only: a released version is never edited, a change is a new version.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (SPANS, TRACE_SUMMARIES, TRACE_SUMMARIES_VIEW, SERIES, SAMPLES, METRIC_METADATA, LOGS),
    LOG_STREAMS,
)


@dataclass(frozen=True)
class Retention:
    traces_days: int
    metrics_days: int
    logs_error_days: int
    logs_info_days: int
    logs_debug_days: int

    def ttl_clauses(self) -> dict[str, str]:
        """Each table's TTL expression."""
        logs = (
            "addDays(toDateTime(timestamp), multiIf("
            f"severity_number >= 17, {self.logs_error_days}, "
            f"severity_number BETWEEN 1 AND 8, {self.logs_debug_days}, "
            f"{self.logs_info_days}))"
        )
        return {
            "spans": f"toDateTime(start_time) + INTERVAL {self.traces_days} DAY",
            "trace_summaries": f"toDateTime(start_time) + INTERVAL {self.traces_days} DAY",
            "samples": f"toDateTime(timestamp) + INTERVAL {self.metrics_days} DAY",
            "series": f"toDateTime(last_seen) + INTERVAL {self.metrics_days} DAY",
            "logs": logs,
        }


def applied_versions(store: Store) -> set[int]:
    table = store.query("SELECT version FROM schema_migrations")
    return {int(v) for v in table.column("version").to_pylist()}


def migrate(store: Store, retention: Retention) -> list[int]:
    """Apply every schema version not yet applied, then the retention; returns the new ones."""
    store.execute(SCHEMA_MIGRATIONS)
    done = applied_versions(store)
    new: list[int] = []
    for version, statements in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        for statement in statements:
            store.execute(statement)
        store.execute("INSERT INTO schema_migrations (version) VALUES ({v:UInt32})", {"v": version})
        new.append(version)
    apply_retention(store, retention)
    return new


def apply_retention(store: Store, retention: Retention) -> None:
    # Old parts keep their TTL until merged: rewriting them at every start would cost more
    # than the few days of difference.
    for table, ttl in retention.ttl_clauses().items():
        store.execute(
            f"ALTER TABLE {table} MODIFY TTL {ttl} SETTINGS materialize_ttl_after_modify = 0"
        )
