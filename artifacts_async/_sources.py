"""Byte sources for uploads: a file read at offsets, or a directory archived as a stream."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import anyio.to_thread
import attrs

from ._archive import tree_fingerprint, write_archive
from ._bridge import ThreadProducer
from ._exceptions import ConfigurationError, MissingInputError, SourceChangedError
from ._specs import Archive, ArchiveKind
from .abc import ChecksumKind, PartChecksums
from .abc._helpers import part_checksums

__all__ = ["FileSource", "LoadedFile", "Source", "open_or_load", "open_source"]


class Source(Protocol):
    """Sequential bytes with a known or unknown size and a fingerprint for resume."""

    size: int | None
    fingerprint: str

    async def read_into(self, buffer: bytearray) -> int:
        """Fill `buffer` from the start; return the bytes filled (fewer only at the end)."""
        ...

    async def check_unchanged(self) -> None:
        """Raise `SourceChangedError` if the source changed since it was opened.

        Called once every byte was read and before the upload completes: what was read
        is then what the source held when it was opened.
        """
        ...


def _status(st: os.stat_result) -> tuple[int, int, int, int]:
    # A write changes size or mtime; ctime also catches a writer that restores the mtime
    # afterwards (rsync -t, cp -p, tar). Each is one stat call, nothing is read again.
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class FileSource:
    """A regular file, read in worker threads with `os.read`, never past its opened size."""

    def __init__(self, path: Path, fd: int, st: os.stat_result) -> None:
        self.path = path
        self._fd = fd
        self._status = _status(st)
        self._size = st.st_size
        self.size: int | None = st.st_size
        self.fingerprint = f"file:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        self.position = 0

    def _read_sync(self, buffer: bytearray) -> int:
        # Bytes appended after opening are never read: the object is at most the size
        # the file had, and `check_unchanged` reports the change.
        want = min(len(buffer), self._size - self.position)
        view = memoryview(buffer)[:want]
        filled = 0
        while filled < len(view):
            got = os.readv(self._fd, [view[filled:]])
            if not got:
                break
            filled += got
        self.position += filled
        if filled < want:
            raise SourceChangedError(
                f"{self.path} changed while it was being uploaded: it shrank "
                f"(expected {self._size} bytes, read {self.position})"
            )
        return filled

    def _check_sync(self) -> None:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            raise SourceChangedError(
                f"{self.path} was removed while it was being uploaded"
            ) from None
        if _status(os.fstat(self._fd)) != self._status or _status(current) != self._status:
            raise SourceChangedError(
                f"{self.path} changed while it was being uploaded (size, modification time "
                "or inode differ from when it was opened): nothing was stored; upload it "
                "again once it is written"
            )

    async def read_into(self, buffer: bytearray) -> int:
        return await anyio.to_thread.run_sync(self._read_sync, buffer)

    def close(self) -> None:
        """Close the file (a source from `open_or_load`; `open_source` closes its own)."""
        os.close(self._fd)

    async def check_unchanged(self) -> None:
        await anyio.to_thread.run_sync(self._check_sync)

    async def read_whole(
        self, buffer: bytearray, kinds: frozenset[ChecksumKind]
    ) -> tuple[PartChecksums, int]:
        """The small-file path, in one worker-thread call: fill `buffer` with the whole
        file (`len(buffer)` is its size), check it is unchanged, and checksum it.

        Returns the part checksums for `kinds` and the CRC32C.
        """

        def work() -> tuple[PartChecksums, int]:
            self._read_sync(buffer)
            self._check_sync()
            return part_checksums(buffer, kinds)

        return await anyio.to_thread.run_sync(work)


class StreamSource:
    """A stream of chunks of unknown size: an archive being written from the tree at
    `path` (checked unchanged at the end), or bytes from elsewhere (no `path`)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        fingerprint: str,
        path: Path | None = None,
        tree: str = "",
    ) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._eof = False
        self.size: int | None = None
        self.fingerprint = fingerprint
        self._path = path
        self._tree = tree

    async def check_unchanged(self) -> None:
        # One stat per file of the tree, against the fingerprint taken before archiving.
        # A stream that is not an archive of a tree (`save_stream`) has nothing to check.
        if self._path is None:
            return
        try:
            tree = await anyio.to_thread.run_sync(tree_fingerprint, self._path)
        except FileNotFoundError:
            tree = ""
        if tree != self._tree:
            raise SourceChangedError(
                f"{self._path} changed while it was being archived and uploaded (a file's "
                "name, size, modification time or mode differs): nothing was stored; upload "
                "it again once it is written"
            )

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


def _open_file(path: Path) -> tuple[int, os.stat_result]:
    try:
        # O_NONBLOCK: a FIFO is refused below instead of waiting for a writer here.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise MissingInputError(f"{path} does not exist") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigurationError(
                f"{path} is a directory: store it with a tar or zip archive, not 'none'"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


@attrs.frozen(kw_only=True)
class LoadedFile:
    """A small file read whole, checked unchanged and checksummed in one thread hop."""

    data: bytearray
    checks: PartChecksums
    crc: int


def _open_or_load(
    path: Path, limit: int, kinds: frozenset[ChecksumKind]
) -> LoadedFile | FileSource:
    """Open `path`; if it holds at most `limit` bytes, also read it, check that it did not
    change meanwhile, checksum it and close it. Else return it opened (the caller closes)."""
    fd, st = _open_file(path)
    if st.st_size > limit:
        return FileSource(path, fd, st)
    try:
        source = FileSource(path, fd, st)
        data = bytearray(st.st_size)
        source._read_sync(data)
        source._check_sync()
        checks, crc = part_checksums(data, kinds)
    finally:
        os.close(fd)
    return LoadedFile(data=data, checks=checks, crc=crc)


async def open_or_load(
    path: Path, *, limit: int, kinds: frozenset[ChecksumKind]
) -> LoadedFile | FileSource:
    """The small-file path: stat, open, read, check and checksum in one worker-thread call
    (`_open_or_load`); a file larger than `limit` comes back open, to be read in parts and
    closed with `FileSource.close`. Raises `MissingInputError` if `path` does not exist."""
    return await anyio.to_thread.run_sync(_open_or_load, path, limit, kinds)


@asynccontextmanager
async def open_source(path: Path, archive: Archive) -> AsyncIterator[Source]:
    """Open `path` as an upload source; raise `MissingInputError` if it does not exist."""
    if archive.kind is ArchiveKind.NONE:
        # One worker-thread call: stat, check, open (and fstat, so that what is opened is
        # what was checked).
        fd, st = await anyio.to_thread.run_sync(_open_file, path)
        try:
            yield FileSource(path, fd, st)
        finally:
            os.close(fd)
        return
    try:
        await anyio.to_thread.run_sync(os.stat, path)
    except FileNotFoundError:
        raise MissingInputError(f"{path} does not exist") from None
    fingerprint = await anyio.to_thread.run_sync(tree_fingerprint, path)
    producer = ThreadProducer(lambda out: write_archive(path, archive, out))
    async with producer as chunks:
        yield StreamSource(
            chunks, f"{archive.kind.value}{archive.compression_level}:{fingerprint}",
            path, fingerprint,
        )
