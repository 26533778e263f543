"""Byte sources for uploads: a file read at offsets, or a directory archived as a stream."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from ._archive import tree_fingerprint, write_archive
from ._bridge import ThreadProducer
from ._exceptions import ConfigurationError, MissingInputError, TransferError
from ._specs import Archive, ArchiveKind

__all__ = ["Source", "open_source"]


class Source(Protocol):
    """Sequential bytes with a known or unknown size and a fingerprint for resume."""

    size: int | None
    fingerprint: str

    async def read_into(self, buffer: bytearray) -> int:
        """Fill `buffer` from the start; return the bytes filled (fewer only at the end)."""
        ...


class FileSource:
    """A regular file, read in worker threads with `os.read`."""

    def __init__(self, path: Path, fd: int, st: os.stat_result) -> None:
        self.path = path
        self._fd = fd
        self.size: int | None = st.st_size
        self.fingerprint = f"file:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        self.position = 0

    async def read_into(self, buffer: bytearray) -> int:
        def work() -> int:
            view = memoryview(buffer)
            filled = 0
            while filled < len(view):
                got = os.readv(self._fd, [view[filled:]])
                if not got:
                    break
                filled += got
            return filled

        n = await anyio.to_thread.run_sync(work)
        self.position += n
        if n < len(buffer) and self.position != self.size:
            raise TransferError(
                f"{self.path} changed size while it was being uploaded "
                f"(expected {self.size} bytes, read {self.position})"
            )
        return n


class StreamSource:
    """A stream of chunks of unknown size (an archive being written)."""

    def __init__(self, chunks: AsyncIterator[bytes], fingerprint: str) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._eof = False
        self.size: int | None = None
        self.fingerprint = fingerprint

    async def read_into(self, buffer: bytearray) -> int:
        # Chunks are copied straight into the part buffer: only the unread rest of one
        # chunk (at most ~1 MiB) is held outside the budget.
        n = len(buffer)
        filled = 0
        while filled < n:
            if not self._pending:
                if self._eof:
                    break
                try:
                    self._pending = memoryview(await self._chunks.__anext__())
                except StopAsyncIteration:
                    self._eof = True
                    break
            take = min(n - filled, len(self._pending))
            buffer[filled : filled + take] = self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        return filled


@asynccontextmanager
async def open_source(path: Path, archive: Archive) -> AsyncIterator[Source]:
    """Open `path` as an upload source; raise `MissingInputError` if it does not exist."""
    try:
        st = await anyio.to_thread.run_sync(os.stat, path)
    except FileNotFoundError:
        raise MissingInputError(f"{path} does not exist") from None
    if archive.kind is ArchiveKind.NONE:
        if not stat.S_ISREG(st.st_mode):
            raise ConfigurationError(
                f"{path} is a directory: store it with a tar or zip archive, not 'none'"
            )
        fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY)
        try:
            yield FileSource(path, fd, st)
        finally:
            os.close(fd)
        return
    fingerprint = await anyio.to_thread.run_sync(tree_fingerprint, path)
    producer = ThreadProducer(lambda out: write_archive(path, archive, out))
    async with producer as chunks:
        yield StreamSource(chunks, f"{archive.kind.value}{archive.compression_level}:{fingerprint}")
