"""Loki push API: `POST /loki/api/v1/push`, JSON or snappy protobuf, into log streams."""
