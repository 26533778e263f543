"""What the upload engine's two paths share: the budgeted reads, the retried driver
calls, progress events, best-effort cleanup and the verification of a stored object.

`_transfer` (the single-put path and the dispatcher) and `_multipart` (multipart
uploads) both build on `UploadCore`; neither imports the other's internals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.to_thread
import attrs

from ._budget import TransferBudget
from ._checksums import s3_multipart_etag
from ._events import ProgressCallback, ProgressEvent
from ._exceptions import ArtifactError, IntegrityError, TransientBackendError
from ._journal import Journal
from ._options import TransferOptions
from ._retry import call_with_retries
from ._sources import Source
from .abc import Driver, ObjectInfo

__all__ = ["Read", "StoredObject", "UploadCore", "part_retryable"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class StoredObject:
    """What an upload produced: size and whole-object CRC32C (hex) of the stored bytes."""

    size: int
    crc32c: str


#: Copies of at least this many bytes run in a worker thread, not on the event loop.
_THREAD_COPY = 256 * 1024


def _prefix(buffer: bytearray, n: int) -> bytes:
    return bytes(memoryview(buffer)[:n])


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, TransientBackendError)


def part_retryable(exc: Exception) -> bool:
    """Whether a request sending bytes may be retried.

    A part the backend rejected for a checksum mismatch was damaged in transit: it is
    sent again from the buffer.
    """
    return isinstance(exc, TransientBackendError | IntegrityError)


@attrs.frozen(kw_only=True)
class Read:
    """Bytes read from a source into a buffer held from the budget until released.

    `data` is the buffer itself, or for a short last part a copy of its filled prefix.
    `buffer` is None for a small file's bytes (never pooled): `len(data)` bytes are held.
    """

    buffer: bytearray | None
    data: bytes | bytearray


class UploadCore:
    """The budget, journal and progress callback of an engine, and the helpers its
    single-put and multipart paths share."""

    def __init__(
        self,
        options: TransferOptions,
        *,
        budget: TransferBudget | None = None,
        journal: Journal | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.options = options
        self.budget = budget or TransferBudget(
            max_parts=options.max_parts_in_flight, max_bytes=options.max_buffer_bytes
        )
        self.journal = journal
        self._on_progress = on_progress

    def emit(self, name: str, artifact: str, key: str, **fields: object) -> None:
        """Send a progress event to the callback, if there is one."""
        if self._on_progress is not None:
            self._on_progress(ProgressEvent(name=name, artifact=artifact, key=key, **fields))  # type: ignore[arg-type]

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        op: str,
        artifact: str,
        key: str,
        nbytes: int | None = None,
        part: int | None = None,
        on: Callable[[Exception], bool] = _retryable,
        then: Callable[[T], Awaitable[None]] | None = None,
    ) -> T:
        """Call the driver with retries (`_retry`); each attempt has a deadline for
        `nbytes` bytes, and `then` runs shielded with it."""
        return await call_with_retries(
            self.options, fn, what=f"{op} of {key!r}", nbytes=nbytes, on=on, then=then,
            on_retry=lambda attempt: self.emit("upload.retry", artifact, key, part=part,
                                               attempt=attempt),
        )

    async def cleanup(
        self, driver: Driver, key: str, op: str, fn: Callable[[], Awaitable[object]]
    ) -> None:
        """Best-effort cleanup, shielded from cancellation but bounded by a deadline.

        What cannot be cleaned up now is found later by the orphan sweep.
        """
        with anyio.CancelScope(shield=True), contextlib.suppress(ArtifactError), \
                self.options.deadline(None, f"{op} of {key!r}"):
            await fn()

    def release(self, read: Read) -> None:
        """Give the bytes of `read` back to the budget."""
        if read.buffer is None:
            self.budget.release_bytes(len(read.data))
        else:
            self.budget.release_buffer(read.buffer)

    async def read(self, source: Source, size: int) -> Read:
        """Read up to `size` bytes into a buffer taken from the budget."""
        buffer = await self.budget.acquire_buffer(size)
        try:
            n = await source.read_into(buffer)
            # A short (last) part is copied out so drivers always get a whole buffer: one
            # copy, in a worker thread when it is large (a part copied on the loop stalls
            # it for milliseconds).
            if n == size:
                data: bytes | bytearray = buffer
            elif n >= _THREAD_COPY:
                data = await anyio.to_thread.run_sync(_prefix, buffer, n)
            else:
                data = _prefix(buffer, n)
        except BaseException:
            self.budget.release_buffer(buffer)
            raise
        return Read(buffer=buffer, data=data)

    async def verify(
        self,
        driver: Driver,
        key: str,
        info: ObjectInfo,
        stored: StoredObject,
        md5s: list[bytes] | None,
        *,
        multipart: bool,
    ) -> None:
        """Raise `IntegrityError`, after deleting the object, if the backend's report of
        it does not match what was sent."""
        problems = []
        if info.size != stored.size:
            problems.append(f"size {info.size}, sent {stored.size}")
        reported_crc = info.checksums.get("crc32c")
        if reported_crc is not None and int(reported_crc, 16) != int(stored.crc32c, 16):
            problems.append(f"CRC32C {reported_crc}, sent {stored.crc32c}")
        if driver.limits.s3_multipart_etag and info.etag and md5s is not None:
            etag = info.etag.strip('"')
            expected = s3_multipart_etag(md5s) if multipart else md5s[0].hex()
            if ("-" in etag) == multipart and etag != expected:
                problems.append(f"ETag {etag}, expected {expected}")
        if problems:
            # Invariant: nothing that failed verification stays under its final key.
            await self.cleanup(driver, key, "delete", lambda: driver.delete([key]))
            raise IntegrityError(
                f"{driver.describe(key)}: the backend stored something else ({'; '.join(problems)})"
                "; the object was deleted"
            )
