"""Span columns as the generator needs them: attribute values by key, durations, groups.

Everything here works on whole columns, since the generator sees every committed span: an
attribute is looked up in all rows at once with `map_lookup`, and histograms are filled by a
hash aggregation over (labels, bucket) instead of a Python loop over spans.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from observatory.receivers.otlp.prometheus_names import label_value
from observatory.signals.attributes import AttributeValue, KvList

SPAN = "attributes"
RESOURCE = "resource_attributes"
NS_PER_SECOND = 1e9

Column: TypeAlias = "pa.Array | pa.ChunkedArray"
# One group of a histogram: its key values, bucket index, how many values and their sum.
Group = tuple[tuple[Any, ...], int, int, float]

_BUCKET = "__bucket"
_VALUE = "__value"


def text_attribute(table: pa.Table, key: str, prefixes: Sequence[str] = (SPAN,)) -> pa.Array:
    """The attribute `key` of every row as label text; null where no prefix's maps hold it.

    Earlier prefixes win, so (SPAN, RESOURCE) lets a span override its resource.
    """
    found: list[pa.Array] = []
    for prefix in prefixes:
        for suffix, to_text in _TEXT_OF_KIND:
            values = pc.map_lookup(table.column(prefix + suffix), key, "first")
            if values.null_count < len(values):
                found.append(to_text(values.combine_chunks()))
    if not found:
        return pa.nulls(table.num_rows, pa.string())
    return found[0] if len(found) == 1 else pc.coalesce(*found)


def number_attribute(table: pa.Table, key: str) -> np.ndarray:
    """A numeric span attribute (int or float) as float64; NaN where absent."""
    ints = pc.map_lookup(table.column(SPAN + "_int"), key, "first")
    floats = pc.map_lookup(table.column(SPAN + "_float"), key, "first")
    merged = pc.coalesce(pc.cast(ints, pa.float64()), floats)
    return np.asarray(pc.fill_null(merged, np.nan).to_numpy(), dtype=np.float64)


def present(values: Column) -> np.ndarray:
    return np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)


def duration_seconds(table: pa.Table) -> np.ndarray:
    nanos = np.asarray(table.column("duration_ns").to_numpy(), dtype=np.float64)
    return np.maximum(nanos, 0.0) / NS_PER_SECOND


def text_or_empty(values: Column) -> Column:
    filled: Column = pc.fill_null(values, "")
    return filled


def histogram_groups(
    keys: Mapping[str, Column], values: np.ndarray, bounds: Sequence[float]
) -> list[Group]:
    """Values grouped by key columns and by bucket (first bound at or above the value)."""
    if not len(values):
        return []
    buckets = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    table = pa.table({**keys, _BUCKET: buckets.astype(np.int32), _VALUE: values})
    grouped = table.group_by([*keys, _BUCKET], use_threads=False).aggregate(
        [(_VALUE, "count"), (_VALUE, "sum")]
    )
    return _groups(grouped, list(keys))


def _groups(grouped: pa.Table, keys: list[str]) -> list[Group]:
    key_values = zip(*(grouped.column(name).to_pylist() for name in keys), strict=True)
    columns = (_BUCKET, _VALUE + "_count", _VALUE + "_sum")
    counts = (grouped.column(name).to_pylist() for name in columns)
    return list(zip(key_values, *counts, strict=True))


def _python_text(values: pa.Array, convert: Any) -> pa.Array:
    texts = [None if v is None else convert(v) for v in values.to_pylist()]
    return pa.array(texts, pa.string())


def _json_text(text: str) -> str:
    return label_value(_any_value(orjson.loads(text)))


def _any_value(value: dict[str, Any]) -> AttributeValue:
    """A plain value back from the OTLP/JSON `AnyValue` the store keeps for complex ones."""
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        pairs = value["kvlistValue"].get("values", [])
        return KvList((kv["key"], _any_value(kv.get("value", {}))) for kv in pairs)
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    if "intValue" in value:
        return int(value["intValue"])
    for kind in ("stringValue", "doubleValue", "boolValue"):
        if kind in value:
            result: AttributeValue = value[kind]
            return result
    return ""


# The typed maps of an attribute set, each with how its values become label text (as the
# OTLP metrics path writes them: shortest floats, `true`/`false`, arrays and maps as JSON).
_TEXT_OF_KIND: tuple[tuple[str, Any], ...] = (
    ("", lambda values: values),
    ("_int", lambda values: pc.cast(values, pa.string())),
    ("_float", lambda values: _python_text(values, label_value)),
    ("_bool", lambda values: pc.cast(values, pa.string())),
    ("_json", lambda values: _python_text(values, _json_text)),
)
