"""Reading S3's answers: ETags, checksums, base64."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import crc32c

__all__ = ["MD5_HEX", "b64", "crc32c_of", "etag_of", "full_crc32c", "hex_of"]

MD5_HEX = re.compile(r"[0-9a-f]{32}")


def b64(raw: bytes) -> str:
    """The base64 form S3's checksum headers use."""
    return base64.b64encode(raw).decode("ascii")


def hex_of(value: str) -> str:
    """A base64 checksum from S3 as lowercase hex."""
    return base64.b64decode(value).hex()


def crc32c_of(data: bytes | bytearray) -> bytes:
    """The CRC32C of `data`, 4 bytes big-endian (releases the GIL: call it in a thread)."""
    return crc32c.crc32c(data).to_bytes(4, "big")


def etag_of(response: Mapping[str, Any]) -> str | None:
    """S3's ETag without quotes; None when it is not an MD5 digest (SSE-KMS)."""
    etag = response.get("ETag")
    if not etag or str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        return None
    return str(etag).strip('"')


def full_crc32c(response: Mapping[str, Any]) -> dict[str, str]:
    """`{"crc32c": hex}` when S3 reports a full-object CRC32C, else `{}`.

    A multipart object's CRC32C counts only when S3 says it is `FULL_OBJECT`: a composite
    one (a CRC of the parts' CRCs) comes as `<crc>-<parts>` from AWS, but bare and
    untyped from some S3-compatible stores (moto's HeadObject, for one).
    """
    value = response.get("ChecksumCRC32C")
    kind = response.get("ChecksumType")
    multipart = "-" in str(response.get("ETag", ""))
    if not value or "-" in value:
        return {}
    if kind != "FULL_OBJECT" and (kind is not None or multipart):
        return {}
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return {}
    return {"crc32c": raw.hex()} if len(raw) == 4 else {}
