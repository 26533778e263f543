"""Writing an object: one `multipart/related` upload request with its CRC32C declared,
and the check of what GCS says it stored.

The driver (`_driver`) sends these inside its error mapping; a part and a small object
are written the same way, under different names (see `_layout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread

from artifacts_async import TransientBackendError
from artifacts_async.abc import PartChecksums, crc32c

from ._body import RelatedBody
from ._client import Client
from ._resources import b64, crc_hex

__all__ = ["declared_crc", "insert", "mismatch"]

# The longest an upload whose body was sent may wait for GCS's answer once cancelled.
_SETTLE_SECONDS = 30.0


async def declared_crc(data: bytes | bytearray, checksums: PartChecksums) -> bytes:
    """The CRC32C to declare for `data` (computed here if the caller did not)."""
    if checksums.crc32c is not None:
        return checksums.crc32c
    value = await anyio.to_thread.run_sync(crc32c, data)
    return value.to_bytes(4, "big")


async def insert(
    client: Client, name: str, data: bytes | bytearray, crc: bytes, metadata: Mapping[str, str]
) -> dict[str, Any]:
    """One multipart (metadata + media) upload of `name`, CRC32C declared; GCS's answer."""
    settings = client.settings
    resource: dict[str, Any] = {
        "name": name, "crc32c": b64(crc), "contentType": "application/octet-stream",
    }
    if metadata:
        resource["metadata"] = dict(metadata)
    if settings.storage_class is not None:
        resource["storageClass"] = settings.storage_class
    params = {"uploadType": "multipart"}
    if settings.kms_key_name is not None:
        params["kmsKeyName"] = settings.kms_key_name
    with anyio.CancelScope() as settling:

        def sent() -> None:
            # Invariant: an upload whose body was sent is answered before this returns,
            # even under cancellation (bounded): GCS stores it whatever the client
            # does, so an abort that follows the cancellation must see it, not have
            # it land after its listing.
            settling.shield = True
            settling.deadline = min(settling.deadline,
                                    anyio.current_time() + _SETTLE_SECONDS)

        return await client.call_json(
            "POST", f"/upload/storage/v1/b/{quote(settings.bucket, safe='')}/o",
            params=params, data=RelatedBody(resource, data, on_sent=sent),
        )
    raise TransientBackendError(
        f"gs://{settings.bucket}/{name}: no answer {_SETTLE_SECONDS:.0f} s after the upload"
    )


def mismatch(answer: Mapping[str, Any], size: int, crc: bytes) -> str | None:
    """What GCS stored that differs from what was sent, or None."""
    stored = crc_hex(answer)
    if int(answer.get("size", -1)) != size:
        return f"size {answer.get('size')}, sent {size}"
    if stored != crc.hex():
        return f"CRC32C {stored}, sent {crc.hex()}"
    return None
