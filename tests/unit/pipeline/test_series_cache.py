from __future__ import annotations

import pyarrow as pa

from observatory.pipeline.series_cache import REFRESH_MS, SeriesCache
from observatory.signals.metrics import SERIES_SCHEMA


def _series(last_seen_ms: int, fingerprint: int = 7) -> dict[str, pa.Table]:
    table = pa.Table.from_pylist(
        [
            {
                "tenant": "t",
                "metric_name": "m",
                "fingerprint": fingerprint,
                "labels": [],
                "last_seen": last_seen_ms,
            }
        ],
        schema=SERIES_SCHEMA,
    )
    return {"series": table}


def _written(cache: SeriesCache, last_seen_ms: int) -> int:
    tables = cache.prepare(_series(last_seen_ms))
    cache.committed(tables)
    return int(tables["series"].num_rows)


def test_a_series_is_rewritten_when_its_samples_move_an_hour_on() -> None:
    cache = SeriesCache()
    start = 1_700_000_000_000
    assert _written(cache, start) == 1
    assert _written(cache, start + 60_000) == 0
    # Old data loaded in order: sample time runs ahead of the clock, the row keeps up.
    assert _written(cache, start + REFRESH_MS) == 1
    assert _written(cache, start + REFRESH_MS + 1) == 0
    assert _written(cache, start) == 0
