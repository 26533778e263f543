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

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes; fewer only at the end; b"" at the end."""
        ...


class FileSource:
    """A regular file, read in worker threads with `os.read`."""

    def __init__(self, path: Path, fd: int, st: os.stat_result) -> None:
        self.path = path
        self._fd = fd
        self.size: int | None = st.st_size
        self.fingerprint = f"file:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        self.position = 0

    async def read(self, n: int) -> bytes:
        def work() -> bytes:
            chunks = []
            remaining = n
            while remaining:
                chunk = os.read(self._fd, remaining)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        data = await anyio.to_thread.run_sync(work)
        self.position += len(data)
        if len(data) < n and self.position != self.size:
            raise TransferError(
                f"{self.path} changed size while it was being uploaded "
                f"(expected {self.size} bytes, read {self.position})"
            )
        return data


class StreamSource:
    """A stream of chunks of unknown size (an archive being written)."""

    def __init__(self, chunks: AsyncIterator[bytes], fingerprint: str) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._eof = False
        self.size: int | None = None
        self.fingerprint = fingerprint

    async def read(self, n: int) -> bytes:
        while len(self._buffer) < n and not self._eof:
            try:
                self._buffer += await self._chunks.__anext__()
            except StopAsyncIteration:
                self._eof = True
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


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
