"""The upload engine every driver shares.

Parts of every artifact in a save share one budget (parts in flight, bytes held). Each
part is read once, checksummed once in a worker thread, and sent once; transient
failures are retried per request. Multipart uploads are journaled so that a killed
process resumes them, sending only the parts the backend does not already hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
import attrs

from ._budget import POOL_MIN as SMALL_FILE
from ._budget import TransferBudget
from ._checksums import crc32c_combine, part_checksums, s3_multipart_etag
from ._events import ProgressCallback, ProgressEvent
from ._exceptions import (
    ArtifactError,
    ArtifactNotFoundError,
    IntegrityError,
    SourceChangedError,
    TransientBackendError,
)
from ._journal import Journal, JournalEntry
from ._options import TransferOptions
from ._parts import PartSizer
from ._retry import call_with_retries
from ._sources import FileSource, Source, open_or_load, open_source
from ._specs import Archive, ArchiveKind
from .abc import Driver, ObjectInfo, PartChecksums, UploadedPart

__all__ = ["StoredObject", "UploadEngine"]

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


def _part_retryable(exc: Exception) -> bool:
    # A part the backend rejected for a checksum mismatch was damaged in transit:
    # send it again from the buffer.
    return isinstance(exc, TransientBackendError | IntegrityError)


@attrs.frozen(kw_only=True)
class _Read:
    """Bytes read from a source into a buffer held from the budget until released.

    `data` is the buffer itself, or for a short last part a copy of its filled prefix.
    `buffer` is None for a small file's bytes (never pooled): `len(data)` bytes are held.
    """

    buffer: bytearray | None
    data: bytes | bytearray


@attrs.frozen(kw_only=True)
class _PendingPart:
    """A part read and checksummed, waiting for an in-flight slot."""

    number: int
    offset: int
    read: _Read
    checks: PartChecksums
    crc: int


@attrs.define
class _Upload:
    """Mutable state of one multipart upload."""

    driver: Driver
    key: str
    artifact: str
    target: str
    upload_id: str = ""
    parts: dict[int, UploadedPart] = attrs.field(factory=dict)
    md5s: dict[int, bytes] = attrs.field(factory=dict)
    held: dict[int, UploadedPart] = attrs.field(factory=dict)  # from a previous run
    journaled: bool = False  # the journal holds this upload id
    sent: int = 0
    error: BaseException | None = None


class UploadEngine:
    """Uploads sources to drivers under one `TransferBudget`."""

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

    def _emit(self, name: str, artifact: str, key: str, **fields: object) -> None:
        if self._on_progress is not None:
            self._on_progress(ProgressEvent(name=name, artifact=artifact, key=key, **fields))  # type: ignore[arg-type]

    async def _call(
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
            on_retry=lambda attempt: self._emit("upload.retry", artifact, key, part=part,
                                                attempt=attempt),
        )

    async def _cleanup(
        self, driver: Driver, key: str, op: str, fn: Callable[[], Awaitable[object]]
    ) -> None:
        """Best-effort cleanup, shielded from cancellation but bounded by a deadline.

        What cannot be cleaned up now is found later by the orphan sweep.
        """
        with anyio.CancelScope(shield=True), contextlib.suppress(ArtifactError), \
                self.options.deadline(None, f"{op} of {key!r}"):
            await fn()

    async def upload(
        self,
        driver: Driver,
        key: str,
        source: Source,
        *,
        artifact: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Upload `source` to `key`; return what was stored, verified.

        Raises `IntegrityError` when the backend's report does not match what was sent,
        `BackendError` subclasses for backend failures (after retries), and
        `TransferError` for planning problems.
        """
        metadata = dict(metadata or {})
        limits = driver.limits
        sizer = PartSizer(source.size, limits, self.options)
        self._emit("upload.started", artifact, key, size=source.size)
        threshold = min(self.options.single_put_threshold, limits.max_single_put)
        if isinstance(source, FileSource) and source.size is not None and \
                source.size <= threshold:
            # The small-file path: one worker-thread call reads, re-checks and checksums.
            buffer = await self.budget.acquire_buffer(source.size)
            try:
                precomputed = await source.read_whole(buffer, limits.checksums)
            except BaseException:
                self.budget.release_buffer(buffer)
                raise
            stored = await self._put(driver, key, _Read(buffer=buffer, data=buffer),
                                     artifact=artifact, metadata=metadata,
                                     precomputed=precomputed)
            self._emit("upload.complete", artifact, key, transferred=stored.size,
                       size=stored.size)
            return stored
        first_size = sizer.part_size(1)
        if source.size is not None and source.size <= threshold:
            first_size = max(source.size, 1)
        first = await self._read(source, first_size)
        at_end = len(first.data) < first_size or (
            source.size is not None and len(first.data) == source.size
        )
        if at_end and len(first.data) <= threshold:
            try:
                # Every byte is read: the source must still be what was read.
                await source.check_unchanged()
            except BaseException:
                self._release(first)
                raise
            stored = await self._put(driver, key, first, artifact=artifact, metadata=metadata)
            self._emit("upload.complete", artifact, key, transferred=stored.size,
                       size=stored.size)
            return stored
        # The first part's buffer stays held: it is handed to the multipart loop.
        stored = await self._multipart(
            driver, key, source, sizer=sizer, first=first, artifact=artifact, metadata=metadata
        )
        self._emit("upload.complete", artifact, key, transferred=stored.size, size=stored.size)
        return stored

    def _release(self, read: _Read) -> None:
        if read.buffer is None:
            self.budget.release_bytes(len(read.data))
        else:
            self.budget.release_buffer(read.buffer)

    async def upload_path(
        self,
        driver: Driver,
        key: str,
        path: Path,
        archive: Archive,
        *,
        artifact: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        """Upload the file or directory at `path`, stored as `archive`; as `upload`.

        The small-file path: a file that goes in one request (up to the single-put
        threshold) is opened, read, checked unchanged and checksummed in one worker-thread
        call, into a buffer of its own size (never pooled), and sent in one request. The
        bytes are taken from the budget before the call and the unused rest given back
        after it: the whole threshold when that much is free at once, else only
        `SMALL_FILE` (1 MiB), so that a busy budget is never waited on for bytes a small
        file does not need; a larger file then takes a second hop to be read.
        """
        if archive.kind is not ArchiveKind.NONE:
            async with open_source(path, archive) as source:
                return await self.upload(driver, key, source, artifact=artifact,
                                         metadata=metadata)
        limit = self.one_hop_limit(driver)
        if not self.budget.try_acquire_bytes(limit):
            limit = min(limit, SMALL_FILE)
            await self.budget.acquire_bytes(limit)
        try:
            opened = await open_or_load(path, limit=limit, kinds=driver.limits.checksums)
        except BaseException:
            self.budget.release_bytes(limit)
            raise
        if isinstance(opened, FileSource):
            self.budget.release_bytes(limit)
            try:
                return await self.upload(driver, key, opened, artifact=artifact,
                                         metadata=metadata)
            finally:
                opened.close()
        read = _Read(buffer=None, data=opened.data)
        self.budget.release_bytes(limit - len(read.data))
        try:
            self._emit("upload.started", artifact, key, size=len(read.data))
        except BaseException:
            self._release(read)
            raise
        stored = await self._put(driver, key, read, artifact=artifact, metadata=metadata,
                                 precomputed=(opened.checks, opened.crc))
        self._emit("upload.complete", artifact, key, transferred=stored.size, size=stored.size)
        return stored

    def one_hop_limit(self, driver: Driver) -> int:
        """The largest file `upload_path` may read in the thread hop that opens it: the
        single-put threshold, at most an eighth of the budget."""
        threshold = min(self.options.single_put_threshold, driver.limits.max_single_put)
        return max(1, min(threshold, self.budget.max_bytes // 8))

    async def _read(self, source: Source, size: int) -> _Read:
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
        return _Read(buffer=buffer, data=data)

    async def _put(
        self,
        driver: Driver,
        key: str,
        read: _Read,
        *,
        artifact: str,
        metadata: Mapping[str, str],
        precomputed: tuple[PartChecksums, int] | None = None,
    ) -> StoredObject:
        data = read.data
        try:
            if precomputed is None:
                precomputed = await anyio.to_thread.run_sync(
                    part_checksums, data, driver.limits.checksums
                )
            checks, crc = precomputed
            async with self.budget.part_slot():
                info = await self._call(
                    lambda: driver.put(key, data, checksums=checks, metadata=metadata),
                    op="put", artifact=artifact, key=key, nbytes=len(data), on=_part_retryable,
                )
        finally:
            self._release(read)
        stored = StoredObject(size=len(data), crc32c=f"{crc:08x}")
        await self._verify(driver, key, info, stored, [checks.md5] if checks.md5 else None,
                           multipart=False)
        return stored

    async def _verify(
        self,
        driver: Driver,
        key: str,
        info: ObjectInfo,
        stored: StoredObject,
        md5s: list[bytes] | None,
        *,
        multipart: bool,
    ) -> None:
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
            await self._cleanup(driver, key, "delete", lambda: driver.delete([key]))
            raise IntegrityError(
                f"{driver.describe(key)}: the backend stored something else ({'; '.join(problems)})"
                "; the object was deleted"
            )

    async def _multipart(
        self,
        driver: Driver,
        key: str,
        source: Source,
        *,
        sizer: PartSizer,
        first: _Read,
        artifact: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        up = _Upload(driver=driver, key=key, artifact=artifact, target=driver.describe(key))
        try:
            await self._begin(up, source, sizer, metadata)
        except BaseException as exc:
            self._release(first)
            await self._abandon(up, exc)
            raise
        try:
            whole_crc, total = await self._send_all(up, source, sizer, first)
            # Every byte is sent: the source must still be what was read, else the
            # parts may mix two versions.
            await source.check_unchanged()
            ordered = [up.parts[n] for n in sorted(up.parts)]
            info = await self._complete(up, ordered, total)
        except BaseException as exc:
            await self._abandon(up, exc)
            raise
        stored = StoredObject(size=total, crc32c=f"{whole_crc:08x}")
        md5s = [up.md5s[n] for n in sorted(up.parts)] if len(up.md5s) == len(up.parts) else None
        if self.journal is not None:
            with anyio.CancelScope(shield=True):
                await self.journal.forget(up.target)
        await self._verify(driver, key, info, stored, md5s, multipart=True)
        return stored

    async def _complete(self, up: _Upload, ordered: list[UploadedPart], total: int) -> ObjectInfo:
        """Complete the upload; if a retried completion finds the upload gone because the
        first attempt succeeded (its answer was lost), accept the object it made.

        The object is verified by the caller either way.
        """
        driver, key = up.driver, up.key
        attempts = 0

        async def complete() -> ObjectInfo:
            nonlocal attempts
            attempts += 1
            return await driver.complete_upload(key, up.upload_id, ordered)

        try:
            return await self._call(complete, op="complete_upload", artifact=up.artifact,
                                    key=key, nbytes=total)
        except ArtifactNotFoundError:
            if attempts < 2:
                raise
            info = await self._call(lambda: driver.stat(key), op="stat", artifact=up.artifact,
                                    key=key)
            if info.size != total:
                raise
            return info

    async def _begin(
        self, up: _Upload, source: Source, sizer: PartSizer, metadata: Mapping[str, str]
    ) -> None:
        """Resume the journaled upload of this key if its source is unchanged, else start."""
        if self.journal is not None and await self._resume(up, source, sizer):
            return
        await self._start(up, source, sizer, metadata)

    async def _resume(self, up: _Upload, source: Source, sizer: PartSizer) -> bool:
        """Adopt the journaled upload of `up.target` if it was for this very source, with
        the same part size, and the backend still holds it; else discard it."""
        assert self.journal is not None
        entry = await self.journal.find(up.target)
        if entry is None:
            return False
        if entry.fingerprint == source.fingerprint and entry.part_size == sizer.base:
            held = await self._reconcile(up, entry)
            if held is not None:
                up.upload_id = entry.upload_id
                up.held = held
                up.journaled = True
                return True
        await self._discard(up, entry.upload_id)
        return False

    async def _reconcile(self, up: _Upload, entry: JournalEntry) -> dict[int, UploadedPart] | None:
        """The parts of a journaled upload that can be reused, or None if it is gone.

        A part counts only if the backend holds it and its checksum is known (from the
        backend, else from the journal for a part of the same size), to be compared with
        the new bytes before it is reused.
        """
        try:
            listed = await self._call(
                lambda: up.driver.list_parts(up.key, entry.upload_id),
                op="list_parts", artifact=up.artifact, key=up.key,
            )
        except ArtifactNotFoundError:
            return None
        held = {}
        for part in listed:
            journaled = entry.parts.get(part.number)
            crc = part.checksums.get("crc32c") or (
                journaled[1] if journaled is not None and journaled[0] == part.size else None
            )
            if crc is not None:
                held[part.number] = attrs.evolve(part, checksums={**part.checksums, "crc32c": crc})
        return held

    async def _start(
        self, up: _Upload, source: Source, sizer: PartSizer, metadata: Mapping[str, str]
    ) -> None:
        """Start a fresh upload and journal it.

        Invariant: an upload the backend created is journaled (or, without a journal,
        known to `_abandon`) even if the save is cancelled meanwhile: the start and its
        bookkeeping run shielded, each attempt bounded by its deadline.
        """

        async def adopt(upload_id: str) -> None:
            up.upload_id = upload_id
            if self.journal is not None:
                await self.journal.begin(up.target, upload_id, source.fingerprint, sizer.base)
                up.journaled = True

        await self._call(
            lambda: up.driver.start_upload(up.key, metadata=metadata),
            op="start_upload", artifact=up.artifact, key=up.key, then=adopt,
        )

    async def _discard(self, up: _Upload, upload_id: str) -> None:
        """Abort an upload and forget its journal entry, even under cancellation."""
        await self._cleanup(up.driver, up.key, "abort_upload",
                            lambda: up.driver.abort_upload(up.key, upload_id))
        if self.journal is not None:
            with anyio.CancelScope(shield=True):
                await self.journal.forget(up.target)

    async def _send_all(
        self, up: _Upload, source: Source, sizer: PartSizer, first: _Read
    ) -> tuple[int, int]:
        """Read, checksum and send every part; return the whole CRC32C and the size.

        The first error (of a read or of a part) cancels the rest and is raised as itself,
        never wrapped in an exception group.
        """
        result = (0, 0)
        async with anyio.create_task_group() as tg:
            try:
                result = await self._read_parts(up, source, sizer, first, tg)
            except Exception as exc:
                if up.error is None:
                    up.error = exc
                tg.cancel_scope.cancel()
        if up.error is not None:
            raise up.error
        return result

    async def _read_parts(
        self,
        up: _Upload,
        source: Source,
        sizer: PartSizer,
        first: _Read,
        tg: anyio.abc.TaskGroup,
    ) -> tuple[int, int]:
        """Read each part, reuse it if the backend holds it already, else start sending it."""
        kinds = up.driver.limits.checksums
        whole_crc = 0
        offset = 0
        number = 0
        read = first
        while True:
            number += 1
            if number > 1:
                read = await self._read(source, sizer.part_size(number))
            assert read.buffer is not None  # parts are read into budget buffers
            expected = len(read.buffer)
            data = read.data
            if not data:
                self._release(read)
                break
            try:
                checks, crc = await anyio.to_thread.run_sync(part_checksums, data, kinds)
            except BaseException:
                self._release(read)
                raise
            whole_crc = crc32c_combine(whole_crc, crc, len(data))
            if checks.md5 is not None:
                up.md5s[number] = checks.md5
            previous = up.held.get(number)
            if previous is not None and previous.size == len(data) and \
                    int(previous.checksums["crc32c"], 16) == crc:
                up.parts[number] = previous
                self._release(read)
            else:
                up.held.pop(number, None)
                pending = _PendingPart(number=number, offset=offset, read=read,
                                       checks=checks, crc=crc)
                tg.start_soon(self._send_part, tg, up, pending)
            offset += len(data)
            if up.error is not None or len(data) < expected or (
                source.size is not None and offset >= source.size
            ):
                break
        return whole_crc, offset

    async def _send_part(
        self,
        tg: anyio.abc.TaskGroup,
        up: _Upload,
        pending: _PendingPart,
    ) -> None:
        number, offset, data, checks, crc = (
            pending.number, pending.offset, pending.read.data, pending.checks, pending.crc,
        )
        try:
            async with self.budget.part_slot():
                part = await self._call(
                    lambda: up.driver.upload_part(
                        up.key, up.upload_id, number, data, offset=offset, checksums=checks
                    ),
                    op=f"upload_part {number}", artifact=up.artifact, key=up.key,
                    nbytes=len(data), part=number, on=_part_retryable,
                )
            crc_hex = f"{crc:08x}"
            up.parts[number] = attrs.evolve(part, checksums={**part.checksums, "crc32c": crc_hex})
            if self.journal is not None:
                await self.journal.record_part(up.target, number, len(data), crc_hex)
            up.sent += len(data)
            self._emit("upload.part.complete", up.artifact, up.key, part=number,
                       bytes=len(data), transferred=up.sent)
        except Exception as exc:
            if up.error is None:
                up.error = exc
            tg.cancel_scope.cancel()
        finally:
            self._release(pending.read)

    async def _abandon(self, up: _Upload, exc: BaseException) -> None:
        """After a failure or cancellation: keep the upload journaled for resume, or abort.

        An upload whose parts cannot be trusted (an integrity failure, a changed source)
        is aborted even with a journal.
        """
        if not up.upload_id:
            return
        keep = up.journaled and not isinstance(exc, IntegrityError | SourceChangedError)
        if not keep:
            await self._discard(up, up.upload_id)
