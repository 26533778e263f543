"""Request bodies sent straight from the engine's buffer, without a copy.

azure-core accepts any object with `read` as a request body, and its aiohttp transport
hands it to aiohttp, which sends an `aiohttp.payload.Payload` as it is. `BlockBody` is
both: to the SDK a small synchronous, seekable file (it only asks for the position, to
rewind for a retry it never makes here; the length is passed explicitly); to aiohttp a
payload written in 1 MiB slices of a memoryview, yielding to the event loop between
slices. Never an async file object: the SDK calls `seek`/`tell` synchronously.

Alternatives cost a copy of every block: `bytes(buffer)`, or `io.BytesIO(...)` (which
aiohttp reads in 64 KiB copies); raw bytes over 1 MiB also make aiohttp warn
(`ResourceWarning`) that a single write might stall the loop.

Invariant: the body is fully written before `stage_block` returns (the service answers
only after the whole body), so the engine may reuse the buffer afterwards.
"""

from __future__ import annotations

import io
from typing import IO, cast

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

__all__ = ["BlockBody", "body"]

_SLICE = 1024 * 1024


def body(data: bytes | bytearray | memoryview) -> IO[bytes]:
    """`data` as a request body for the SDK (typed as the file it pretends to be)."""
    return cast("IO[bytes]", BlockBody(data))


class BlockBody(Payload):
    """A zero-copy, re-readable request body over `data`."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        super().__init__(view, content_type="application/octet-stream")
        self._view = view
        self._length = len(view)
        self._size = self._length
        self._position = 0

    # What the SDK uses: a length, a position, and `read` for any path that reads.

    def __len__(self) -> int:
        return self._length

    def read(self, amount: int | None = -1) -> bytes:
        """Read like a file (the SDK does not, with the length and MD5 given)."""
        end = self._length if amount is None or amount < 0 else min(
            self._length, self._position + amount
        )
        chunk = bytes(self._view[self._position : end])
        self._position = end
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position

    # What aiohttp uses.

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._view).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return bytes(self._view)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        end = self._length if content_length is None else min(self._length, content_length)
        for start in range(0, end, _SLICE):
            await writer.write(self._view[start : min(end, start + _SLICE)])

    def __repr__(self) -> str:
        return f"<BlockBody {self._length} bytes>"

    def __str__(self) -> str:
        # The SDK's request log prints a body with str() when asked to log bodies.
        return repr(self)
