"""Metric samples in the Prometheus model: series, samples and metric metadata.

A series is a metric name and a set of labels; its fingerprint is a stable 64-bit hash of both,
so series and samples join without repeating labels on every sample.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping

import pyarrow as pa

from observatory.signals.columns import build_table

# Prometheus marks a series stale with this exact NaN; other NaNs are ordinary values.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

SERIES_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string()),
        pa.field("metric_name", pa.string()),
        pa.field("fingerprint", pa.uint64()),
        pa.field("labels", pa.map_(pa.string(), pa.string())),
        pa.field("last_seen", pa.timestamp("ms")),
    ]
)
SAMPLE_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string()),
        pa.field("metric_name", pa.string()),
        pa.field("fingerprint", pa.uint64()),
        pa.field("timestamp", pa.timestamp("ms")),
        pa.field("value", pa.float64()),
    ]
)
METADATA_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string()),
        pa.field("metric_name", pa.string()),
        pa.field("type", pa.string()),
        pa.field("unit", pa.string()),
        pa.field("help", pa.string()),
    ]
)


def is_stale_marker(value: float) -> bool:
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def series_fingerprint(metric_name: str, labels: Mapping[str, str]) -> int:
    """A stable 64-bit id of a series; the same in every process and every release."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(metric_name.encode())
    for key in sorted(labels):
        digest.update(b"\xff" + key.encode() + b"\xfe" + labels[key].encode())
    return int.from_bytes(digest.digest(), "little")


FINGERPRINT_CACHE_SIZE = 1_000_000
# Shared by every request: the same series arrive again and again. A plain dict is safe
# across threads for these single get and set calls.
_FINGERPRINTS: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}


def _label_maps(label_sets: list[dict[str, str]]) -> pa.MapArray:
    offsets: list[int] = [0]
    keys: list[str] = []
    values: list[str] = []
    for labels in label_sets:
        keys.extend(labels.keys())
        values.extend(labels.values())
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


class MetricColumns:
    """Builds the `series`, `samples` and `metric_metadata` tables from plain values."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.samples = 0
        self._series: dict[int, tuple[str, dict[str, str], int]] = {}
        self._sample_cols: dict[str, list[object]] = {
            "metric_name": [],
            "fingerprint": [],
            "timestamp": [],
            "value": [],
        }
        self._metadata: dict[str, tuple[str, str, str]] = {}

    def add_sample(
        self, metric_name: str, labels: dict[str, str], timestamp_ms: int, value: float
    ) -> None:
        fingerprint = self._fingerprint(metric_name, labels)
        seen = self._series.get(fingerprint)
        if seen is None or seen[2] < timestamp_ms:
            self._series[fingerprint] = (metric_name, labels, timestamp_ms)
        cols = self._sample_cols
        cols["metric_name"].append(metric_name)
        cols["fingerprint"].append(fingerprint)
        cols["timestamp"].append(timestamp_ms)
        cols["value"].append(value)
        self.samples += 1

    def add_metadata(self, metric_name: str, metric_type: str, unit: str, help_text: str) -> None:
        self._metadata[metric_name] = (metric_type, unit, help_text)

    def _fingerprint(self, metric_name: str, labels: dict[str, str]) -> int:
        # Keyed by labels in the order they came: a sender repeats its order, so a hit needs
        # no sort, and a different order only costs one more entry for the same fingerprint.
        key = (metric_name, tuple(labels.items()))
        fingerprint = _FINGERPRINTS.get(key)
        if fingerprint is None:
            fingerprint = series_fingerprint(metric_name, labels)
            if len(_FINGERPRINTS) >= FINGERPRINT_CACHE_SIZE:
                _FINGERPRINTS.clear()
            _FINGERPRINTS[key] = fingerprint
        return fingerprint

    def tables(self) -> dict[str, pa.Table]:
        tenant = self.tenant
        series = list(self._series.items())
        tables = {
            "series": build_table(
                SERIES_SCHEMA,
                {
                    "tenant": [tenant] * len(series),
                    "metric_name": [s[0] for _, s in series],
                    "fingerprint": [fp for fp, _ in series],
                    "labels": _label_maps([s[1] for _, s in series]),
                    "last_seen": [s[2] for _, s in series],
                },
            ),
            "samples": build_table(
                SAMPLE_SCHEMA,
                {
                    "tenant": [tenant] * self.samples,
                    **self._sample_cols,
                },
            ),
        }
        if self._metadata:
            meta = list(self._metadata.items())
            tables["metric_metadata"] = build_table(
                METADATA_SCHEMA,
                {
                    "tenant": [tenant] * len(meta),
                    "metric_name": [name for name, _ in meta],
                    "type": [m[0] for _, m in meta],
                    "unit": [m[1] for _, m in meta],
                    "help": [m[2] for _, m in meta],
                },
            )
        return tables
