"""Multipart requests and answers: a part's record from UploadPart's answer, the part
list CompleteMultipartUpload takes and what its answer tells, and the paged listings of
parts and of pending uploads.

The driver (`_driver`) sends the requests inside its error mapping; this module only
builds and reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from artifacts_async import IntegrityError
from artifacts_async.abc import ObjectInfo, PendingUpload, UploadedPart

from ._responses import MD5_HEX, b64, etag_of, full_crc32c, hex_of

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

__all__ = ["completed_parts", "completion_info", "list_parts", "list_uploads", "multipart_etag",
           "uploaded_part"]


def uploaded_part(
    number: int, size: int, response: Mapping[str, Any], crc: bytes | None
) -> UploadedPart:
    """The part UploadPart's answer describes: its ETag, the CRC32C S3 echoed (else the
    one sent), and its MD5 when the ETag is one."""
    etag = str(response["ETag"]).strip('"')
    found: dict[str, str] = {}
    echoed = response.get("ChecksumCRC32C")
    if echoed:
        found["crc32c"] = hex_of(echoed)
    elif crc is not None:
        found["crc32c"] = crc.hex()
    if etag_of(response) is not None and MD5_HEX.fullmatch(etag):
        found["md5"] = etag
    return UploadedPart(number=number, size=size, etag=etag, checksums=found)


def completed_parts(
    parts: Sequence[UploadedPart], *, where: str, with_crc32c: bool
) -> list[CompletedPartTypeDef]:
    """CompleteMultipartUpload's part list: each part's ETag, and its CRC32C if asked.

    A part without an ETag cannot be completed: `IntegrityError` (`where` names it).
    """
    completed: list[CompletedPartTypeDef] = []
    for part in parts:
        if not part.etag:
            raise IntegrityError(f"{where}: part {part.number} has no ETag")
        entry: CompletedPartTypeDef = {"PartNumber": part.number, "ETag": part.etag}
        crc = part.checksums.get("crc32c")
        if crc is not None and with_crc32c:
            entry["ChecksumCRC32C"] = b64(bytes.fromhex(crc))
        completed.append(entry)
    return completed


def completion_info(
    key: str, response: Mapping[str, Any], parts: Sequence[UploadedPart], *,
    etag_checked: bool = False, trust_parts: bool = False,
) -> ObjectInfo | None:
    """What a CompleteMultipartUpload answer tells of the object, if that is enough;
    None when a HeadObject must tell the rest.

    Enough is one of:

    - S3's full-object CRC32C of the assembled object (the engine compares it with its
      own);
    - with `etag_checked` (the engine checks a multipart ETag against the MD5s of the
      parts it sent: `limits.s3_multipart_etag`), the multipart ETag of exactly these
      parts (the MD5 of their MD5 ETags, "-N"): it names the bytes of every part, in
      order, which is more than the size a HeadObject adds on servers without a
      full-object CRC32C (which may hash the whole object to answer a HEAD);
    - `trust_parts` (the driver's opt-in `head_after_complete = false`): nothing more.

    The size is that of the parts listed.
    """
    reported = full_crc32c(response)
    etag = etag_of(response)
    if reported or trust_parts or \
            (etag_checked and etag is not None and etag == multipart_etag(parts)):
        return ObjectInfo(key=key, size=sum(p.size for p in parts), etag=etag,
                          checksums=reported)
    return None


def multipart_etag(parts: Sequence[UploadedPart]) -> str | None:
    """S3's ETag of the object assembled from `parts`: the MD5 of their MD5 ETags, then
    "-" and their count; None when a part's ETag is not an MD5."""
    if not all(p.etag and MD5_HEX.fullmatch(p.etag) for p in parts):
        return None
    digests = b"".join(bytes.fromhex(p.etag or "") for p in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


async def list_parts(
    client: S3Client, *, bucket: str, key: str, upload_id: str, page_size: int
) -> list[UploadedPart]:
    """Every part S3 holds for the upload of `key` (its full S3 key), all pages, sorted
    by number."""
    parts: list[UploadedPart] = []
    marker = 0
    while True:
        page = await client.list_parts(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker,
            MaxParts=page_size,
        )
        for part in page.get("Parts", []):
            etag = str(part.get("ETag", "")).strip('"')
            found: dict[str, str] = {}
            if crc := part.get("ChecksumCRC32C"):
                found["crc32c"] = hex_of(crc)
            parts.append(UploadedPart(
                number=part["PartNumber"], size=part["Size"], etag=etag or None,
                checksums=found,
            ))
        next_marker = int(page.get("NextPartNumberMarker") or 0)
        if not page.get("IsTruncated") or next_marker <= marker:
            break
        marker = next_marker
    return sorted(parts, key=lambda p: p.number)


async def list_uploads(
    client: S3Client, *, bucket: str, prefix: str, key_of: Callable[[str], str],
    page_size: int,
) -> list[PendingUpload]:
    """Incomplete multipart uploads under `prefix` (a full S3 prefix), all pages; `key_of`
    turns an S3 key back into the driver's key."""
    found: list[PendingUpload] = []
    paginator = client.get_paginator("list_multipart_uploads")
    async for page in paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size},
    ):
        for upload in page.get("Uploads", []):
            found.append(PendingUpload(
                key=key_of(upload["Key"]), upload_id=upload["UploadId"],
                started=upload.get("Initiated"),
            ))
    return found
