"""Writing bytes into a file at an offset, in slices of `WRITE_SLICE` bytes per system call.

Why slices: Linux sizes the page-cache folio it allocates for a buffered write by the
bytes left in that `write` call, up to 2 MiB (ext4 since 6.16, xfs before). Where the
machine's free memory is fragmented, each such large folio costs the writing thread a
direct compaction: one 8 MiB `pwrite` per part made the local driver's rounds on ext4
spend and wait up to several times `cp`'s time, varying with the memory's state, while
`cp` (through splice, 64 KiB at a time) did not (docs/benchmarks.md, "The local driver
on the disk"). Writes of 64 KiB get small folios and no compaction stalls, at the cost
of one system call per 64 KiB, about 1 µs each.

Called from worker threads only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._checksums import crc32c

__all__ = ["WRITE_SLICE", "write_at", "write_chunks_at"]

#: Bytes per write system call (what `cp`'s splice writes at a time).
WRITE_SLICE = 64 * 1024


def write_at(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of `data` at `offset` of `fd`, at most `WRITE_SLICE` bytes per call (a
    short write is continued)."""
    with memoryview(data) as whole, whole.cast("B") as view:
        written = 0
        while written < len(view):
            written += os.pwrite(fd, view[written : written + WRITE_SLICE], offset + written)


def write_chunks_at(fd: int, chunks: Sequence[bytes], offset: int) -> int:
    """Write `chunks` one after the other at `offset` of `fd`, in calls of `WRITE_SLICE`
    bytes (small chunks gathered into one `pwritev`, large ones split); return their
    CRC32C, computed from the same buffers."""
    crc = 0
    batch: list[memoryview] = []
    batched = 0
    for chunk in chunks:
        crc = crc32c(chunk, crc)
        view = memoryview(chunk)
        start = 0
        while start < len(view):
            piece = view[start : start + WRITE_SLICE - batched]
            batch.append(piece)
            batched += len(piece)
            start += len(piece)
            if batched == WRITE_SLICE:
                _write_batch(fd, batch, offset, batched)
                offset += batched
                batch, batched = [], 0
    if batch:
        _write_batch(fd, batch, offset, batched)
    return crc


def _write_batch(fd: int, batch: list[memoryview], offset: int, size: int) -> None:
    done = os.pwritev(fd, batch, offset)
    if done < size:  # a short write (rare): the rest, as one buffer
        write_at(fd, b"".join(batch)[done:], offset + done)
