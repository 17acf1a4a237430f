"""OTLP message helpers shared by the ingest benchmarks: building attributes, and reading them
back the way a pure-Python decoder must (the parse-only ceiling)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

Scalar = str | bool | int | float
AttributeValue = Scalar | Sequence[Scalar]


def any_value(value: AttributeValue) -> AnyValue:
    # bool before int: a bool is an int to Python, not to OTLP.
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))


def key_values(attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def resource(attributes: Mapping[str, AttributeValue]) -> Resource:
    return Resource(attributes=key_values(attributes))


def scope(name: str, version: str) -> InstrumentationScope:
    return InstrumentationScope(name=name, version=version)


def read_value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [read_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return read_attributes(value.kvlist_value.values)
    return getattr(value, kind)


def read_attributes(attributes: Iterable[KeyValue]) -> list[tuple[str, object]]:
    """Every key and value as Python objects: the least work any decoder has to do."""
    return [(kv.key, read_value(kv.value)) for kv in attributes]
