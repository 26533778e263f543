"""How a read's pieces become chunks (`_pieces.coalesced`, used by `GCSDriver.read`)."""

from __future__ import annotations

import pytest
from artifacts_async_gcs._pieces import coalesced

pytestmark = pytest.mark.anyio


async def test_large_pieces_pass_on_and_small_ones_are_joined() -> None:
    """Pieces of at least `least` bytes go on as they are (the same objects: no copy);
    smaller ones are joined up to `least`; the tail comes last; `read` gets `most`."""
    large, other = b"a" * 300, b"b" * 400
    pieces = [large, b"c" * 10, b"d" * 100, b"e" * 200, other, b"f" * 50]
    asked: list[int] = []

    async def read(n: int) -> bytes:
        asked.append(n)
        return pieces.pop(0) if pieces else b""

    chunks = [c async for c in coalesced(read, least=256, most=1000)]
    assert chunks[0] is large
    assert chunks[1:] == [b"c" * 10 + b"d" * 100 + b"e" * 200, other, b"f" * 50]
    assert set(asked) == {1000}
