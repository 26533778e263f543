"""Reading stored objects: reads that survive faults and stalls, verified streams.

Every read attempt has deadlines (see `resilient_read`), every `stat` too; a missed
deadline is a `TransientBackendError`, retried like any other, and a read retried after
it continues from the byte it reached.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

import anyio
import anyio.to_thread

from ._checksums import crc32c
from ._exceptions import ConfigurationError, IntegrityError, TransientBackendError
from ._load_events import LoadProgress
from ._options import TransferOptions
from ._records import ArtifactRecord
from .abc import Driver, ObjectInfo

__all__ = ["BATCH", "check_crc", "check_size", "expected_crc", "resilient_batches",
           "resilient_read", "stat", "unchanged", "verified_stream"]

_THREAD_CRC = 256 * 1024


def expected_crc(record: ArtifactRecord) -> int | None:
    """The record's CRC32C, or None when it names none."""
    algorithm, _, digest = (record.checksum or "").partition(":")
    if algorithm != "crc32c":
        return None
    try:
        return int(digest, 16)
    except ValueError:
        raise ConfigurationError(
            f"artifact {record.name!r}: checksum {record.checksum!r} is not crc32c:<hex>"
        ) from None


def check_crc(driver: Driver, record: ArtifactRecord, value: int) -> None:
    expected = expected_crc(record)
    if expected is not None and expected != value:
        raise IntegrityError(
            f"{driver.describe(record.location.key)}: CRC32C {value:08x} does not match the "
            f"record's {expected:08x}"
        )


def check_size(driver: Driver, record: ArtifactRecord, size: int) -> None:
    if record.size is not None and size != record.size:
        raise IntegrityError(
            f"{driver.describe(record.location.key)} is {size} bytes, the record says "
            f"{record.size} (the object changed after it was saved)"
        )


async def stat(driver: Driver, key: str, options: TransferOptions) -> ObjectInfo:
    """`driver.stat`, retried on transient failures, each attempt under a deadline."""
    async for attempt in options.retrying(TransientBackendError):
        with attempt, options.deadline(None, f"stat of {driver.describe(key)}"):
            return await driver.stat(key)
    raise AssertionError("unreachable: the retry loop returns or raises")


async def unchanged(driver: Driver, key: str, before: ObjectInfo,
                     options: TransferOptions) -> None:
    """Raise `IntegrityError` if `key` is no longer the object `before` described."""
    after = await stat(driver, key, options)
    if (after.size, after.etag, after.checksums.get("crc32c"), after.modified) != \
            (before.size, before.etag, before.checksums.get("crc32c"), before.modified):
        raise IntegrityError(
            f"{driver.describe(key)} changed during the download (it was {before.size} "
            f"bytes, etag {before.etag}; now {after.size} bytes, etag {after.etag})"
        )


async def _aclose(chunks: AsyncIterator[bytes]) -> None:
    """Close a driver's read (and the backend response under it) now, even when cancelled,
    rather than at garbage collection."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with anyio.CancelScope(shield=True):
            await aclose()


#: The bytes a read gathers from a driver's pieces before handing them on: one deadline,
#: one consumer step (a range's write, a stream's join) per batch rather than per piece.
BATCH = 1024 * 1024
#: A piece at least this large is handed on as it is by `resilient_read`; smaller ones are
#: joined (up to `BATCH`), so a stream's consumer never works per small piece.
_WHOLE = 256 * 1024


async def resilient_batches(
    driver: Driver, key: str, *, offset: int, length: int | None, options: TransferOptions,
    size: int | None = None, batch: int = BATCH,
) -> AsyncGenerator[list[bytes], None]:
    """`driver.read`, re-opened where it stopped after a transient failure or a stall,
    in lists of the driver's pieces (as it yields them, never copied) of about `batch`
    bytes (the last one and one cut short by a missed deadline may be less).

    Bytes already yielded are never yielded again: a retry continues at the offset reached.
    Each attempt waits at most `options.attempt_timeout(batch)` for each batch (an idle
    deadline: a stalled connection), and at most `options.attempt_timeout(n)` in all for
    its `n` bytes when `n` is known (`length`, or `size` for a whole object). Only the
    time spent waiting for the backend counts, not the consumer's. A missed deadline
    hands on what the batch holds, then fails the attempt as a `TransientBackendError`.

    Drivers may yield pieces as small as the network delivers them (aiohttp's are often
    32 KiB): the deadline and the consumer's bookkeeping come once per batch.
    """
    position = 0
    what = f"read of {driver.describe(key)}"
    idle = options.attempt_timeout(batch)
    async for attempt in options.retrying(TransientBackendError):
        with attempt:
            start = offset + position
            if offset < 0 and position:
                # A suffix read that broke off: continue from an absolute offset.
                total = (await stat(driver, key, options)).size
                start = max(0, total + offset) + position
            remaining = None if length is None else length - position
            if remaining == 0:
                return
            expected = remaining if remaining is not None else \
                None if size is None else max(0, size - position)
            left = math.inf if expected is None else options.attempt_timeout(expected)
            chunks = driver.read(key, offset=start, length=remaining)
            try:
                done = False
                while not done:
                    pieces: list[bytes] = []
                    held = 0
                    limit = max(0.0, min(idle, left))
                    began = anyio.current_time()
                    # One cancel scope per batch, not per piece: with a scope per 32 KiB
                    # piece, handing pieces on unjoined measured no cheaper than the join.
                    with anyio.move_on_after(limit) as scope:
                        try:
                            while held < batch:
                                piece = await anext(chunks)
                                pieces.append(piece)
                                held += len(piece)
                        except StopAsyncIteration:
                            done = True
                    left -= anyio.current_time() - began
                    position += held
                    start += held
                    if pieces:
                        yield pieces
                    if scope.cancelled_caught:
                        got = f"only {held} bytes" if held else "no data"
                        raise TransientBackendError(
                            f"{what}: {got} within {limit:.1f} s at byte {start - held} "
                            "(a stalled connection?)"
                        )
            finally:
                await _aclose(chunks)


async def resilient_read(
    driver: Driver, key: str, *, offset: int, length: int | None, options: TransferOptions,
    size: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """`resilient_batches` (its retries and deadlines) as a stream of chunks: a piece of
    at least 256 KiB as it is, smaller neighbours joined (on the loop, up to 1 MiB)."""
    batches = resilient_batches(driver, key, offset=offset, length=length, options=options,
                                size=size)
    async with aclosing(batches):
        async for pieces in batches:
            if len(pieces) == 1:
                yield pieces[0]
                continue
            small: list[bytes] = []
            for piece in pieces:
                if len(piece) < _WHOLE:
                    small.append(piece)
                    continue
                if small:
                    yield _joined(small)
                    small = []
                yield piece
            if small:
                yield _joined(small)


def _joined(pieces: list[bytes]) -> bytes:
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


async def verified_stream(
    driver: Driver,
    record: ArtifactRecord,
    *,
    offset: int = 0,
    length: int | None = None,
    verify: bool = True,
    options: TransferOptions | None = None,
    progress: LoadProgress | None = None,
) -> AsyncGenerator[bytes, None]:
    """Stream the object of `record`; when reading it whole, check its recorded size and
    checksum. `progress` counts each chunk's bytes.

    A mismatch raises `IntegrityError` after the last chunk, so consumers must treat the
    data as unconfirmed until the iterator ends. A directory stored with archive none
    has no single object to stream: `ConfigurationError`.
    """
    key = record.location.key
    if record.directory:
        raise ConfigurationError(
            f"artifact {record.name!r} is a directory stored with archive 'none' (one object "
            "per file): load it with load_inputs, or stream one of its files by its key"
        )
    whole = offset == 0 and length is None
    check = verify and whole
    expected = expected_crc(record) if check else None
    value = 0
    size = 0
    chunks = resilient_read(driver, key, offset=offset, length=length,
                            options=options or TransferOptions(),
                            size=record.size if whole else None)
    async with aclosing(chunks):
        async for chunk in chunks:
            if expected is not None:
                if len(chunk) >= _THREAD_CRC:
                    value = await anyio.to_thread.run_sync(crc32c, chunk, value)
                else:
                    value = crc32c(chunk, value)
            size += len(chunk)
            if progress is not None:
                progress.add(len(chunk))
            yield chunk
    if check:
        check_size(driver, record, size)
        check_crc(driver, record, value)


