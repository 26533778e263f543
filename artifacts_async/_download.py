"""Downloads: verified streams, files written atomically, archives extracted as streams."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
import anyio
import anyio.from_thread
import anyio.to_thread
import attrs

from ._archive import extract
from ._bridge import AsyncIteratorReader
from ._budget import TransferBudget
from ._checksums import combine_all, crc32c
from ._exceptions import IntegrityError, TransientBackendError
from ._options import TransferOptions
from ._parts import DEFAULT_PART_SIZE
from ._records import ArtifactRecord
from ._specs import ArchiveKind
from .abc import Driver

__all__ = ["download", "verified_stream"]

_THREAD_CRC = 256 * 1024


def _check_crc(driver: Driver, record: ArtifactRecord, value: int) -> None:
    algorithm, _, digest = (record.checksum or "").partition(":")
    if algorithm == "crc32c" and int(digest, 16) != value:
        raise IntegrityError(
            f"{driver.describe(record.location.key)}: CRC32C {value:08x} does not match the "
            f"record's {digest}"
        )


async def resilient_read(
    driver: Driver, key: str, *, offset: int, length: int | None, options: TransferOptions
) -> AsyncIterator[bytes]:
    """`driver.read`, re-opened where it stopped after a transient failure.

    Bytes already yielded are never yielded again: a retry continues at the offset reached.
    """
    position = 0
    async for attempt in options.retrying(TransientBackendError):
        with attempt:
            start = offset + position
            if offset < 0 and position:
                # A suffix read that broke off: continue from an absolute offset.
                size = (await driver.stat(key)).size
                start = max(0, size + offset) + position
            remaining = None if length is None else length - position
            if remaining == 0:
                return
            async for chunk in driver.read(key, offset=start, length=remaining):
                position += len(chunk)
                yield chunk
            return


async def verified_stream(
    driver: Driver,
    record: ArtifactRecord,
    *,
    offset: int = 0,
    length: int | None = None,
    verify: bool = True,
    options: TransferOptions | None = None,
) -> AsyncIterator[bytes]:
    """Stream the object of `record`; when reading it whole, check its recorded checksum.

    A mismatch raises `IntegrityError` after the last chunk, so consumers must treat the
    data as unconfirmed until the iterator ends.
    """
    key = record.location.key
    whole = offset == 0 and length is None
    expected = record.checksum if verify and whole else None
    value = 0
    size = 0
    chunks = resilient_read(driver, key, offset=offset, length=length,
                            options=options or TransferOptions())
    async for chunk in chunks:
        if expected is not None:
            if len(chunk) >= _THREAD_CRC:
                value = await anyio.to_thread.run_sync(crc32c, chunk, value)
            else:
                value = crc32c(chunk, value)
        size += len(chunk)
        yield chunk
    if expected is not None:
        _check_crc(driver, record, value)
        if record.size is not None and size != record.size:
            raise IntegrityError(
                f"{driver.describe(key)}: read {size} bytes, the record says {record.size}"
            )


@asynccontextmanager
async def _staged(dest: Path, mode: int | None) -> AsyncIterator[Path]:
    """A temporary path beside `dest`, renamed to `dest` (with `mode`) if the block
    succeeds and removed if it fails: nothing half-written is ever at `dest`."""
    await aiofiles.os.makedirs(dest.parent, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.download-{uuid.uuid4().hex[:12]}"
    try:
        yield tmp
        if mode is not None:
            await anyio.to_thread.run_sync(os.chmod, tmp, mode)
        await aiofiles.os.replace(tmp, dest)
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(tmp)
        raise


async def _write_file(chunks: AsyncIterator[bytes], dest: Path, mode: int | None) -> None:
    async with _staged(dest, mode) as tmp, aiofiles.open(tmp, "wb") as f:
        async for chunk in chunks:
            await f.write(chunk)


async def _parallel_file(
    driver: Driver,
    record: ArtifactRecord,
    dest: Path,
    *,
    size: int,
    part_size: int,
    mode: int | None,
    verify: bool,
    options: TransferOptions,
    budget: TransferBudget,
) -> None:
    """Download a large object as concurrent ranged reads written at their offsets.

    Each range's CRC32C is computed as it is written; the ranges' CRCs are combined in
    order and checked against the record before the file is renamed into place.
    """
    key = record.location.key
    crcs: dict[int, tuple[int, int]] = {}
    async with _staged(dest, mode) as tmp:
        fd = await anyio.to_thread.run_sync(
            lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        )

        async def fetch(offset: int, buffer: bytearray) -> None:
            try:
                async with budget.part_slot():
                    filled = 0
                    async for chunk in resilient_read(driver, key, offset=offset,
                                                      length=len(buffer), options=options):
                        buffer[filled : filled + len(chunk)] = chunk
                        filled += len(chunk)
                if filled != len(buffer):
                    raise IntegrityError(
                        f"{driver.describe(key)}: range at {offset} returned {filled} bytes, "
                        f"expected {len(buffer)} (the object changed?)"
                    )

                def write() -> int:
                    view = memoryview(buffer)
                    done = 0
                    while done < len(view):
                        done += os.pwrite(fd, view[done:], offset + done)
                    return crc32c(buffer)

                crcs[offset] = (await anyio.to_thread.run_sync(write), len(buffer))
            finally:
                budget.release_buffer(buffer)

        try:
            async with anyio.create_task_group() as tg:
                for offset in range(0, size, part_size):
                    buffer = await budget.acquire_buffer(min(part_size, size - offset))
                    tg.start_soon(fetch, offset, buffer)
        finally:
            os.close(fd)
        if verify and record.checksum:
            _check_crc(driver, record, combine_all(crcs[o] for o in sorted(crcs)))


class RangedFile(io.RawIOBase):
    """A seekable, read-only file over a driver's ranged reads, for a worker thread.

    Zip needs random access (its directory is at the end); this reads ranges on demand
    with a read-ahead window instead of staging the whole object locally.
    """

    def __init__(self, driver: Driver, key: str, size: int, *, options: TransferOptions,
                 window: int = 4 * 1024 * 1024) -> None:
        self._driver, self._key, self._size, self._window = driver, key, size, window
        self._options = options
        self._pos = 0
        self._cache_start = 0
        self._cache = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        cache_end = self._cache_start + len(self._cache)
        if not (self._cache_start <= self._pos and self._pos + n <= cache_end):
            want = max(n, self._window)
            self._cache = anyio.from_thread.run(self._fetch, self._pos, want)
            self._cache_start = self._pos
        start = self._pos - self._cache_start
        got = self._cache[start : start + n]
        view[: len(got)] = got
        self._pos += len(got)
        return len(got)

    async def _fetch(self, offset: int, length: int) -> bytes:
        chunks = resilient_read(self._driver, self._key, offset=offset, length=length,
                                options=self._options)
        return b"".join([c async for c in chunks])


def _stored_mode(metadata: Mapping[str, str]) -> int | None:
    """The permissions a save stored in the object's metadata ("mode", octal), if valid."""
    try:
        mode = int(metadata.get("mode", ""), 8)
    except ValueError:
        return None
    return mode if 0 <= mode <= 0o7777 else None


async def download(driver: Driver, record: ArtifactRecord, dest: Path, *, mode: int | None,
                   verify: bool, options: TransferOptions, budget: TransferBudget) -> None:
    """Write `record`'s object to `dest`: a file, or an extracted archive.

    A file larger than two parts, on a backend with ranged reads, is fetched as
    concurrent ranges under `budget`; everything else streams in one read.
    """
    dest = dest.absolute()  # noqa: ASYNC240 - getcwd only, no file I/O
    if record.checksum is None and (verify or mode is None):
        # A key-only input has no recorded checksum: use the backend's whole-object
        # CRC32C when it keeps one. Nor a recorded mode: use the one saved with the object.
        info = await driver.stat(record.location.key)
        if mode is None:
            mode = _stored_mode(info.metadata)
        if verify:
            crc = info.checksums.get("crc32c")
            record = attrs.evolve(record, size=info.size,
                                  checksum=f"crc32c:{crc}" if crc is not None else None)
    if record.archive.kind is ArchiveKind.NONE:
        part_size = min(options.part_size or DEFAULT_PART_SIZE, budget.max_bytes)
        size = record.size
        if size is None and driver.limits.ranged_reads and options.parallel_downloads:
            size = (await driver.stat(record.location.key)).size
        if options.parallel_downloads and size is not None and size > 2 * part_size and \
                driver.limits.ranged_reads:
            await _parallel_file(driver, record, dest, size=size, part_size=part_size,
                                 mode=mode, verify=verify, options=options, budget=budget)
            return
        await _write_file(verified_stream(driver, record, verify=verify, options=options), dest,
                          mode)
        return
    if record.archive.kind is ArchiveKind.ZIP:
        info = await driver.stat(record.location.key)
        ranged = RangedFile(driver, record.location.key, info.size, options=options)
        await anyio.to_thread.run_sync(lambda: extract(ranged, record.archive, dest, mode=mode))
        return
    stream = verified_stream(driver, record, verify=verify, options=options)
    reader = AsyncIteratorReader(stream)
    # Drain before the extraction is committed, so the checksum check at the end of the
    # stream decides whether the result replaces `dest`.
    await anyio.to_thread.run_sync(
        lambda: extract(io.BufferedReader(reader, 1024 * 1024), record.archive, dest,
                        mode=mode, before_commit=reader.drain)
    )
