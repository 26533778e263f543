"""The upload engine every driver shares: the single-put path and the dispatcher.

Parts of every artifact in a save share one budget (parts in flight, bytes held). Each
part is read once, checksummed once in a worker thread, and sent once; transient
failures are retried per request. What goes in one request is sent here; larger sources
go to `_multipart` (journaled, resumable multipart uploads). The helpers both paths use
are in `_upload_core`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.to_thread

from ._budget import POOL_MIN as SMALL_FILE
from ._checksums import part_checksums
from ._multipart import upload_multipart
from ._parts import PartSizer
from ._sources import FileSource, Source, open_or_load, open_source
from ._specs import Archive, ArchiveKind
from ._upload_core import Read, StoredObject, UploadCore, part_retryable
from .abc import Driver, PartChecksums

__all__ = ["StoredObject", "UploadEngine"]


class UploadEngine(UploadCore):
    """Uploads sources to drivers under one `TransferBudget`."""

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
        self.emit("upload.started", artifact, key, size=source.size)
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
            stored = await self._put(driver, key, Read(buffer=buffer, data=buffer),
                                     artifact=artifact, metadata=metadata,
                                     precomputed=precomputed)
            self.emit("upload.complete", artifact, key, transferred=stored.size,
                       size=stored.size)
            return stored
        first_size = sizer.part_size(1)
        if source.size is not None and source.size <= threshold:
            first_size = max(source.size, 1)
        first = await self.read(source, first_size)
        at_end = len(first.data) < first_size or (
            source.size is not None and len(first.data) == source.size
        )
        if at_end and len(first.data) <= threshold:
            try:
                # Every byte is read: the source must still be what was read.
                await source.check_unchanged()
            except BaseException:
                self.release(first)
                raise
            stored = await self._put(driver, key, first, artifact=artifact, metadata=metadata)
            self.emit("upload.complete", artifact, key, transferred=stored.size,
                       size=stored.size)
            return stored
        # The first part's buffer stays held: it is handed to the multipart loop.
        stored = await upload_multipart(
            self, driver, key, source, sizer=sizer, first=first, artifact=artifact,
            metadata=metadata,
        )
        self.emit("upload.complete", artifact, key, transferred=stored.size, size=stored.size)
        return stored

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
        read = Read(buffer=None, data=opened.data)
        self.budget.release_bytes(limit - len(read.data))
        try:
            self.emit("upload.started", artifact, key, size=len(read.data))
        except BaseException:
            self.release(read)
            raise
        stored = await self._put(driver, key, read, artifact=artifact, metadata=metadata,
                                 precomputed=(opened.checks, opened.crc))
        self.emit("upload.complete", artifact, key, transferred=stored.size, size=stored.size)
        return stored

    def one_hop_limit(self, driver: Driver) -> int:
        """The largest file `upload_path` may read in the thread hop that opens it: the
        single-put threshold, at most an eighth of the budget."""
        threshold = min(self.options.single_put_threshold, driver.limits.max_single_put)
        return max(1, min(threshold, self.budget.max_bytes // 8))

    async def _put(
        self,
        driver: Driver,
        key: str,
        read: Read,
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
                info = await self.call(
                    lambda: driver.put(key, data, checksums=checks, metadata=metadata),
                    op="put", artifact=artifact, key=key, nbytes=len(data), on=part_retryable,
                )
        finally:
            self.release(read)
        stored = StoredObject(size=len(data), crc32c=f"{crc:08x}")
        await self.verify(driver, key, info, stored, [checks.md5] if checks.md5 else None,
                           multipart=False)
        return stored
