"""The upload engine every driver shares.

Parts of every artifact in a save share one budget (parts in flight, bytes held). Each
part is read once, checksummed once in a worker thread, and sent once; transient
failures are retried per request. Multipart uploads are journaled so that a killed
process resumes them, sending only the parts the backend does not already hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import anyio
import anyio.to_thread
import attrs

from ._budget import TransferBudget
from ._checksums import crc32c_combine, part_checksums, s3_multipart_etag
from ._events import ProgressCallback, ProgressEvent
from ._exceptions import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    IntegrityError,
    TransientBackendError,
)
from ._journal import Journal
from ._options import TransferOptions
from ._parts import PartSizer
from ._sources import Source
from .abc import Driver, ObjectInfo, PartChecksums, UploadedPart

__all__ = ["StoredObject", "UploadEngine"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class StoredObject:
    """What an upload produced: size and whole-object CRC32C (hex) of the stored bytes."""

    size: int
    crc32c: str
    parts: int
    resumed_parts: int = 0


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
    """

    buffer: bytearray
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
    crcs: dict[int, tuple[int, int]] = attrs.field(factory=dict)  # number -> (crc, size)
    md5s: dict[int, bytes] = attrs.field(factory=dict)
    held: dict[int, UploadedPart] = attrs.field(factory=dict)  # from a previous run
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
        artifact: str,
        key: str,
        part: int | None = None,
        on: Callable[[Exception], bool] = _retryable,
    ) -> T:
        async for attempt in self.options.retrying(on):
            with attempt:
                if attempt.num > 1:
                    self._emit("upload.retry", artifact, key, part=part, attempt=attempt.num)
                return await fn()
        raise AssertionError("unreachable")  # pragma: no cover

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
        first_size = sizer.part_size(1)
        if source.size is not None and source.size <= threshold:
            first_size = max(source.size, 1)
        first = await self._read(source, first_size)
        at_end = len(first.data) < first_size or (
            source.size is not None and len(first.data) == source.size
        )
        if at_end and len(first.data) <= threshold:
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

    async def _read(self, source: Source, size: int) -> _Read:
        """Read up to `size` bytes into a buffer taken from the budget."""
        buffer = await self.budget.acquire_buffer(size)
        try:
            n = await source.read_into(buffer)
        except BaseException:
            self.budget.release_buffer(buffer)
            raise
        # A short (last) part is copied out so drivers always get a whole buffer.
        return _Read(buffer=buffer, data=buffer if n == size else bytes(buffer[:n]))

    async def _put(
        self,
        driver: Driver,
        key: str,
        read: _Read,
        *,
        artifact: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        data = read.data
        try:
            checks, crc = await anyio.to_thread.run_sync(
                part_checksums, data, driver.limits.checksums
            )
            async with self.budget.part_slot():
                info = await self._call(
                    lambda: driver.put(key, data, checksums=checks, metadata=metadata),
                    artifact=artifact, key=key, on=_part_retryable,
                )
        finally:
            self.budget.release_buffer(read.buffer)
        stored = StoredObject(size=len(data), crc32c=f"{crc:08x}", parts=1)
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
            with anyio.CancelScope(shield=True), contextlib.suppress(BackendError):
                await driver.delete([key])
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
        except BaseException:
            self.budget.release_buffer(first.buffer)
            raise
        try:
            whole_crc, total = await self._send_all(up, source, sizer, first)
            ordered = [up.parts[n] for n in sorted(up.parts)]
            info = await self._complete(up, ordered, total)
        except BaseException as exc:
            await self._abandon(up, exc)
            raise
        stored = StoredObject(
            size=total, crc32c=f"{whole_crc:08x}", parts=len(ordered),
            resumed_parts=len(up.held),
        )
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
            return await self._call(complete, artifact=up.artifact, key=key)
        except ArtifactNotFoundError:
            if attempts < 2:
                raise
            info = await self._call(lambda: driver.stat(key), artifact=up.artifact, key=key)
            if info.size != total:
                raise
            return info

    async def _begin(
        self, up: _Upload, source: Source, sizer: PartSizer, metadata: Mapping[str, str]
    ) -> None:
        """Resume the journaled upload of this key if its source is unchanged, else start."""
        driver, key = up.driver, up.key
        if self.journal is not None:
            entry = await self.journal.find(up.target)
            if entry is not None:
                if entry.fingerprint == source.fingerprint and entry.part_size == sizer.base:
                    try:
                        held = await self._call(
                            lambda: driver.list_parts(key, entry.upload_id),
                            artifact=up.artifact, key=key,
                        )
                    except ArtifactNotFoundError:
                        held = None
                    if held is not None:
                        up.upload_id = entry.upload_id
                        journaled = entry.parts
                        for part in held:
                            # A part counts only if the backend holds it and its checksum is
                            # known (journal or backend), to be compared with the new bytes.
                            crc = part.checksums.get("crc32c") or (
                                journaled[part.number][1] if part.number in journaled
                                and journaled[part.number][0] == part.size else None
                            )
                            if crc is not None:
                                up.held[part.number] = attrs.evolve(
                                    part, checksums={**part.checksums, "crc32c": crc}
                                )
                        return
                with anyio.CancelScope(shield=True):
                    # What cannot be aborted now is found later by the orphan sweep.
                    with contextlib.suppress(ArtifactError):
                        await driver.abort_upload(key, entry.upload_id)
                    await self.journal.forget(up.target)
        up.upload_id = await self._call(
            lambda: driver.start_upload(key, metadata=metadata), artifact=up.artifact, key=key
        )
        if self.journal is not None:
            await self.journal.begin(up.target, up.upload_id, source.fingerprint, sizer.base)

    async def _send_all(
        self, up: _Upload, source: Source, sizer: PartSizer, first: _Read
    ) -> tuple[int, int]:
        kinds = up.driver.limits.checksums
        whole_crc = 0
        offset = 0
        number = 0
        read = first
        async with anyio.create_task_group() as tg:
            while True:
                number += 1
                expected = sizer.part_size(number)
                if number > 1:
                    try:
                        read = await self._read(source, expected)
                    except Exception as exc:
                        # A source that fails (a broken stream, a file that shrank) fails the
                        # upload with its own error, not wrapped in the task group's.
                        up.error = up.error or exc
                        tg.cancel_scope.cancel()
                        break
                data = read.data
                if not data:
                    self.budget.release_buffer(read.buffer)
                    break
                try:
                    checks, crc = await anyio.to_thread.run_sync(part_checksums, data, kinds)
                except BaseException:
                    self.budget.release_buffer(read.buffer)
                    raise
                whole_crc = crc32c_combine(whole_crc, crc, len(data))
                up.crcs[number] = (crc, len(data))
                if checks.md5 is not None:
                    up.md5s[number] = checks.md5
                previous = up.held.get(number)
                if previous is not None and previous.size == len(data) and \
                        int(previous.checksums["crc32c"], 16) == crc:
                    up.parts[number] = previous
                    self.budget.release_buffer(read.buffer)
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
        if up.error is not None:
            raise up.error
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
                    artifact=up.artifact, key=up.key, part=number, on=_part_retryable,
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
            self.budget.release_buffer(pending.read.buffer)

    async def _abandon(self, up: _Upload, exc: BaseException) -> None:
        """After a failure or cancellation: keep the upload journaled for resume, or abort."""
        if not up.upload_id:
            return
        keep = self.journal is not None and not isinstance(exc, IntegrityError)
        if keep:
            return
        with anyio.CancelScope(shield=True):
            # What cannot be aborted now is found later by the orphan sweep.
            with contextlib.suppress(ArtifactError):
                await up.driver.abort_upload(up.key, up.upload_id)
            if self.journal is not None:
                await self.journal.forget(up.target)
