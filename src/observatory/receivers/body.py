"""Reading request bodies within limits, before and after decompression.

Decompression streams into a capped buffer, so a small gzip bomb costs at most the cap in
memory before it is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from observatory.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError


async def read_capped(chunks: AsyncIterator[bytes], content_length: str | None, cap: int) -> bytes:
    """The raw body; 413 as soon as it is known to exceed `cap` bytes."""
    if content_length and content_length.isdigit() and int(content_length) > cap:
        raise PayloadTooLargeError(
            f"request body of {content_length} bytes exceeds the limit of {cap} bytes "
            "(setting max_request_bytes)"
        )
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise PayloadTooLargeError(
                f"request body exceeds the limit of {cap} bytes (setting max_request_bytes)"
            )
    return bytes(body)


def decompress(body: bytes, encoding: str | None, cap: int) -> bytes:
    """The body decoded per `Content-Encoding`; 413 once the output passes `cap` bytes."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        if len(body) > cap:
            raise _too_large(cap)
        return body
    if name in ("gzip", "x-gzip"):
        return _inflate(body, zlib.decompressobj(16 + zlib.MAX_WBITS), cap)
    if name == "deflate":
        return _inflate(body, zlib.decompressobj(), cap)
    raise UnsupportedMediaTypeError(
        f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none"
    )


def _inflate(body: bytes, inflater: zlib._Decompress, cap: int) -> bytes:
    out = bytearray()
    data = body
    try:
        while data:
            out += inflater.decompress(data, cap + 1 - len(out))
            if len(out) > cap:
                raise _too_large(cap)
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
        out += inflater.flush()
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid compressed data: {exc}") from exc
    if len(out) > cap:
        raise _too_large(cap)
    return bytes(out)


def _too_large(cap: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"decompressed request body exceeds the limit of {cap} bytes "
        "(setting max_decompressed_bytes)"
    )
