"""A blob as the driver protocol's `ObjectInfo`: from its properties (with the CRC32C the
driver stored at commit), from a listing, or from the answer to a write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.storage.blob import BlobProperties

from artifacts_async.abc import ObjectInfo

from ._wire import CRC_KEY, metadata_from_azure

__all__ = ["listed_info", "object_info", "stored_info"]


def _etag(props: BlobProperties) -> str | None:
    return str(props.etag or "").strip('"') or None


def object_info(key: str, props: BlobProperties) -> ObjectInfo:
    """`stat`'s answer: size, ETag, metadata, Content-MD5 (when the blob has one) and the
    CRC32C the driver stored at commit."""
    metadata = metadata_from_azure(props.metadata or {})
    crc = metadata.pop(CRC_KEY, None)
    found: dict[str, str] = {}
    if crc is not None and len(crc) == 8:
        found["crc32c"] = crc.lower()
    md5 = props.content_settings.content_md5
    if md5:
        found["md5"] = bytes(md5).hex()
    return ObjectInfo(
        key=key, size=props.size, etag=_etag(props), checksums=found,
        modified=props.last_modified, metadata=metadata,
    )


def listed_info(key: str, props: BlobProperties) -> ObjectInfo:
    """`list`'s answer for a blob: what a listing carries (no metadata, no CRC32C)."""
    md5 = props.content_settings.content_md5
    return ObjectInfo(
        key=key, size=props.size, etag=_etag(props),
        checksums={"md5": bytes(md5).hex()} if md5 else {}, modified=props.last_modified,
    )


def stored_info(
    key: str, size: int, response: Mapping[str, Any], *, crc: int, md5: bytes | None,
    metadata: Mapping[str, str],
) -> ObjectInfo:
    """`put`'s answer: what was written (its CRC32C, and its MD5 when the service checked
    one) with the ETag and time of the service's answer."""
    found = {"crc32c": f"{crc:08x}"}
    if md5 is not None:
        found["md5"] = md5.hex()
    return ObjectInfo(
        key=key, size=size, etag=str(response.get("etag", "")).strip('"') or None,
        checksums=found, modified=response.get("last_modified"), metadata=dict(metadata),
    )
