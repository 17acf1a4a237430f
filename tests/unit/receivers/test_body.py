from __future__ import annotations

import gzip
import zlib

import pytest

from observatory.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from observatory.receivers.body import decompress


def test_gzip_and_deflate_round_trip() -> None:
    data = b"spans" * 1000
    assert decompress(gzip.compress(data), "gzip", 10_000) == data
    assert decompress(zlib.compress(data), "deflate", 10_000) == data
    assert decompress(data, None, 10_000) == data


def test_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    with pytest.raises(PayloadTooLargeError, match="max_decompressed_bytes"):
        decompress(bomb, "gzip", 1_000_000)


def test_exactly_the_cap_is_allowed() -> None:
    assert len(decompress(gzip.compress(b"a" * 1000), "gzip", 1000)) == 1000


def test_garbage_and_unknown_encodings() -> None:
    with pytest.raises(BadRequestError):
        decompress(b"not gzip at all", "gzip", 1000)
    with pytest.raises(UnsupportedMediaTypeError, match="br"):
        decompress(b"x", "br", 1000)
