"""A JSON API multipart upload body (metadata + bytes) sent from the engine's buffer.

A `multipart/related` upload carries the object's resource (name, declared CRC32C,
metadata, storage class) and its bytes in one request. gcloud-aio-storage can send one,
but only from `bytes` or a file, and it joins the whole body into a new `bytes` first:
two copies of every part. `RelatedBody` writes the small JSON head, then the engine's
buffer in 1 MiB memoryview slices (yielding to the event loop between them), then the
closing boundary: no copy.

Invariant: the body is fully written before the request returns (GCS answers only after
the whole body), so the engine may reuse the buffer afterwards. `on_sent` is called once
the last byte is handed to the connection: from then on GCS stores the object whatever
the client does, so the driver waits for the answer (see `GCSDriver._insert`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

__all__ = ["RelatedBody"]

_SLICE = 1024 * 1024


class RelatedBody(Payload):
    """`multipart/related` body: the object resource as JSON, then the object's bytes."""

    def __init__(
        self,
        resource: Mapping[str, Any],
        data: bytes | bytearray,
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self._on_sent = on_sent
        boundary = os.urandom(16).hex()
        self._head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._view = memoryview(data)
        super().__init__(self._view, content_type=f"multipart/related; boundary={boundary}")
        self._size = len(self._head) + len(self._view) + len(self._tail)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._head + bytes(self._view) + self._tail).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self._head + bytes(self._view) + self._tail

    async def write(self, writer: AbstractStreamWriter) -> None:
        await writer.write(self._head)
        for start in range(0, len(self._view), _SLICE):
            await writer.write(self._view[start : start + _SLICE])
        await writer.write(self._tail)
        if self._on_sent is not None:
            self._on_sent()

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        # aiohttp passes the Content-Length it sent, which is always our whole size.
        await self.write(writer)

    def __repr__(self) -> str:
        return f"<RelatedBody {len(self._view)} bytes>"
