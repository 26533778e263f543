"""A response body's pieces as read chunks, copied on the event loop only when small."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["coalesced"]


async def coalesced(
    read: Callable[[int], Awaitable[bytes]], *, least: int = 256 * 1024, most: int = 1024 * 1024
) -> AsyncIterator[bytes]:
    """The pieces `read(most)` returns, until it returns nothing: each piece of at least
    `least` bytes as it is, smaller ones joined up to `least` first.

    aiohttp hands over what the event loop received (asyncio reads up to 256 KiB at a
    time). Passing those pieces on avoids copying every byte on the loop (the engine
    writes a range's chunks with one vectored write from a list), and joining only small
    pieces keeps the engine's work per chunk bounded on a slow connection. A chunk is
    never over `least + most` bytes.
    """
    pending: list[bytes] = []
    held = 0
    while piece := await read(most):
        if not pending and len(piece) >= least:
            yield piece
            continue
        pending.append(piece)
        held += len(piece)
        if held >= least:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
