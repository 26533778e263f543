"""Downloads: files written atomically (large ones as parallel ranges), archives extracted.

What a download guarantees (docs/transfers.md, "Guarantees for downloads"):

- Nothing half-written is ever at the destination: files and extractions are staged
  beside it and renamed into place only after every check passed; on any failure or
  cancellation the staging is removed and an older file there is kept.
- Every kind is checked against the record's CRC32C and size: a stream as it passes, the
  ranges of a large file combined in order, a zip's windows combined in order.
- A download whose object changed meanwhile (size, ETag, CRC32C or modification time
  differ between the first and the last look) fails with `IntegrityError`.
- Every read attempt has deadlines (`_reads.resilient_batches`); a stalled read is
  cancelled and continued from the byte it reached.
"""

from __future__ import annotations

import functools
import io
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import aiofiles
import aiofiles.os
import anyio
import anyio.to_thread
import attrs

from ._archive import extract
from ._bridge import LoopPort, PortReader, run_in_thread
from ._budget import TransferBudget
from ._checksums import combine_all
from ._dirload import load_directory
from ._exceptions import ArtifactNotFoundError, IntegrityError, UnsafeArchiveError
from ._filewrite import write_at, write_chunks_at
from ._load_events import LoadProgress
from ._options import TransferOptions
from ._outcomes import first_error_tasks as _task_group
from ._parts import DEFAULT_PART_SIZE
from ._ranged import WINDOW, RangedFile
from ._reads import (
    check_crc,
    check_size,
    expected_crc,
    resilient_batches,
    stat,
    unchanged,
    verified_stream,
)
from ._records import ArtifactRecord
from ._specs import ArchiveKind
from .abc import Driver, ObjectInfo

__all__ = ["download"]
@asynccontextmanager
async def _staged(dest: Path, mode: int | None) -> AsyncIterator[Path]:
    """A temporary path beside `dest`, renamed to `dest` (with `mode`) if the block
    succeeds and removed if it fails: nothing half-written is ever at `dest`."""
    await aiofiles.os.makedirs(dest.parent, exist_ok=True)
    tmp = _tmp_beside(dest)
    try:
        yield tmp
        if mode is not None:
            await anyio.to_thread.run_sync(os.chmod, tmp, mode)
        await aiofiles.os.replace(tmp, dest)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove, tmp)
        raise


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


#: An object of at most this many bytes is held in memory as it arrives and written by
#: one worker-thread call once it is complete and checked (not one call per chunk).
SMALL_WRITE = 1024 * 1024


def _tmp_beside(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.download-{uuid.uuid4().hex[:12]}"


def _write_whole(dest: Path, chunks: list[bytes], mode: int | None) -> None:
    """`_staged` in one call, for a small object: write beside `dest`, set `mode`, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(dest)
    try:
        fd = _create(tmp)
        try:
            _append(fd, chunks, 0)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise


async def _write_file(chunks: AsyncGenerator[bytes, None], dest: Path, mode: int | None) -> None:
    """Write the verified stream `chunks` to `dest` (staged beside it, renamed at the end).

    The first `SMALL_WRITE` bytes are held as they arrive: an object no larger is written
    by one worker-thread call after its last chunk (and its checks) came, so a small file
    costs one thread hop, not one per chunk plus the staging's.
    """
    held: list[bytes] = []
    size = 0
    async with aclosing(chunks):
        async for chunk in chunks:
            held.append(chunk)
            size += len(chunk)
            if size > SMALL_WRITE:
                break
        else:
            await anyio.to_thread.run_sync(_write_whole, dest, held, mode)
            return
        async with _staged(dest, mode) as tmp:
            # Shielded: a cancellation while the worker thread opens the file (one file
            # of a directory failing cancels the others) would leak the descriptor.
            with anyio.CancelScope(shield=True):
                fd = await anyio.to_thread.run_sync(_create, tmp)
            try:
                position = await anyio.to_thread.run_sync(_append, fd, held, 0)  # one call
                async for chunk in chunks:
                    position = await anyio.to_thread.run_sync(_append, fd, [chunk], position)
            finally:
                os.close(fd)


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)


def _append(fd: int, chunks: list[bytes], offset: int) -> int:
    """Write `chunks` at `offset` of `fd` (in `WRITE_SLICE` slices), free them here in the
    worker thread, and return the offset after them."""
    for chunk in chunks:
        write_at(fd, chunk, offset)
        offset += len(chunk)
    chunks.clear()
    return offset


def _write_at(fd: int, chunks: list[bytes], offset: int) -> int:
    """Write `chunks` one after the other at `offset` of `fd` (in `WRITE_SLICE` slices);
    return their CRC32C.

    Empties `chunks`: their memory is freed here, in the worker thread, not on the loop.
    """
    crc = write_chunks_at(fd, chunks, offset)
    chunks.clear()
    return crc


async def _parallel_file(
    driver: Driver,
    record: ArtifactRecord,
    dest: Path,
    *,
    before: ObjectInfo,
    part_size: int,
    mode: int | None,
    verify: bool,
    options: TransferOptions,
    budget: TransferBudget,
    progress: LoadProgress | None,
) -> None:
    """Download a large object as concurrent ranged reads written at their offsets.

    Each range's CRC32C is computed as it is written; the ranges' CRCs are combined in
    order and checked against the record, and the object is looked at again (it must be
    the one `before` described), before the file is renamed into place.
    """
    key = record.location.key
    size = before.size
    crcs: dict[int, tuple[int, int]] = {}
    writing = anyio.Lock()
    async with _staged(dest, mode) as tmp:
        fd = await anyio.to_thread.run_sync(
            lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        )

        async def fetch(offset: int, length: int) -> None:
            # The chunks are kept as they arrive (no copy on the event loop) and written
            # at their offset by one worker-thread call, which also computes their CRC32C
            # and frees them: one copy per byte, by the kernel. The range holds its slot
            # until written, so at most `max_parts` ranges use threads at once.
            try:
                async with budget.part_slot():
                    # The driver's pieces as they came, in batches (no join on the loop).
                    # A comprehension: no variable of this frame keeps the last batch.
                    chunks = [piece async for batch in resilient_batches(
                        driver, key, offset=offset, length=length, options=options)
                        for piece in batch]
                    filled = sum(len(chunk) for chunk in chunks)
                    if filled != length:
                        raise IntegrityError(
                            f"{driver.describe(key)}: range at {offset} returned {filled} "
                            f"bytes, expected {length} (the object changed during the download)"
                        )
                    # One range is written at a time: the kernel serializes writes to one
                    # file on its inode lock anyway, and threads queueing there spin for
                    # it (measured: 6% of a local load's CPU with 8 ranges in flight).
                    async with writing:
                        crc = await anyio.to_thread.run_sync(_write_at, fd, chunks, offset)
                crcs[offset] = (crc, length)
                if progress is not None:
                    progress.add(length)
            finally:
                budget.release_bytes(length)

        try:
            async with _task_group() as tg:
                for offset in range(0, size, part_size):
                    length = min(part_size, size - offset)
                    await budget.acquire_bytes(length)
                    tg.start_soon(fetch, offset, length)
        finally:
            os.close(fd)
        await unchanged(driver, key, before, options)
        if verify:
            check_crc(driver, record, combine_all(crcs[o] for o in sorted(crcs)))


async def _load_file(driver: Driver, record: ArtifactRecord, dest: Path, *, mode: int | None,
                     verify: bool, options: TransferOptions, budget: TransferBudget,
                     progress: LoadProgress | None = None) -> None:
    part_size = min(options.part_size or DEFAULT_PART_SIZE, budget.max_bytes)
    ranged = options.parallel_downloads and driver.limits.ranged_reads
    if ranged and (record.size is None or record.size > 2 * part_size):
        before = await stat(driver, record.location.key, options)
        if verify:
            check_size(driver, record, before.size)
        if progress is not None:
            progress.learn_size(before.size)
        if before.size > 2 * part_size:
            await _parallel_file(driver, record, dest, before=before, part_size=part_size,
                                 mode=mode, verify=verify, options=options, budget=budget,
                                 progress=progress)
            return
    await _write_file(verified_stream(driver, record, verify=verify, options=options,
                                      progress=progress), dest, mode)


async def _load_tar(driver: Driver, record: ArtifactRecord, dest: Path, *, mode: int | None,
                    verify: bool, options: TransferOptions,
                    progress: LoadProgress | None) -> None:
    stream = verified_stream(driver, record, verify=verify, options=options, progress=progress)
    checked = verify and expected_crc(record) is not None

    def work(port: LoopPort) -> None:
        reader = PortReader(port, stream)
        try:
            # Drained before the extraction is committed, so the checks at the end of the
            # stream decide whether the result replaces `dest`.
            extract(io.BufferedReader(reader, 1024 * 1024), record.archive, dest, mode=mode,
                    before_commit=reader.drain)
        except (IntegrityError, UnsafeArchiveError):
            if checked:
                # A damaged object is an IntegrityError, whatever its bytes made the
                # extraction do: the rest of the stream decides (it raises on a mismatch).
                reader.drain()
            raise

    async with aclosing(stream):
        await run_in_thread(work)


async def _load_zip(driver: Driver, record: ArtifactRecord, dest: Path, *, mode: int | None,
                    verify: bool, options: TransferOptions,
                    progress: LoadProgress | None) -> None:
    key = record.location.key
    before = await stat(driver, key, options)
    if verify:
        check_size(driver, record, before.size)
    if progress is not None:
        progress.learn_size(before.size)
    expected = expected_crc(record) if verify else None

    async def read_range(offset: int, length: int) -> list[bytes]:
        # The chunks as they came: the worker thread joins them (no copy on the loop).
        chunks = []
        filled = 0
        async for batch in resilient_batches(driver, key, offset=offset, length=length,
                                             options=options):
            chunks += batch
            filled += sum(len(piece) for piece in batch)
        if filled != length:
            raise IntegrityError(
                f"{driver.describe(key)}: range at {offset} returned {filled} bytes, "
                f"expected {length} (the object changed during the download)"
            )
        if progress is not None:
            progress.add(length)  # a window read again counts again: these are bytes moved
        return chunks

    def work(port: LoopPort) -> None:
        ranged = RangedFile(lambda offset, length: b"".join(port.call(read_range, offset,
                                                                      length)),
                            before.size, name=driver.describe(key), window=WINDOW)

        def before_commit() -> None:
            if expected is not None:
                ranged.check_crc(expected)
            port.call(unchanged, driver, key, before, options)

        try:
            extract(ranged, record.archive, dest, mode=mode, before_commit=before_commit)
        except (IntegrityError, UnsafeArchiveError):
            if expected is not None:
                ranged.check_crc(expected)  # damage wins over what it made extraction do
            raise

    await run_in_thread(work)


def _stored_mode(metadata: Mapping[str, str]) -> int | None:
    """The permissions a save stored in the object's metadata ("mode", octal), if valid."""
    try:
        mode = int(metadata.get("mode", ""), 8)
    except ValueError:
        return None
    return mode if 0 <= mode <= 0o7777 else None


async def download(driver: Driver, record: ArtifactRecord, dest: Path, *, mode: int | None,
                   verify: bool, options: TransferOptions, budget: TransferBudget,
                   progress: LoadProgress | None = None) -> None:
    """Write `record`'s object to `dest`: a file, or an extracted archive.

    A file larger than two parts, on a backend with ranged reads, is fetched as
    concurrent ranges under `budget`; everything else streams in one read, but a zip,
    which is read in ranges. `progress` gets `download.started` (with the size when
    known), the bytes as they arrive, and `download.complete` once `dest` is in place.
    """
    dest = dest.absolute()  # noqa: ASYNC240 - getcwd only, no file I/O
    # A directory's events count the bytes of all its files.
    load_file = functools.partial(_load_file, progress=progress)
    if record.directory:
        if progress is not None:
            progress.started(record.size, whole=True)
        await load_directory(driver, record, dest, mode=mode, verify=verify, options=options,
                             budget=budget, load_file=load_file)
        if progress is not None:
            progress.complete()
        return
    if record.checksum is None and (verify or mode is None or
                                    record.archive.kind is ArchiveKind.NONE):
        # A key-only input has no recorded checksum: use the backend's whole-object
        # CRC32C when it keeps one. Nor a recorded mode: use the one saved with the object.
        # With archive none, the stat also tells a file from a directory.
        try:
            info = await stat(driver, record.location.key, options)
        except ArtifactNotFoundError:
            if record.archive.kind is not ArchiveKind.NONE:
                raise
            # No object: a directory stored with archive none (ours, with a manifest, or
            # Argo's, found by listing), else not found.
            if progress is not None:
                progress.expect_directory()
            await load_directory(driver, record, dest, mode=mode, verify=verify,
                                 options=options, budget=budget, load_file=load_file,
                                 listing=True)
            if progress is not None:
                progress.complete()
            return
        if mode is None:
            mode = _stored_mode(info.metadata)
        if verify:
            crc = info.checksums.get("crc32c")
            record = attrs.evolve(record, size=info.size,
                                  checksum=f"crc32c:{crc}" if crc is not None else None)
    if progress is not None:
        progress.started(record.size)
    if record.archive.kind is ArchiveKind.NONE:
        await _load_file(driver, record, dest, mode=mode, verify=verify, options=options,
                         budget=budget, progress=progress)
    elif record.archive.kind is ArchiveKind.ZIP:
        await _load_zip(driver, record, dest, mode=mode, verify=verify, options=options,
                        progress=progress)
    else:
        await _load_tar(driver, record, dest, mode=mode, verify=verify, options=options,
                        progress=progress)
    if progress is not None:
        progress.complete()
