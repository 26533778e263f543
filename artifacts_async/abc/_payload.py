"""`BufferPayload`: a request body sent straight from the engine's buffer, without a copy.

The cloud SDKs built on aiohttp (aiobotocore, azure-core's aiohttp transport,
gcloud-aio's session) accept a file-like request body and hand it to aiohttp, which sends
an `aiohttp.payload.Payload` as it is. `BufferPayload` is both: to the SDK a small
read-only, seekable file (its length, a position, and `read` for any code path that
reads: the SDKs do not, since the driver passes the length and the checksums); to aiohttp
a payload written in 1 MiB memoryview slices, yielding to the event loop between slices.
A head and a tail (the envelope of a `multipart/related` upload, say) may frame the buffer.

The alternatives cost a copy of every part: `bytes(buffer)`, or `io.BytesIO(buffer)`
(which aiohttp then reads in 64 KiB copies); raw bytes over 1 MiB also make aiohttp warn
(`ResourceWarning`) that a single write might stall the loop.

Invariant (the driver's to keep): the body is fully written before the request returns
(the services answer only after the whole body), so the engine may reuse the buffer then.

This module needs aiohttp, which the core does not depend on (every HTTP driver has it):
`artifacts_async.abc` imports it the first time `BufferPayload` is asked for.
"""

from __future__ import annotations

import io
from typing import IO, ClassVar, cast

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

__all__ = ["BufferPayload"]


class BufferPayload(Payload):
    """A zero-copy, re-readable request body over `data`, framed by `head` and `tail`.

    `len()` and `size` are the whole body's length (head, data and tail). Pass it to an
    SDK that takes a file as `BufferPayload.file(data)` (the same object, typed as the
    file it pretends to be), or to aiohttp as it is.
    """

    #: The most bytes handed to the connection in one write.
    SLICE: ClassVar[int] = 1024 * 1024

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        head: bytes = b"",
        tail: bytes = b"",
        content_type: str = "application/octet-stream",
    ) -> None:
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        super().__init__(view, content_type=content_type)
        self._view = view
        # Only the pieces there are: a plain body (the common case) is its buffer alone.
        self._pieces = (memoryview(head), view, memoryview(tail)) if head or tail else (view,)
        self._length = len(head) + len(view) + len(tail)
        self._size = self._length
        self._position = 0

    @classmethod
    def file(cls, data: bytes | bytearray | memoryview) -> IO[bytes]:
        """A body over `data` for an SDK that takes a file (typed as that file)."""
        return cast("IO[bytes]", cls(data))

    def _bytes(self, start: int, end: int) -> bytes:
        """Bytes `start` to `end` of the whole body (head, data, tail), copied."""
        found: list[memoryview] = []
        offset = 0
        for piece in self._pieces:
            low, high = max(0, start - offset), min(len(piece), end - offset)
            if low < high:
                found.append(piece[low:high])
            offset += len(piece)
        return b"".join(found)

    # What the SDKs use: a length, a position, and `read` for any path that reads.

    def __len__(self) -> int:
        return self._length

    def read(self, amount: int | None = -1) -> bytes:
        """Read like a file, from the current position."""
        end = self._length if amount is None or amount < 0 else min(
            self._length, self._position + amount
        )
        chunk = self._bytes(self._position, end)
        self._position = end
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position like a file's (kept within the body); the new position."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        return self._position

    def tell(self) -> int:
        """The position `read` reads from."""
        return self._position

    # What aiohttp uses.

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The whole body as text (a copy: for logs and debugging only)."""
        return self._bytes(0, self._length).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        """The whole body as bytes (a copy: aiohttp asks only for odd cases)."""
        return self._bytes(0, self._length)

    async def write(self, writer: AbstractStreamWriter) -> None:
        """Send the whole body to aiohttp's `writer`, in slices."""
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        """Send at most `content_length` bytes of the body (all when None), in slices."""
        left = self._length if content_length is None else min(self._length, content_length)
        step = self.SLICE
        for piece in self._pieces:
            size = len(piece)
            end = size if size <= left else left
            if end <= step:  # most bodies: one write
                if end:
                    await writer.write(piece if end == size else piece[:end])
            else:
                for start in range(0, end, step):
                    await writer.write(piece[start : min(end, start + step)])
            left -= end
            if left <= 0:
                return

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._view)} bytes>"

    def __str__(self) -> str:
        # An SDK's request log prints a body with str() when asked to log bodies.
        return repr(self)
