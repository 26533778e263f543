"""GCS's object resource (JSON) as the driver protocol's values."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from artifacts_async.abc import ObjectInfo

__all__ = ["b64", "crc_hex", "object_info", "timestamp"]


def b64(crc: bytes) -> str:
    """A CRC32C (4 bytes, big-endian) in the base64 form GCS's resources use."""
    return base64.b64encode(crc).decode("ascii")


def crc_hex(resource: Mapping[str, Any]) -> str | None:
    """The resource's CRC32C as lowercase hex, or None when it has none."""
    value = resource.get("crc32c")
    if not value:
        return None
    raw = base64.b64decode(value)
    return raw.hex() if len(raw) == 4 else None


def timestamp(value: str | None) -> datetime | None:
    """An RFC 3339 time of a resource (`2026-11-27T08:55:22.97Z`), or None."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def object_info(key: str, resource: Mapping[str, Any]) -> ObjectInfo:
    """What `stat`, `put`, `complete_upload` and `list` report for an object resource."""
    crc = crc_hex(resource)
    return ObjectInfo(
        key=key, size=int(resource.get("size", 0)), etag=resource.get("etag"),
        checksums={"crc32c": crc} if crc else {},
        modified=timestamp(resource.get("updated") or resource.get("timeCreated")),
        metadata=dict(resource.get("metadata") or {}),
    )
