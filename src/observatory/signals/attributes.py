"""Attributes as typed Arrow map columns.

An attribute set becomes five maps, one per value kind (string, int, float, bool, and JSON for
bytes, arrays and key-value lists), so types survive the store and queries can compare
numbers as numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import orjson
import pyarrow as pa

AttributeValue: TypeAlias = "str | bool | int | float | bytes | list[AttributeValue] | KeyValueList"
KeyValueList: TypeAlias = "list[tuple[str, AttributeValue]]"
Attributes: TypeAlias = "Sequence[tuple[str, AttributeValue]]"


class KvList(list):  # type: ignore[type-arg]
    """A key-value list value, told apart from an array value."""


KIND_SUFFIXES = ("", "_int", "_float", "_bool", "_json")
_VALUE_TYPES = (pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.string())


def any_value_json(value: object) -> dict[str, object]:
    """The OTLP/JSON `AnyValue` of a plain value (ints as strings, bytes as base64)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, KvList):
        return {"kvlistValue": {"values": key_values_json(value)}}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value_json(v) for v in value]}}
    return {}


def key_values_json(attributes: Iterable[tuple[str, object]]) -> list[dict[str, object]]:
    return [{"key": k, "value": any_value_json(v)} for k, v in attributes]


def encode_key_values(attributes: Iterable[tuple[str, object]]) -> str:
    """Attributes of events and links: one JSON string of OTLP/JSON key-values."""
    return orjson.dumps(key_values_json(attributes)).decode()


# Exact types only: bool is a subclass of int, and subclasses (KvList) are not plain values.
_KIND_OF_TYPE: dict[type, int] = {str: 0, int: 1, float: 2, bool: 3}
_JSON_KIND = 4


class AttributeColumns:
    """Accumulates attribute sets row by row, then yields five typed map arrays."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._offsets: list[list[int]] = [[0] for _ in KIND_SUFFIXES]
        self._keys: list[list[str]] = [[] for _ in KIND_SUFFIXES]
        self._values: list[list[object]] = [[] for _ in KIND_SUFFIXES]

    def append(self, attributes: Attributes) -> None:
        keys, values, kinds = self._keys, self._values, _KIND_OF_TYPE
        for key, value in attributes:
            kind = kinds.get(type(value), _JSON_KIND)
            keys[kind].append(key)
            if kind == _JSON_KIND:
                value = orjson.dumps(any_value_json(value)).decode()
            values[kind].append(value)
        for kind, offsets in enumerate(self._offsets):
            offsets.append(len(keys[kind]))

    def columns(self) -> dict[str, pa.Array]:
        out: dict[str, pa.Array] = {}
        for kind, suffix in enumerate(KIND_SUFFIXES):
            out[self.prefix + suffix] = pa.MapArray.from_arrays(
                pa.array(self._offsets[kind], type=pa.int32()),
                pa.array(self._keys[kind], type=pa.string()),
                pa.array(self._values[kind], type=_VALUE_TYPES[kind]),
            )
        return out


def map_fields(prefix: str) -> list[pa.Field]:
    return [
        pa.field(prefix + suffix, pa.map_(pa.string(), value_type))
        for suffix, value_type in zip(KIND_SUFFIXES, _VALUE_TYPES, strict=True)
    ]
