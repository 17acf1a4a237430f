"""Loki's push messages (`logproto.PushRequest`), built at runtime.

As with remote write, no installed package ships Loki's `push.proto`, so the messages are
described here with Loki's field numbers and made into classes by protobuf's message factory,
in a private descriptor pool. The entry timestamp is the well-known
`google.protobuf.Timestamp`, whose descriptor is copied into that pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import DecodeError, Message

from observatory.errors import BadRequestError

_Field = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "logproto"
_TIMESTAMP = ".google.protobuf.Timestamp"


class TimestampMessage(Protocol):
    seconds: int
    nanos: int


class LabelPairMessage(Protocol):
    name: str
    value: str


class EntryMessage(Protocol):
    timestamp: TimestampMessage
    line: str
    # Named as in Loki's push.proto, so the runtime class has this attribute.
    structuredMetadata: Sequence[LabelPairMessage]


class StreamMessage(Protocol):
    labels: str
    entries: Sequence[EntryMessage]
    hash: int


class PushRequestMessage(Protocol):
    streams: Sequence[StreamMessage]

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
        field.type_name = type_name if type_name.startswith(".") else f".{_PACKAGE}.{type_name}"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="observatory/logproto/push.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[timestamp_pb2.DESCRIPTOR.name],
    )
    pair = file.message_type.add(name="LabelPairAdapter")
    _add_field(pair, "name", 1, _Field.TYPE_STRING)
    _add_field(pair, "value", 2, _Field.TYPE_STRING)
    entry = file.message_type.add(name="EntryAdapter")
    _add_field(entry, "timestamp", 1, _Field.TYPE_MESSAGE, _TIMESTAMP)
    _add_field(entry, "line", 2, _Field.TYPE_STRING)
    _add_field(
        entry, "structuredMetadata", 3, _Field.TYPE_MESSAGE, "LabelPairAdapter", repeated=True
    )
    stream = file.message_type.add(name="StreamAdapter")
    _add_field(stream, "labels", 1, _Field.TYPE_STRING)
    _add_field(stream, "entries", 2, _Field.TYPE_MESSAGE, "EntryAdapter", repeated=True)
    _add_field(stream, "hash", 3, _Field.TYPE_UINT64)
    request = file.message_type.add(name="PushRequest")
    _add_field(request, "streams", 1, _Field.TYPE_MESSAGE, "StreamAdapter", repeated=True)
    return file


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    pool.Add(_file_descriptor())
    return pool


_POOL = _pool()


def _message_class(name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


PushRequest = _message_class("PushRequest")
StreamAdapter = _message_class("StreamAdapter")
EntryAdapter = _message_class("EntryAdapter")
LabelPairAdapter = _message_class("LabelPairAdapter")


def parse_push_request(data: bytes) -> PushRequestMessage:
    """A decoded `logproto.PushRequest`; 400 when the bytes are not one."""
    message = PushRequest()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise BadRequestError(
            f"body is not a valid logproto.PushRequest protobuf message: {exc}"
        ) from exc
    return cast(PushRequestMessage, message)
