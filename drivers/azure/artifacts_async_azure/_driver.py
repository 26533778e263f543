"""The Azure Blob driver: staged blocks with per-block MD5, ranged streaming reads.

What the service verifies and reports:

- Every block (`stage_block`) and every single-request blob (`upload_blob`) carries the
  MD5 of its body, which the service checks: a damaged body is refused (`Md5Mismatch`,
  `IntegrityError`, and the engine sends the part again).
- A committed blob gets the whole object's CRC32C as metadata (`artifacts_async_crc32c`),
  combined from the CRC32Cs the engine computed over the very bytes whose MD5s the
  service verified; `stat` reports it as the object's CRC32C, so every read of the
  object is verified end to end. Single-request blobs also keep their Content-MD5.
- Uncommitted blocks are invisible: a blob appears whole, at commit, or not at all.

Abort and the orphan sweep never write or delete a committed blob; see `abort_upload`.

This module is the driver protocol and the error boundary: each method sends its
requests inside `_errors` (the SDK's errors become the core's). Reading answers is done
by concern: `_uploads` (uncommitted blocks, pending uploads), `_objects` (blob
properties), `_outcomes` (batch deletes); `_wire` names blocks and uploads.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, ClassVar, Self, final

import anyio
import anyio.to_thread
import attrs
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlockState, ContentSettings, StandardBlobTier
from azure.storage.blob.aio import BlobClient, ContainerClient

from artifacts_async import ArtifactNotFoundError, ConfigurationError
from artifacts_async.abc import (
    BufferPayload,
    ChecksumKind,
    DeleteOutcome,
    DriverLimits,
    LazyClient,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
    crc32c,
)

from ._client import RANGE_GET, Containers, ensure_container, open_container
from ._errors import error_code, map_errors
from ._objects import listed_info, object_info, stored_info
from ._outcomes import delete_outcomes
from ._settings import AzureSettings
from ._uploads import our_blocks, pending_uploads, whole_crc32c
from ._wire import (
    ABORTED,
    CRC_KEY,
    MAX_BLOCKS,
    block_id,
    metadata_to_azure,
    new_token,
    new_upload_id,
    split_upload_id,
)

__all__ = ["AzureDriver"]

MiB = 1024 * 1024
# Up to this size a put is one Put Blob (the SDK wants `bytes` there, a copy); above it,
# one staged block and a commit, sent from the engine's buffer without a copy.
_SINGLE_REQUEST_PUT = MiB
_THREAD_CRC = 256 * 1024


@final
class AzureDriver:
    """Azure Blob Storage (and Azurite), through one lazily created aio container client.

    Build it with `AzureDriver.from_settings(...)` (see `AzureSettings.parse` for the
    settings); close it with `aclose()`, which closes the client, its HTTP session and
    the aio credential. The client is created on first use, inside the running loop.
    """

    #: Block blobs: blocks of up to 4000 MiB, 50,000 of them (about 190.7 TiB), one
    #: request up to 5000 MiB, 256 deletes per batch request; each block's MD5 is checked.
    DEFAULT_LIMITS: ClassVar[DriverLimits] = DriverLimits(
        min_part_size=1,
        max_part_size=4000 * MiB,
        max_parts=MAX_BLOCKS,
        max_object_size=MAX_BLOCKS * 4000 * MiB,
        max_single_put=5000 * MiB,
        checksums=frozenset({ChecksumKind.MD5}),
        delete_batch_size=256,
        ranged_reads=True,
    )

    def __init__(self, settings: AzureSettings) -> None:
        self.settings = settings
        self._prefix = settings.prefix
        self._sdk: LazyClient[Containers] = LazyClient(self._open, errors=self._errors)
        self._tier = StandardBlobTier(settings.access_tier) if settings.access_tier else None
        self._limits = self.DEFAULT_LIMITS if settings.content_md5 else attrs.evolve(
            self.DEFAULT_LIMITS, checksums=frozenset()
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Build the driver from a repository's settings; `ConfigurationError` if invalid."""
        return cls(AzureSettings.parse(settings))

    def __repr__(self) -> str:
        endpoint = self.settings.endpoint or "connection string"
        return (f"AzureDriver(container={self.settings.container!r}, endpoint={endpoint!r}, "
                f"prefix={self._prefix!r})")

    @property
    def limits(self) -> DriverLimits:
        return self._limits

    def describe(self, key: str) -> str:
        return f"azure://{self.settings.container}/{self._prefix}{key}"

    def _errors(self, key: str | None = None) -> contextlib.AbstractContextManager[None]:
        what = self.describe(key) if key is not None else f"azure://{self.settings.container}"
        return map_errors(what, container=self.settings.container)

    async def _open(self, stack: contextlib.AsyncExitStack) -> Containers:
        containers = await open_container(self.settings, stack)
        if self.settings.create_container:
            await ensure_container(containers.streamed)
        return containers

    async def _clients(self) -> Containers:
        """The container clients, created on first use in the running loop."""
        return await self._sdk.get()

    async def _client(self) -> ContainerClient:
        """The container client (reads in GETs of 4 MiB)."""
        return (await self._clients()).streamed

    async def _blob(self, key: str) -> BlobClient:
        return (await self._client()).get_blob_client(self._prefix + key)

    def _upload_token(self, key: str, upload_id: str) -> tuple[str, dict[str, str]]:
        split = split_upload_id(upload_id)
        if split is None:
            raise ArtifactNotFoundError(
                f"{self.describe(key)}: {upload_id!r} is not an upload of this driver"
            )
        return split

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        """Store `data` under `key` with its MD5, which the service verifies."""
        wire = metadata_to_azure(metadata)
        crc = crc32c(data) if len(data) <= _THREAD_CRC else \
            await anyio.to_thread.run_sync(crc32c, data)
        wire[CRC_KEY] = f"{crc:08x}"
        md5 = checksums.md5 if self.settings.content_md5 else None
        tier = self._tier
        with self._errors(key):
            blob = await self._blob(key)
            if len(data) <= _SINGLE_REQUEST_PUT:
                response = await blob.upload_blob(
                    bytes(data), length=len(data), overwrite=True, metadata=wire,
                    standard_blob_tier=tier, transactional_content_md5=md5,
                )
            else:
                # Staged and committed under a fresh upload's name: invisible until whole.
                # A synchronous file to azure-core (it calls `seek`), a payload to aiohttp.
                name = block_id(new_token(), 1)
                await blob.stage_block(name, BufferPayload.file(data), length=len(data),
                                       transactional_content_md5=md5)
                response = await blob.commit_block_list(
                    [BlobBlock(name, BlockState.UNCOMMITTED)], metadata=wire,
                    content_settings=ContentSettings(content_md5=bytearray(md5)) if md5 else None,
                    standard_blob_tier=tier,
                )
        return stored_info(key, len(data), response, crc=crc, md5=md5, metadata=metadata)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """A new upload id; no request is sent (the service knows an upload by its blocks).

        The metadata travels in the id, to be set on the blob at commit, by this process
        or by one resuming the upload.
        """
        return new_upload_id(metadata)

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes | bytearray,
        *,
        offset: int,
        checksums: PartChecksums,
    ) -> UploadedPart:
        """Stage block `number` with its MD5; the service refuses a mismatch (`IntegrityError`)."""
        token, _ = self._upload_token(key, upload_id)
        if not 1 <= number <= MAX_BLOCKS:
            raise ConfigurationError(
                f"{self.describe(key)}: block {number} is out of range (1..{MAX_BLOCKS})"
            )
        md5 = checksums.md5 if self.settings.content_md5 else None
        with self._errors(key):
            blob = await self._blob(key)
            await blob.stage_block(block_id(token, number), BufferPayload.file(data),
                                   length=len(data), transactional_content_md5=md5)
        return UploadedPart(number=number, size=len(data),
                            checksums={"md5": md5.hex()} if md5 is not None else {})

    async def _our_blocks(self, key: str, token: str) -> dict[int, int] | None:
        """This upload's uncommitted blocks (number → size); None once it was aborted."""
        with self._errors(key):
            blob = await self._blob(key)
            _, uncommitted = await blob.get_block_list("uncommitted")
        return our_blocks(uncommitted, token)

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """The upload's uncommitted blocks, sorted by number (sizes only: the service keeps
        no checksum of a block, so the engine checks them against its journal).

        An upload that holds no block, or was aborted, raises `ArtifactNotFoundError`.
        """
        token, _ = self._upload_token(key, upload_id)
        blocks = await self._our_blocks(key, token)
        if not blocks:
            raise ArtifactNotFoundError(
                f"{self.describe(key)}: upload {token} holds no blocks (never sent, "
                "committed, aborted or expired)"
            )
        return [UploadedPart(number=n, size=size) for n, size in sorted(blocks.items())]

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        """Commit the parts' blocks, in order, with the upload's metadata and the whole
        object's CRC32C (when every part carries one); then report the committed blob.

        Committing discards every other uncommitted block of the blob. Blocks the service
        does not hold (the upload was committed already, aborted, or expired) raise
        `ArtifactNotFoundError`; the engine then checks whether an earlier attempt of this
        commit succeeded.
        """
        token, wire = self._upload_token(key, upload_id)
        wire = dict(wire)
        whole = whole_crc32c(parts)
        if whole is not None:
            wire[CRC_KEY] = whole
        blocks = [BlobBlock(block_id(token, part.number), BlockState.UNCOMMITTED)
                  for part in parts]
        with self._errors(key):
            blob = await self._blob(key)
            try:
                await blob.commit_block_list(
                    blocks, metadata=wire, standard_blob_tier=self._tier
                )
            except HttpResponseError as exc:
                if error_code(exc) != "InvalidBlockList":
                    raise
                raise ArtifactNotFoundError(
                    f"{self.describe(key)}: the service does not hold the blocks of upload "
                    f"{token} (committed already, aborted or expired)",
                    backend_error="InvalidBlockList",
                ) from exc
        return await self.stat(key)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Mark the upload aborted; never touch a committed blob under the same key.

        The service has no request that drops some uncommitted blocks and keeps the
        committed blob: it discards every uncommitted block of a blob at its next commit
        (or Put Blob), and on its own about a week after they were staged. Deleting the
        blob would destroy a committed version, and any commit replaces it. So aborting
        stages one 1-byte marker block (`aa-<token>-abort`), which changes nothing a reader
        sees (not the content, ETag, metadata or modification time): from then on the
        upload is neither listed nor resumable, and its blocks go when the service discards
        them. Aborting an unknown, empty or already aborted upload sends nothing more.
        """
        split = split_upload_id(upload_id)
        if split is None:
            return
        token = split[0]
        with contextlib.suppress(ArtifactNotFoundError):
            blocks = await self._our_blocks(key, token)
            if not blocks:
                return
            with self._errors(key):
                blob = await self._blob(key)
                await blob.stage_block(block_id(token, ABORTED), b"-", length=1)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        """Uploads under `prefix` that hold uncommitted blocks and were not aborted.

        Costs one listing of the blobs under `prefix` (uncommitted ones included) and one
        block-list request per blob found: sweep a narrow prefix. An upload's id is
        reported without its metadata (it is not stored on the service), which is all
        `abort_upload` needs.
        """
        with self._errors(prefix):
            container = await self._client()
            names = [
                props.name async for props in container.list_blobs(
                    name_starts_with=self._prefix + prefix, include=["uncommittedblobs"]
                )
            ]
        return await pending_uploads(
            container, names, key_of=lambda name: name.removeprefix(self._prefix),
            errors=self._errors,
        )

    async def stat(self, key: str) -> ObjectInfo:
        """Size, ETag, metadata, Content-MD5 (when the blob has one) and the CRC32C the
        driver stored at commit."""
        with self._errors(key):
            blob = await self._blob(key)
            props = await blob.get_blob_properties()
        return object_info(key, props)

    async def _span(self, key: str, offset: int, length: int | None) -> tuple[int, int | None]:
        """The absolute start and length of a read; length 0 when it covers nothing."""
        if length is not None and length <= 0:
            await self.stat(key)  # a missing object is still an error
            return 0, 0
        if offset >= 0:
            return offset, length
        size = (await self.stat(key)).size
        start = max(0, size + offset)
        end = size if length is None else min(size, start + length)
        return start, max(0, end - start)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Ranged GETs of 4 MiB, yielded as they arrive; a read of a known length up to
        16 MiB (a range of a parallel download) is one GET. An offset at or past the end
        yields nothing. The SDK pins every range to the first one's ETag, so a blob
        replaced during the read fails the read instead of mixing versions.
        """
        start, count = await self._span(key, offset, length)
        if count == 0:
            return
        with self._errors(key):
            clients = await self._clients()
            # The caller of a bounded read holds its bytes anyway; an open-ended
            # (streamed) read keeps to 4 MiB at a time.
            one_get = count is not None and count <= RANGE_GET
            container = clients.ranged if one_get else clients.streamed
            blob = container.get_blob_client(self._prefix + key)
            try:
                if start == 0 and count is None:
                    downloader = await blob.download_blob(max_concurrency=1)
                else:
                    downloader = await blob.download_blob(offset=start, length=count,
                                                          max_concurrency=1)
            except HttpResponseError as exc:
                if exc.status_code == 416:  # InvalidRange: at or past the end
                    return
                raise
            async for chunk in downloader.chunks():
                yield chunk

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        """One batch request for at most `limits.delete_batch_size` (256) keys, as the core
        sends them; one outcome per key: `existed` is True or False, never a guess.

        A blob's snapshots are deleted with it.
        """
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))
        with self._errors():
            container = await self._client()
            responses = await container.delete_blobs(
                *[self._prefix + k for k in unique], delete_snapshots="include",
                raise_on_any_failure=False,
            )
            answers = [response async for response in responses]
        return delete_outcomes(keys, unique, answers, describe=self.describe,
                               container=self.settings.container)

    async def list(self, prefix: str) -> AsyncGenerator[ObjectInfo, None]:
        """Committed blobs under `prefix`, every page, in key order."""
        with self._errors(prefix):
            container = await self._client()
            async for props in container.list_blobs(name_starts_with=self._prefix + prefix):
                yield listed_info(props.name.removeprefix(self._prefix), props)

    async def aclose(self) -> None:
        """Close the client, its HTTP session and the aio credential."""
        await self._sdk.aclose()

