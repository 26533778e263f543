"""Multipart uploads: starting or resuming an upload, planning and sending its parts,
completing it, and aborting it after a failure.

Multipart uploads are journaled so that a killed process resumes them, sending only the
parts the backend does not already hold. The engine (`_transfer`) hands over a source
whose first part it has read; `upload_multipart` does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import anyio.abc
import anyio.to_thread
import attrs

from ._checksums import crc32c_combine, part_checksums
from ._exceptions import ArtifactNotFoundError, IntegrityError, SourceChangedError
from ._journal import JournalEntry
from ._parts import PartSizer
from ._sources import Source
from ._upload_core import Read, StoredObject, UploadCore, part_retryable
from .abc import Driver, ObjectInfo, PartChecksums, UploadedPart

__all__ = ["upload_multipart"]


async def upload_multipart(
    core: UploadCore,
    driver: Driver,
    key: str,
    source: Source,
    *,
    sizer: PartSizer,
    first: Read,
    artifact: str,
    metadata: Mapping[str, str],
) -> StoredObject:
    """Upload `source` to `key` in parts, `first` (held from the budget) being the first
    part already read; return what was stored, verified.

    `first` is released whatever happens. Raises as `UploadEngine.upload`.
    """
    up = _Upload(core=core, driver=driver, key=key, artifact=artifact,
                 target=driver.describe(key))
    return await up.run(source, sizer, first, metadata)


@attrs.frozen(kw_only=True)
class _PendingPart:
    """A part read and checksummed, waiting for an in-flight slot."""

    number: int
    offset: int
    read: Read
    checks: PartChecksums
    crc: int


@attrs.define(kw_only=True)
class _Upload:
    """One multipart upload: its mutable state and the steps that drive it."""

    core: UploadCore
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

    async def run(
        self, source: Source, sizer: PartSizer, first: Read, metadata: Mapping[str, str]
    ) -> StoredObject:
        core = self.core
        try:
            await self._begin(source, sizer, metadata)
        except BaseException as exc:
            core.release(first)
            await self._abandon(exc)
            raise
        try:
            whole_crc, total = await self._send_all(source, sizer, first)
            # Every byte is sent: the source must still be what was read, else the
            # parts may mix two versions.
            await source.check_unchanged()
            ordered = [self.parts[n] for n in sorted(self.parts)]
            info = await self._complete(ordered, total)
        except BaseException as exc:
            await self._abandon(exc)
            raise
        stored = StoredObject(size=total, crc32c=f"{whole_crc:08x}")
        md5s = ([self.md5s[n] for n in sorted(self.parts)]
                if len(self.md5s) == len(self.parts) else None)
        if core.journal is not None:
            with anyio.CancelScope(shield=True):
                await core.journal.forget(self.target)
        await core.verify(self.driver, self.key, info, stored, md5s, multipart=True)
        return stored

    async def _complete(self, ordered: list[UploadedPart], total: int) -> ObjectInfo:
        """Complete the upload; if a retried completion finds the upload gone because the
        first attempt succeeded (its answer was lost), accept the object it made.

        The object is verified by the caller either way.
        """
        driver, key = self.driver, self.key
        attempts = 0

        async def complete() -> ObjectInfo:
            nonlocal attempts
            attempts += 1
            return await driver.complete_upload(key, self.upload_id, ordered)

        try:
            return await self.core.call(complete, op="complete_upload", artifact=self.artifact,
                                        key=key, nbytes=total)
        except ArtifactNotFoundError:
            if attempts < 2:
                raise
            info = await self.core.call(lambda: driver.stat(key), op="stat",
                                        artifact=self.artifact, key=key)
            if info.size != total:
                raise
            return info

    async def _begin(self, source: Source, sizer: PartSizer, metadata: Mapping[str, str]) -> None:
        """Resume the journaled upload of this key if its source is unchanged, else start."""
        if self.core.journal is not None and await self._resume(source, sizer):
            return
        await self._start(source, sizer, metadata)

    async def _resume(self, source: Source, sizer: PartSizer) -> bool:
        """Adopt the journaled upload of `target` if it was for this very source, with
        the same part size, and the backend still holds it; else discard it."""
        journal = self.core.journal
        assert journal is not None
        entry = await journal.find(self.target)
        if entry is None:
            return False
        if entry.fingerprint == source.fingerprint and entry.part_size == sizer.base:
            held = await self._reconcile(entry)
            if held is not None:
                self.upload_id = entry.upload_id
                self.held = held
                self.journaled = True
                return True
        await self._discard(entry.upload_id)
        return False

    async def _reconcile(self, entry: JournalEntry) -> dict[int, UploadedPart] | None:
        """The parts of a journaled upload that can be reused, or None if it is gone.

        A part counts only if the backend holds it and its checksum is known (from the
        backend, else from the journal for a part of the same size), to be compared with
        the new bytes before it is reused.
        """
        try:
            listed = await self.core.call(
                lambda: self.driver.list_parts(self.key, entry.upload_id),
                op="list_parts", artifact=self.artifact, key=self.key,
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

    async def _start(self, source: Source, sizer: PartSizer, metadata: Mapping[str, str]) -> None:
        """Start a fresh upload and journal it.

        Invariant: an upload the backend created is journaled (or, without a journal,
        known to `_abandon`) even if the save is cancelled meanwhile: the start and its
        bookkeeping run shielded, each attempt bounded by its deadline.
        """
        journal = self.core.journal

        async def adopt(upload_id: str) -> None:
            self.upload_id = upload_id
            if journal is not None:
                await journal.begin(self.target, upload_id, source.fingerprint, sizer.base)
                self.journaled = True

        await self.core.call(
            lambda: self.driver.start_upload(self.key, metadata=metadata),
            op="start_upload", artifact=self.artifact, key=self.key, then=adopt,
        )

    async def _discard(self, upload_id: str) -> None:
        """Abort an upload and forget its journal entry, even under cancellation."""
        await self.core.cleanup(self.driver, self.key, "abort_upload",
                                lambda: self.driver.abort_upload(self.key, upload_id))
        if self.core.journal is not None:
            with anyio.CancelScope(shield=True):
                await self.core.journal.forget(self.target)

    async def _send_all(self, source: Source, sizer: PartSizer, first: Read) -> tuple[int, int]:
        """Read, checksum and send every part; return the whole CRC32C and the size.

        The first error (of a read or of a part) cancels the rest and is raised as itself,
        never wrapped in an exception group.
        """
        result = (0, 0)
        async with anyio.create_task_group() as tg:
            try:
                result = await self._read_parts(source, sizer, first, tg)
            except Exception as exc:
                if self.error is None:
                    self.error = exc
                tg.cancel_scope.cancel()
        if self.error is not None:
            raise self.error
        return result

    async def _read_parts(
        self, source: Source, sizer: PartSizer, first: Read, tg: anyio.abc.TaskGroup
    ) -> tuple[int, int]:
        """Read each part, reuse it if the backend holds it already, else start sending it."""
        core = self.core
        kinds = self.driver.limits.checksums
        whole_crc = 0
        offset = 0
        number = 0
        read = first
        while True:
            number += 1
            if number > 1:
                read = await core.read(source, sizer.part_size(number))
            assert read.buffer is not None  # parts are read into budget buffers
            expected = len(read.buffer)
            data = read.data
            if not data:
                core.release(read)
                break
            try:
                checks, crc = await anyio.to_thread.run_sync(part_checksums, data, kinds)
            except BaseException:
                core.release(read)
                raise
            whole_crc = crc32c_combine(whole_crc, crc, len(data))
            if checks.md5 is not None:
                self.md5s[number] = checks.md5
            previous = self.held.get(number)
            if previous is not None and previous.size == len(data) and \
                    int(previous.checksums["crc32c"], 16) == crc:
                self.parts[number] = previous
                core.release(read)
            else:
                self.held.pop(number, None)
                pending = _PendingPart(number=number, offset=offset, read=read,
                                       checks=checks, crc=crc)
                tg.start_soon(self._send_part, tg, pending)
            offset += len(data)
            if self.error is not None or len(data) < expected or (
                source.size is not None and offset >= source.size
            ):
                break
        return whole_crc, offset

    async def _send_part(self, tg: anyio.abc.TaskGroup, pending: _PendingPart) -> None:
        core = self.core
        number, offset, data, checks, crc = (
            pending.number, pending.offset, pending.read.data, pending.checks, pending.crc,
        )
        try:
            async with core.budget.part_slot():
                part = await core.call(
                    lambda: self.driver.upload_part(
                        self.key, self.upload_id, number, data, offset=offset, checksums=checks
                    ),
                    op=f"upload_part {number}", artifact=self.artifact, key=self.key,
                    nbytes=len(data), part=number, on=part_retryable,
                )
            crc_hex = f"{crc:08x}"
            self.parts[number] = attrs.evolve(part, checksums={**part.checksums, "crc32c": crc_hex})
            if core.journal is not None:
                await core.journal.record_part(self.target, number, len(data), crc_hex)
            self.sent += len(data)
            core.emit("upload.part.complete", self.artifact, self.key, part=number,
                      bytes=len(data), transferred=self.sent)
        except Exception as exc:
            if self.error is None:
                self.error = exc
            tg.cancel_scope.cancel()
        finally:
            core.release(pending.read)

    async def _abandon(self, exc: BaseException) -> None:
        """After a failure or cancellation: keep the upload journaled for resume, or abort.

        An upload whose parts cannot be trusted (an integrity failure, a changed source)
        is aborted even with a journal.
        """
        if not self.upload_id:
            return
        keep = self.journaled and not isinstance(exc, IntegrityError | SourceChangedError)
        if not keep:
            await self._discard(self.upload_id)
