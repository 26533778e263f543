"""The headers of the requests that write: the repository's write options (encryption,
storage class) and the checksums of a request's body."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread

from artifacts_async.abc import PartChecksums, crc32c

from ._responses import b64
from ._settings import ChecksumMode, S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import (
        CreateMultipartUploadRequestTypeDef,
        PutObjectRequestTypeDef,
        UploadPartRequestTypeDef,
    )

__all__ = ["add_checksums", "write_options"]


def write_options(
    settings: S3Settings,
    params: PutObjectRequestTypeDef | CreateMultipartUploadRequestTypeDef,
) -> None:
    """Add the repository's encryption and storage class to a request creating an object."""
    if settings.sse is not None:
        params["ServerSideEncryption"] = settings.sse
    if settings.sse_kms_key_id is not None:
        params["SSEKMSKeyId"] = settings.sse_kms_key_id
    if settings.storage_class is not None:
        params["StorageClass"] = settings.storage_class  # type: ignore[arg-type]  # stores have their own classes


async def add_checksums(
    settings: S3Settings,
    params: PutObjectRequestTypeDef | UploadPartRequestTypeDef,
    data: bytes | bytearray,
    checksums: PartChecksums,
) -> bytes | None:
    """Add the Content-MD5 and CRC32C headers of a request's body; return the CRC32C.

    The CRC32C is the caller's, or computed here (in a thread) if the caller sent
    none; none at all in `md5` checksum mode.
    """
    if checksums.md5 is not None:
        params["ContentMD5"] = b64(checksums.md5)
    if settings.checksum is ChecksumMode.MD5:
        return None
    crc = checksums.crc32c
    if crc is None:
        crc = (await anyio.to_thread.run_sync(crc32c, data)).to_bytes(4, "big")
    params["ChecksumAlgorithm"] = "CRC32C"
    params["ChecksumCRC32C"] = b64(crc)
    return crc
