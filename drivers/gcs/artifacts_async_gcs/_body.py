"""A JSON API multipart upload body (metadata + bytes) sent from the engine's buffer.

A `multipart/related` upload carries the object's resource (name, declared CRC32C,
metadata, storage class) and its bytes in one request. gcloud-aio-storage can send one,
but only from `bytes` or a file, and it joins the whole body into a new `bytes` first:
two copies of every part. `RelatedBody` is the core's `BufferPayload` framed by the small
JSON head and the closing boundary: the engine's buffer is written in memoryview slices,
without a copy.

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

from artifacts_async.abc import BufferPayload

__all__ = ["RelatedBody"]


class RelatedBody(BufferPayload):
    """`multipart/related` body: the object resource as JSON, then the object's bytes."""

    def __init__(
        self,
        resource: Mapping[str, Any],
        data: bytes | bytearray,
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        boundary = os.urandom(16).hex()
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        super().__init__(data, head=head, tail=f"\r\n--{boundary}--\r\n".encode(),
                         content_type=f"multipart/related; boundary={boundary}")
        self._on_sent = on_sent

    async def write(self, writer: AbstractStreamWriter) -> None:
        await super().write_with_length(writer, None)
        if self._on_sent is not None:
            self._on_sent()

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        # aiohttp passes the Content-Length it sent, which is always our whole size; one
        # way in (`write`) for every sending, so `on_sent` is called once.
        await self.write(writer)
