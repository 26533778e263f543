"""How the core reads a driver's pieces: in batches of about 1 MiB (one deadline each),
never copied for a parallel download's writes, small ones joined for a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async import _reads
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import received_pieces

pytestmark = pytest.mark.anyio

KiB = 1024
MiB = 1024 * KiB


class Pieces(WrappedDriver):
    """Reads yield `pieces` (whatever the key, offset or length), each object as it is."""

    def __init__(self, pieces: list[bytes]) -> None:
        super().__init__(MemoryDriver(name="batched-reads"))
        self.pieces = pieces

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            await anyio.lowlevel.checkpoint()
            yield piece


def _pieces() -> list[bytes]:
    # 32 small pieces of 32 KiB (a local server's), one large one, then a short tail.
    return [bytes([i]) * 32 * KiB for i in range(32)] + [b"L" * 300 * KiB, b"t" * 10]


async def test_batches_hand_on_the_pieces_themselves() -> None:
    """Each batch holds the driver's own piece objects (no copy), about 1 MiB of them."""
    pieces = _pieces()
    batches = [b async for b in _reads.resilient_batches(
        Pieces(pieces), "k", offset=0, length=None, options=aa.TransferOptions())]
    assert [p for batch in batches for p in batch] == pieces
    assert all(a is b for a, b in zip([p for b in batches for p in b], pieces, strict=True))
    assert [sum(map(len, b)) for b in batches] == [MiB, 300 * KiB + 10]


async def test_stream_joins_small_pieces_and_passes_large_ones_on() -> None:
    """`resilient_read` joins runs of pieces under 256 KiB (up to a batch) and hands a
    larger piece on as it is (the same object)."""
    pieces = _pieces()
    chunks = [c async for c in _reads.resilient_read(
        Pieces(pieces), "k", offset=0, length=None, options=aa.TransferOptions())]
    assert chunks[0] == b"".join(pieces[:32])
    assert chunks[1] is pieces[32]
    assert chunks[2:] == [b"t" * 10]


async def test_a_batch_has_one_deadline_for_its_pieces() -> None:
    """A batch whose pieces each come well within `request_timeout`, but which in all takes
    longer than its deadline, fails the attempt; the bytes it got are handed on first."""

    class Slow(Pieces):
        async def read(self, key: str, *, offset: int = 0,
                       length: int | None = None) -> AsyncIterator[bytes]:
            for piece in self.pieces[offset // (32 * KiB):]:
                await anyio.sleep(0.2)
                yield piece

    pieces = [bytes([i]) * 32 * KiB for i in range(32)]
    # A batch's deadline: 0.3 s plus 1 MiB at 1 GiB/s; each piece takes 0.2 s.
    options = aa.TransferOptions(request_timeout=0.3, min_throughput=1024 * MiB)
    got: list[bytes] = []

    async def read_all() -> None:
        async for batch in _reads.resilient_batches(Slow(pieces), "k", offset=0,
                                                    length=None, options=options):
            got.extend(batch)

    with pytest.raises(aa.TransientBackendError, match=r"within 0\.3 s at byte"):
        await read_all()
    # What each attempt got before its deadline was handed on; the retries continued.
    assert got
    assert got == pieces[: len(got)]


async def test_received_pieces_reads_until_the_end_of_the_body() -> None:
    """`received_pieces` yields each received piece as it is; an empty piece that is not
    the end (an HTTP chunk boundary) does not end the body."""
    first, second = b"a" * 10, b"b" * 20

    class Stream:
        def __init__(self) -> None:
            self.answers = [(first, False), (b"", True), (second, False), (b"", False)]

        async def readchunk(self) -> tuple[bytes, bool]:
            return self.answers.pop(0)

        def at_eof(self) -> bool:
            return not self.answers

    got = [p async for p in received_pieces(Stream())]
    assert got == [first, second]
    assert got[0] is first

