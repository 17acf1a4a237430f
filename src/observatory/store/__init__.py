"""ClickHouse SQL storage: one schema and one set of queries for every engine."""
