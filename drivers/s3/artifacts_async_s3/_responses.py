"""S3's wire formats: ETags, checksums in base64, user metadata in ASCII headers."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from artifacts_async import ConfigurationError
from artifacts_async.abc import from_header_value, header_value

__all__ = [
    "MD5_HEX",
    "b64",
    "etag_of",
    "full_crc32c",
    "hex_of",
    "metadata_from_s3",
    "metadata_to_s3",
]

MD5_HEX = re.compile(r"[0-9a-f]{32}")


def b64(raw: bytes) -> str:
    """The base64 form S3's checksum headers use."""
    return base64.b64encode(raw).decode("ascii")


def hex_of(value: str) -> str:
    """A base64 checksum from S3 as lowercase hex."""
    return base64.b64decode(value).hex()


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


_NAME = re.compile(r"[ -~]+")


def metadata_to_s3(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata as S3 takes it: names printable ASCII (else `ConfigurationError`),
    values a header cannot carry unchanged RFC 2047-encoded (`abc.header_value`)."""
    encoded = {}
    for name, value in metadata.items():
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"s3 driver: metadata name {name!r} must be printable ASCII"
            )
        encoded[name] = header_value(value)
    return encoded


def metadata_from_s3(metadata: Mapping[str, str]) -> dict[str, str]:
    """The inverse of `metadata_to_s3`."""
    return {name: from_header_value(value) for name, value in metadata.items()}
