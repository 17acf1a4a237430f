"""Prometheus remote-write 1.0 messages (`prometheus.WriteRequest`), built at runtime.

No installed package ships Prometheus's `remote.proto`/`types.proto`, so the messages are
described here as a `FileDescriptorProto` with Prometheus's field numbers and turned into
classes by protobuf's message factory. They live in a private descriptor pool, so another
module registering a `prometheus` package cannot clash with them.

Only what a 1.0 receiver reads is described. Exemplars (TimeSeries field 3) are skipped as
unknown fields; native histograms (field 4) are kept as raw bytes, only to be counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from observatory.errors import BadRequestError

_Field = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "prometheus"

# MetricMetadata.MetricType, by number, as the metadata API spells the types.
METRIC_TYPES: dict[int, str] = {
    0: "unknown",
    1: "counter",
    2: "gauge",
    3: "histogram",
    4: "gaugehistogram",
    5: "summary",
    6: "info",
    7: "stateset",
}


class LabelMessage(Protocol):
    name: str
    value: str


class SampleMessage(Protocol):
    value: float
    timestamp: int


class TimeSeriesMessage(Protocol):
    labels: Sequence[LabelMessage]
    samples: Sequence[SampleMessage]
    histograms: Sequence[bytes]


class MetadataMessage(Protocol):
    type: int
    metric_family_name: str
    help: str
    unit: str


class WriteRequestMessage(Protocol):
    timeseries: Sequence[TimeSeriesMessage]
    metadata: Sequence[MetadataMessage]

    def SerializeToString(self) -> bytes: ...


def _add_field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    field_type: int,
    type_name: str = "",
    repeated: bool = False,
) -> None:
    label = _Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL
    field = message.field.add(name=name, number=number, type=field_type, label=label)
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"


def _metadata_message(file: descriptor_pb2.FileDescriptorProto) -> None:
    metadata = file.message_type.add(name="MetricMetadata")
    enum = metadata.enum_type.add(name="MetricType")
    for number, name in METRIC_TYPES.items():
        enum.value.add(name=name.upper(), number=number)
    _add_field(metadata, "type", 1, _Field.TYPE_ENUM, "MetricMetadata.MetricType")
    _add_field(metadata, "metric_family_name", 2, _Field.TYPE_STRING)
    _add_field(metadata, "help", 4, _Field.TYPE_STRING)
    _add_field(metadata, "unit", 5, _Field.TYPE_STRING)


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="observatory/prompb/remote.proto", package=_PACKAGE, syntax="proto3"
    )
    label = file.message_type.add(name="Label")
    _add_field(label, "name", 1, _Field.TYPE_STRING)
    _add_field(label, "value", 2, _Field.TYPE_STRING)
    sample = file.message_type.add(name="Sample")
    _add_field(sample, "value", 1, _Field.TYPE_DOUBLE)
    _add_field(sample, "timestamp", 2, _Field.TYPE_INT64)
    series = file.message_type.add(name="TimeSeries")
    _add_field(series, "labels", 1, _Field.TYPE_MESSAGE, "Label", repeated=True)
    _add_field(series, "samples", 2, _Field.TYPE_MESSAGE, "Sample", repeated=True)
    # Bytes share the wire type of an embedded message, so histograms parse without a schema.
    _add_field(series, "histograms", 4, _Field.TYPE_BYTES, repeated=True)
    _metadata_message(file)
    request = file.message_type.add(name="WriteRequest")
    _add_field(request, "timeseries", 1, _Field.TYPE_MESSAGE, "TimeSeries", repeated=True)
    _add_field(request, "metadata", 3, _Field.TYPE_MESSAGE, "MetricMetadata", repeated=True)
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())


def _message_class(name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


WriteRequest = _message_class("WriteRequest")
TimeSeries = _message_class("TimeSeries")
Label = _message_class("Label")
Sample = _message_class("Sample")
MetricMetadata = _message_class("MetricMetadata")


def parse_write_request(data: bytes) -> WriteRequestMessage:
    """A decoded `prometheus.WriteRequest`; 400 when the bytes are not one."""
    message = WriteRequest()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise BadRequestError(
            f"body is not a valid prometheus.WriteRequest protobuf message: {exc}"
        ) from exc
    return cast(WriteRequestMessage, message)
