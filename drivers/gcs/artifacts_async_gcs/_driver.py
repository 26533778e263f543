"""The GCS driver: parallel composite uploads, verified per part and whole, streamed reads.

What is verified:

- Every upload (a small object or a part) declares the CRC32C the engine computed, and
  the driver checks the CRC32C and size GCS reports for what it stored. GCS itself
  rejects a declared CRC32C that does not match (400 → `IntegrityError`); emulators that
  do not check are caught by the driver's own comparison, and a damaged small object is
  deleted (only that generation) before the error is raised.
- A composed object's CRC32C is a true whole-object CRC32C (GCS combines the
  components'), which `complete_upload` reports and the engine compares with its own.

This module is the driver protocol and the error boundary: each method sends its
requests inside `_errors` (gcloud-aio and aiohttp errors become the core's). Building
requests and reading answers is done by concern: `_writes` (upload requests and their
checks), `_compose` (completing an upload), `_objects` (listings, batch deletes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, ClassVar, Self, final
from uuid import uuid4

import aiohttp
import anyio

from artifacts_async import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    IntegrityError,
)
from artifacts_async.abc import (
    ChecksumKind,
    DeleteOutcome,
    DriverLimits,
    LazyClient,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
    http_range,
    received_pieces,
)

from ._batch import MAX_CALLS
from ._client import Client, ensure_bucket, open_client
from ._compose import compose_all
from ._errors import from_status, map_errors
from ._layout import Layout, compose_plan
from ._objects import delete_names, list_objects, pending_uploads
from ._resources import crc_hex, object_info
from ._settings import GCSSettings
from ._writes import declared_crc, insert, mismatch

__all__ = ["GCSDriver"]

logger = logging.getLogger("artifacts_async_gcs")

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB
# Items per page of a listing (GCS's maximum); tests lower it to exercise paging.
_PAGE_SIZE = 1000
# The longest a shielded cleanup (deleting a damaged object) may take.
_CLEANUP_SECONDS = 30.0


@final
class GCSDriver:
    """Google Cloud Storage (and emulators) through gcloud-aio-storage on one aiohttp session.

    Build it with `GCSDriver.from_settings(...)` (see `GCSSettings.parse` for the
    settings); close it with `aclose()`. The session is created on first use, inside the
    running event loop.
    """

    # GCS's limits (https://cloud.google.com/storage/quotas#objects): an object is at
    # most 5 TiB. Compose takes at most 32 sources per request (composed in a tree here,
    # see _layout.py); the composite-object docs used to cap an object at 1,024
    # components, so parts are kept to 1,024 (x 5 GiB = 5 TiB), which is safe either way.
    # There is no minimum part size; 256 KiB keeps requests worth their overhead.
    DEFAULT_LIMITS: ClassVar[DriverLimits] = DriverLimits(
        min_part_size=256 * KiB,
        max_part_size=5 * GiB,
        max_parts=1024,
        max_object_size=5 * TiB,
        max_single_put=5 * GiB,
        checksums=frozenset({ChecksumKind.CRC32C}),
        delete_batch_size=MAX_CALLS,
        ranged_reads=True,
    )

    def __init__(self, settings: GCSSettings) -> None:
        self.settings = settings
        self._layout = Layout(settings.prefix)
        self._sdk: LazyClient[Client] = LazyClient(self._open, errors=self._errors)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Build the driver from a repository's settings; `ConfigurationError` if invalid."""
        return cls(GCSSettings.parse(settings))

    def __repr__(self) -> str:
        return (f"GCSDriver(bucket={self.settings.bucket!r}, "
                f"endpoint={self.settings.api_root!r}, prefix={self.settings.prefix!r})")

    @property
    def limits(self) -> DriverLimits:
        return self.DEFAULT_LIMITS

    def describe(self, key: str) -> str:
        return f"gs://{self.settings.bucket}/{self._layout.name(key)}"

    def _errors(self, key: str | None = None) -> contextlib.AbstractContextManager[None]:
        what = self.describe(key) if key is not None else f"gs://{self.settings.bucket}"
        return map_errors(what, bucket=self.settings.bucket)

    async def _open(self, stack: contextlib.AsyncExitStack) -> Client:
        client = await open_client(self.settings)
        stack.push_async_callback(client.close)
        await ensure_bucket(client)
        return client

    async def _gcs(self) -> Client:
        """The client, created (and the bucket checked) on first use in the running loop."""
        return await self._sdk.get()

    # -- writes --------------------------------------------------------------------------

    async def _insert(
        self, name: str, data: bytes | bytearray, crc: bytes, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        return await insert(await self._gcs(), name, data, crc, metadata)

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        """Store `data` under `key` in one upload request with its CRC32C declared."""
        crc = await declared_crc(data, checksums)
        name = self._layout.name(key)
        with self._errors(key):
            answer = await self._insert(name, data, crc, metadata)
        problem = mismatch(answer, len(data), crc)
        if problem is not None:
            # Invariant: nothing damaged stays under a final key (only this generation is
            # deleted, never a newer object another writer stored meanwhile). Shielded from
            # cancellation, but bounded.
            with anyio.move_on_after(_CLEANUP_SECONDS, shield=True), \
                    contextlib.suppress(ArtifactError), self._errors(key):
                client = await self._gcs()
                await client.storage.delete(
                    self.settings.bucket, name, timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
                    params={"ifGenerationMatch": str(answer.get("generation", ""))},
                )
            raise IntegrityError(f"{self.describe(key)}: GCS stored something else ({problem})")
        return object_info(key, answer)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """Write the upload's marker (which keeps `metadata` for the composed object)."""
        upload_id = uuid4().hex
        with self._errors(key):
            await self._insert(self._layout.marker(key, upload_id), b"",
                               (0).to_bytes(4, "big"), metadata)
        return upload_id

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
        """Upload part `number` as a temporary object; a CRC32C mismatch is `IntegrityError`."""
        crc = await declared_crc(data, checksums)
        with self._errors(key):
            answer = await self._insert(self._layout.part(key, upload_id, number), data, crc, {})
        problem = mismatch(answer, len(data), crc)
        if problem is not None:
            raise IntegrityError(
                f"{self.describe(key)}: part {number} was stored damaged ({problem})"
            )
        return UploadedPart(number=number, size=len(data), etag=answer.get("etag"),
                            checksums={"crc32c": crc.hex()})

    async def _objects(self, name_prefix: str) -> AsyncGenerator[dict[str, Any], None]:
        """Every object resource whose name starts with `name_prefix`, page by page."""
        listed = list_objects(await self._gcs(), name_prefix, page_size=_PAGE_SIZE)
        async with contextlib.aclosing(listed) as items:
            async for item in items:
                yield item

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """The upload's part objects, with GCS's size and CRC32C, sorted by number."""
        parts: list[UploadedPart] = []
        found = False
        with self._errors(key):
            async for item in self._objects(self._layout.folder(key, upload_id)):
                found = True
                parsed = self._layout.parse(item["name"])
                number = self._layout.part_number(parsed[2]) if parsed else None
                if number is None:
                    continue
                crc = crc_hex(item)
                parts.append(UploadedPart(
                    number=number, size=int(item["size"]), etag=item.get("etag"),
                    checksums={"crc32c": crc} if crc else {},
                ))
        if not found:
            raise ArtifactNotFoundError(
                f"upload {upload_id} of {self.describe(key)} does not exist"
            )
        return sorted(parts, key=lambda p: p.number)

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        """Compose the parts (in a tree of at most 32 sources per request), then delete
        the temporaries.

        An upload whose marker is gone raises `ArtifactNotFoundError` (the engine then
        checks whether an earlier attempt completed it).
        """
        layout = self._layout
        with self._errors(key):
            client = await self._gcs()
            marker = await client.storage.download_metadata(
                self.settings.bucket, layout.marker(key, upload_id),
                timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
            )
            numbers = sorted(p.number for p in parts)
            sources = [layout.part(key, upload_id, n) for n in numbers]
            plan = compose_plan(
                sources, layout.name(key),
                lambda level, index: layout.intermediate(key, upload_id, level, index),
            )
            answer = await compose_all(client, plan, marker.get("metadata"))
        try:
            await self._remove_upload(key, upload_id)
        except ArtifactError as exc:
            # The object is complete; what is left is found by the orphan sweep.
            logger.warning("%s: temporaries of upload %s not deleted: %s",
                           self.describe(key), upload_id, exc)
        return object_info(key, answer)

    async def _remove_upload(self, key: str, upload_id: str) -> None:
        """Delete every temporary object of an upload (batched)."""
        with self._errors(key):
            names = [item["name"] async for item in self._objects(
                self._layout.folder(key, upload_id))]
        for start in range(0, len(names), MAX_CALLS):
            chunk = names[start : start + MAX_CALLS]
            outcomes = await self._delete_names(chunk)
            for outcome in outcomes:
                if outcome.error is not None:
                    raise outcome.error

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Delete the upload's temporaries; an upload that is already gone is not an error."""
        await self._remove_upload(key, upload_id)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        """Uploads under `prefix` with temporaries left, started at their oldest one."""
        with self._errors(prefix):
            listed = self._objects(self._layout.uploads + prefix)
            async with contextlib.aclosing(listed) as items:
                return await pending_uploads(items, self._layout)

    # -- reads ---------------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo:
        """The object's resource: size, CRC32C, ETag, update time, metadata."""
        with self._errors(key):
            client = await self._gcs()
            resource = await client.storage.download_metadata(
                self.settings.bucket, self._layout.name(key),
                timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
            )
        return object_info(key, resource)

    async def _range(self, key: str, offset: int, length: int | None) -> str | None:
        """The HTTP Range of a read, or "" when it covers nothing, or None for all of it."""

        async def size() -> int:
            return (await self.stat(key)).size

        return await http_range(offset, length, size=size)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Stream the object (`alt=media`), ranged when asked, in the pieces aiohttp
        received (`received_pieces`): never joined here, the core batches them.

        An offset at or past the end yields nothing (GCS answers 416).
        """
        byte_range = await self._range(key, offset, length)
        if byte_range == "":
            return
        headers = {"Range": byte_range} if byte_range is not None else {}
        with self._errors(key):
            client = await self._gcs()
            try:
                stream = await client.storage.download_stream(
                    self.settings.bucket, self._layout.name(key), headers=headers,
                    timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
                )
            except aiohttp.ClientResponseError as exc:
                if exc.status == 416:
                    return
                raise
            async with stream as response, \
                    contextlib.aclosing(received_pieces(response.content)) as received:
                async for piece in received:
                    yield piece

    # -- deletes and listings ------------------------------------------------------------

    async def _delete_names(self, names: Sequence[str]) -> list[DeleteOutcome]:
        """One batch request deleting `names` (at most 100); one outcome per name."""
        client = await self._gcs()
        with self._errors():
            return await delete_names(client, names, key_of=self._layout.key,
                                      error=self._delete_error)

    def _delete_error(self, key: str, status: int, text: str) -> BackendError:
        mapped = from_status(status or 500, text, self.describe(key), bucket=self.settings.bucket)
        if isinstance(mapped, BackendError):
            return mapped
        return BackendError(str(mapped), backend_error=f"{status}: {text[:200]}")

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        """Delete `keys` through the batch endpoint, 100 per request; one outcome per key.

        `existed` is True for a deleted object and False for one that was already absent.
        """
        unique = list(dict.fromkeys(keys))
        outcomes: dict[str, DeleteOutcome] = {}
        for start in range(0, len(unique), MAX_CALLS):
            chunk = unique[start : start + MAX_CALLS]
            for outcome in await self._delete_names([self._layout.name(k) for k in chunk]):
                outcomes[outcome.key] = outcome
        return [outcomes[k] for k in keys]

    async def list(self, prefix: str) -> AsyncGenerator[ObjectInfo, None]:
        """Objects whose key starts with `prefix`, every page, in key order (temporaries
        are not shown)."""
        with self._errors(prefix):
            async for item in self._objects(self._layout.name(prefix)):
                if not self._layout.hidden(item["name"]):
                    yield object_info(self._layout.key(item["name"]), item)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._sdk.aclose()
