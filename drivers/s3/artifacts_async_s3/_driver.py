"""The S3 driver: multipart uploads with per-part MD5 and CRC32C, ranged streaming reads.

What S3 verifies and reports:

- Every request carries Content-MD5 and `x-amz-checksum-crc32c` of its body (from the
  engine's `PartChecksums`); S3 rejects a damaged body with BadDigest (`IntegrityError`).
- A multipart upload declares CRC32C as a full-object checksum, so S3 reports the
  CRC32C of the whole object after completion and the engine compares it with its own.
  A composite checksum (`<crc>-<parts>`) is never reported as the object's CRC32C.
- S3's ETag is the MD5 of a single-request object, and the MD5 of the parts' MD5s plus
  `-<parts>` for a multipart one (`limits.s3_multipart_etag`). With SSE-KMS it is
  neither: the driver then reports no ETag, so nothing compares it.

This module is the driver protocol and the error boundary: each method sends its
requests inside `_errors` (SDK errors become the core's). Building requests and reading
answers is done by concern: `_writes` (write options, body checksums), `_uploads`
(multipart), `_objects` (reads, listings, deletes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, cast, final

from botocore.exceptions import ClientError

from artifacts_async import ArtifactNotFoundError, BackendError
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
    http_range,
    received_pieces,
)

from ._client import ensure_bucket, open_client
from ._errors import error_code, map_errors
from ._fastpath import FastPath, WrongRegionError
from ._objects import delete_error, delete_outcomes, list_objects
from ._responses import etag_of, full_crc32c, metadata_from_s3, metadata_to_s3
from ._settings import ChecksumMode, S3Settings
from ._uploads import completed_parts, completion_info, list_parts, list_uploads, uploaded_part
from ._writes import add_checksums, write_options

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        CreateMultipartUploadRequestTypeDef,
        GetObjectRequestTypeDef,
        PutObjectRequestTypeDef,
        UploadPartRequestTypeDef,
    )

__all__ = ["S3Driver"]

logger = logging.getLogger("artifacts_async_s3")

MiB = 1024 * 1024
GiB = 1024 * MiB
# Items per page of S3's listings (their maximum); tests lower it to exercise paging.
_PAGE_SIZE = 1000


@final
class S3Driver:
    """Amazon S3 and S3-compatible stores, through one lazily created aiobotocore client.

    Build it with `S3Driver.from_settings(...)` (see `S3Settings.parse` for the
    settings); close it with `aclose()`. The client is created on first use, inside the
    running event loop.
    """

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._prefix = settings.prefix
        self._sdk: LazyClient[S3Client] = LazyClient(self._open, errors=self._errors)
        self._fast: FastPath | None = None
        kinds = {ChecksumKind.MD5} if settings.content_md5 else set()
        if settings.checksum is not ChecksumMode.MD5:
            kinds.add(ChecksumKind.CRC32C)
        self._limits = DriverLimits(
            min_part_size=5 * MiB,
            max_part_size=5 * GiB,
            max_parts=10_000,
            max_object_size=5 * 1024 * GiB,
            max_single_put=5 * GiB,
            checksums=frozenset(kinds),
            delete_batch_size=1000,
            ranged_reads=True,
            # DeleteObjects answers "Deleted" for absent keys too: GC asks HeadObject first.
            delete_reports_absence=False,
            s3_multipart_etag=(
                settings.content_md5 and settings.verify_etag and settings.sse != "aws:kms"
            ),
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Build the driver from a repository's settings; `ConfigurationError` if invalid."""
        return cls(S3Settings.parse(settings))

    def __repr__(self) -> str:
        endpoint = self.settings.endpoint_url or "aws"
        return f"S3Driver(bucket={self.settings.bucket!r}, endpoint={endpoint!r}, " \
               f"prefix={self._prefix!r})"

    @property
    def limits(self) -> DriverLimits:
        return self._limits

    def describe(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{self._prefix}{key}"

    def _key_of(self, s3_key: str) -> str:
        """The driver's key of an S3 key under the prefix."""
        return s3_key.removeprefix(self._prefix)

    def _errors(self, key: str | None = None) -> contextlib.AbstractContextManager[None]:
        what = self.describe(key) if key is not None else f"s3://{self.settings.bucket}"
        return map_errors(what, bucket=self.settings.bucket)

    async def _open(self, stack: contextlib.AsyncExitStack) -> S3Client:
        client, fast = await open_client(self.settings, stack)
        if self.settings.create_bucket:
            await ensure_bucket(client, self.settings)
        self._fast = fast
        return client

    async def _s3(self) -> S3Client:
        """The client, created on first use in the running loop."""
        return await self._sdk.get()

    async def _send(
        self,
        operation: str,
        params: PutObjectRequestTypeDef | UploadPartRequestTypeDef,
        data: bytes | bytearray,
    ) -> Mapping[str, Any]:
        """PutObject or UploadPart of `data`: on the fast path when there is one, else
        aiobotocore. Each sending gets a body of its own (aiohttp consumes one)."""
        client = await self._s3()
        fast = self._fast
        # botocore takes any object with `read` as a body (it needs only the length: the
        # driver supplies Content-MD5 and CRC32C, and the payload is not hashed for
        # signing), and aiobotocore hands it to aiohttp, which sends a payload as it is.
        if fast is not None:
            try:
                params["Body"] = BufferPayload.file(data)
                return await fast.send(operation, params)
            except WrongRegionError:
                # The bucket is in another region than the one signed for: botocore
                # follows S3's redirect, so from now on every request goes through it.
                logger.warning(
                    "%s: S3 redirected the request to the bucket's region; the fast path "
                    "is off for this driver: set the repository's 'region'",
                    self.describe(""),
                )
                self._fast = None
        params["Body"] = BufferPayload.file(data)
        if operation == "PutObject":
            return await client.put_object(**cast("PutObjectRequestTypeDef", params))
        return await client.upload_part(**cast("UploadPartRequestTypeDef", params))

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        """Store `data` under `key` in one PutObject, with its Content-MD5 and CRC32C."""
        params: PutObjectRequestTypeDef = {
            "Bucket": self.settings.bucket, "Key": self._prefix + key,
            "Metadata": metadata_to_s3(metadata),
        }
        write_options(self.settings, params)
        crc = await add_checksums(self.settings, params, data, checksums)
        with self._errors(key):
            response = await self._send("PutObject", params, data)
        return ObjectInfo(
            key=key, size=len(data), etag=etag_of(response),
            checksums=full_crc32c(response) if crc is not None else {},
            metadata=dict(metadata),
        )

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """CreateMultipartUpload, declaring CRC32C (full-object unless configured otherwise).

        Declaring the algorithm here is what lets every part carry its CRC32C and the
        completion check them; S3 refuses part checksums an upload did not declare.
        """
        params: CreateMultipartUploadRequestTypeDef = {
            "Bucket": self.settings.bucket, "Key": self._prefix + key,
            "Metadata": metadata_to_s3(metadata),
        }
        write_options(self.settings, params)
        if self.settings.checksum is not ChecksumMode.MD5:
            params["ChecksumAlgorithm"] = "CRC32C"
            if self.settings.checksum is ChecksumMode.CRC32C:
                params["ChecksumType"] = "FULL_OBJECT"
        with self._errors(key):
            client = await self._s3()
            response = await client.create_multipart_upload(**params)
        return response["UploadId"]

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
        """UploadPart with Content-MD5 and CRC32C; S3 rejects a mismatch (`IntegrityError`)."""
        params: UploadPartRequestTypeDef = {
            "Bucket": self.settings.bucket, "Key": self._prefix + key, "UploadId": upload_id,
            "PartNumber": number,
        }
        crc = await add_checksums(self.settings, params, data, checksums)
        with self._errors(key):
            response = await self._send("UploadPart", params, data)
        return uploaded_part(number, len(data), response, crc)

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """Every part S3 holds for the upload (ListParts, all pages), sorted by number."""
        with self._errors(key):
            client = await self._s3()
            return await list_parts(client, bucket=self.settings.bucket, key=self._prefix + key,
                                    upload_id=upload_id, page_size=_PAGE_SIZE)

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        """CompleteMultipartUpload with each part's ETag and CRC32C.

        When S3's answer is enough for the engine's check (a full-object CRC32C, or a
        multipart ETag the engine checks against the parts' MD5s; `completion_info`), that
        is what is returned, with the parts' total size; otherwise size and checksums come
        from a HeadObject, unless `head_after_complete` is false.
        An upload that is gone raises `ArtifactNotFoundError` (the engine then checks
        whether an earlier attempt completed it).
        """
        completed = completed_parts(parts, where=self.describe(key),
                                    with_crc32c=self.settings.checksum is not ChecksumMode.MD5)
        with self._errors(key):
            client = await self._s3()
            response = await client.complete_multipart_upload(
                Bucket=self.settings.bucket, Key=self._prefix + key, UploadId=upload_id,
                MultipartUpload={"Parts": completed},
            )
        known = completion_info(key, response, parts,
                                etag_checked=self._limits.s3_multipart_etag,
                                trust_parts=not self.settings.head_after_complete)
        if known is not None:
            return known
        info = await self.stat(key)
        checksums = dict(info.checksums) or full_crc32c(response)
        return ObjectInfo(
            key=key, size=info.size, etag=info.etag, checksums=checksums,
            modified=info.modified, metadata=info.metadata,
        )

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an upload that is already gone is not an error."""
        with contextlib.suppress(ArtifactNotFoundError), self._errors(key):
            client = await self._s3()
            await client.abort_multipart_upload(
                Bucket=self.settings.bucket, Key=self._prefix + key, UploadId=upload_id
            )

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        """Incomplete multipart uploads under `prefix` (ListMultipartUploads, all pages)."""
        with self._errors(prefix):
            client = await self._s3()
            return await list_uploads(client, bucket=self.settings.bucket,
                                      prefix=self._prefix + prefix, key_of=self._key_of,
                                      page_size=_PAGE_SIZE)

    async def stat(self, key: str) -> ObjectInfo:
        """HeadObject: size, ETag, full-object CRC32C (if S3 keeps one), metadata."""
        with self._errors(key):
            client = await self._s3()
            if self.settings.checksum is ChecksumMode.MD5:
                response = await client.head_object(
                    Bucket=self.settings.bucket, Key=self._prefix + key
                )
            else:
                response = await client.head_object(
                    Bucket=self.settings.bucket, Key=self._prefix + key, ChecksumMode="ENABLED"
                )
        return ObjectInfo(
            key=key, size=response["ContentLength"], etag=etag_of(response),
            checksums=full_crc32c(response), modified=response.get("LastModified"),
            metadata=metadata_from_s3(response.get("Metadata", {})),
        )

    async def _range(self, key: str, offset: int, length: int | None) -> str | None:
        """The HTTP Range of a read, or "" when it covers nothing, or None for all of it."""

        async def size() -> int:
            return (await self.stat(key)).size

        return await http_range(offset, length, size=size)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """GetObject, streamed in the pieces aiohttp received (the core batches them),
        ranged when asked.

        An offset at or past the end yields nothing (S3 answers 416 InvalidRange).
        """
        byte_range = await self._range(key, offset, length)
        if byte_range == "":
            return
        params: GetObjectRequestTypeDef = {
            "Bucket": self.settings.bucket, "Key": self._prefix + key,
        }
        if byte_range is not None:
            params["Range"] = byte_range
        with self._errors(key):
            client = await self._s3()
            try:
                response = await client.get_object(**params)
            except ClientError as exc:
                if error_code(exc) == "InvalidRange":
                    return
                raise
            streamed = response["Body"]
            try:
                # The pieces aiohttp received, never joined here (the core batches them).
                async with contextlib.aclosing(
                        received_pieces(streamed.raw_stream.content)) as received:
                    async for piece in received:
                        yield piece
            finally:
                streamed.close()

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        """DeleteObjects of the keys (the core sends at most 1000), one outcome per key.

        S3 reports a key as deleted whether or not it existed, so `existed` is None
        ("not known") for every deleted key, and `limits.delete_reports_absence` is False
        (GC asks `stat` first); a key S3 refused carries its error.
        """
        # The core sends 1 to 1000 distinct keys: nothing to check or remove here.
        with self._errors():
            client = await self._s3()
            response = await client.delete_objects(
                Bucket=self.settings.bucket,
                Delete={"Objects": [{"Key": self._prefix + k} for k in keys], "Quiet": False},
            )
        return delete_outcomes(response, keys, key_of=self._key_of, error=self._delete_error)

    def _delete_error(self, key: str, code: str, message: str) -> BackendError:
        return delete_error(code, message, self.describe(key), bucket=self.settings.bucket)

    async def list(self, prefix: str) -> AsyncGenerator[ObjectInfo, None]:
        """ListObjectsV2 under `prefix`, every page, in key order."""
        with self._errors(prefix):
            client = await self._s3()
            listed = list_objects(client, bucket=self.settings.bucket,
                                  prefix=self._prefix + prefix, key_of=self._key_of,
                                  page_size=_PAGE_SIZE)
            async with contextlib.aclosing(listed) as infos:
                async for info in infos:
                    yield info

    async def aclose(self) -> None:
        """Close the client and its connections."""
        self._fast = None
        await self._sdk.aclose()
