"""An HTTP response body as the pieces the event loop received, for a driver's `read`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

__all__ = ["ReceivedStream", "received_pieces"]


class ReceivedStream(Protocol):
    """What `received_pieces` needs of a body: aiohttp's `StreamReader` is one (the core
    does not import aiohttp)."""

    async def readchunk(self) -> tuple[bytes, bool]:
        """The next piece received (b"" at an HTTP chunk's end or the body's), and
        whether an HTTP chunk ends there."""
        ...

    def at_eof(self) -> bool:
        """Whether the body ended and every piece was read."""
        ...


async def received_pieces(stream: ReceivedStream) -> AsyncGenerator[bytes, None]:
    """The bytes of `stream` in the pieces it received, never joined.

    aiohttp's `read(n)` and `readany()` join every piece buffered at the moment: a copy
    of each byte on the event loop. `readchunk()` hands over one received piece (often
    32 KiB from a server on the same machine), and the core batches them for one
    deadline and one consumer step per ~1 MiB: a parallel download writes a batch with
    one vectored write from the list (no copy on the loop), a stream joins only the
    small ones.
    """
    while True:
        piece, _ = await stream.readchunk()
        if piece:
            yield piece
        elif stream.at_eof():
            return
