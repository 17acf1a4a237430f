"""Bytes on disk per table, for the self-metrics."""

from __future__ import annotations

from observatory.store.protocol import Store

TABLE_SIZES = """
SELECT table, sum(bytes_on_disk) AS bytes
FROM system.parts
WHERE active AND database = currentDatabase()
GROUP BY table
"""


def table_sizes(store: Store) -> dict[str, int]:
    rows = store.query(TABLE_SIZES).to_pylist()
    return {str(row["table"]): int(row["bytes"]) for row in rows}
