"""Listing and deleting objects: the pages of ListObjectsV2 and the outcomes of a
DeleteObjects.

The driver (`_driver`) sends the requests inside its error mapping; this module only
reads their answers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from artifacts_async import BackendError
from artifacts_async.abc import DeleteOutcome, ObjectInfo

from ._errors import from_code

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["delete_error", "delete_outcomes", "list_objects"]


async def list_objects(
    client: S3Client, *, bucket: str, prefix: str, key_of: Callable[[str], str],
    page_size: int,
) -> AsyncGenerator[ObjectInfo, None]:
    """ListObjectsV2 under `prefix` (a full S3 prefix), every page, in key order; `key_of`
    turns an S3 key back into the driver's key."""
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size},
    ):
        for item in page.get("Contents", []):
            yield ObjectInfo(
                key=key_of(item["Key"]), size=item["Size"],
                etag=str(item.get("ETag", "")).strip('"') or None,
                modified=item.get("LastModified"),
            )


def delete_error(code: str, message: str, where: str, *, bucket: str) -> BackendError:
    """The typed error of a key DeleteObjects refused (`where` names the object)."""
    mapped = from_code(code, message, where, bucket=bucket)
    if isinstance(mapped, BackendError):
        return mapped
    return BackendError(str(mapped), backend_error=f"{code}: {message}")


def delete_outcomes(
    response: Mapping[str, Any], keys: Sequence[str], *, key_of: Callable[[str], str],
    error: Callable[[str, str, str], BackendError],
) -> list[DeleteOutcome]:
    """One outcome per key of a DeleteObjects answer, in the order of `keys`.

    S3 reports a key as deleted whether or not it existed, so `existed` is None ("not
    known") for every deleted key; a key S3 refused, or left out, carries the error
    `error(key, code, message)` makes.
    """
    outcomes: dict[str, DeleteOutcome] = {}
    for deleted in response.get("Deleted", []):
        key = key_of(deleted.get("Key", ""))
        outcomes[key] = DeleteOutcome(key=key, existed=None)
    for failed in response.get("Errors", []):
        key = key_of(failed.get("Key", ""))
        outcomes[key] = DeleteOutcome(key=key, error=error(
            key, failed.get("Code", "Unknown"), failed.get("Message", "")
        ))
    return [
        outcomes.get(k)
        or DeleteOutcome(key=k, error=error(k, "Unknown", "not in S3's answer"))
        for k in keys
    ]
