"""Deleting a directory stored with archive `none`: its manifest, then every object under
its key (found by one listing), so that what an interrupted save left is deleted too.

The manifest goes first: once it is gone the artifact no longer exists, and a delete
that fails half-way leaves only objects a later collection (or a rerun) still finds.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import stamina

from ._exceptions import ArtifactError, TransientBackendError
from ._manifest import manifest_key
from .abc import DeleteOutcome, Driver

__all__ = ["DirectoryDeletion", "delete_directory"]


@attrs.frozen(kw_only=True)
class DirectoryDeletion:
    """What deleting one directory artifact did.

    `found` counts the objects listed under its key; `kept` is true when an unfinished
    attempt's leftovers were not deleted because a manifest exists (another attempt
    stored the key); `error` is the first failure; `requests` the delete requests sent.
    """

    found: int
    kept: bool = False
    error: ArtifactError | None = None
    requests: int = 0


async def delete_directory(driver: Driver, key: str, *, attempts: int, unfinished: bool,
                           dry_run: bool = False) -> DirectoryDeletion:
    """Delete the manifest and every object under `key/`.

    With `unfinished` (the record was never stored: a failed or killed attempt), only
    objects without a manifest are deleted: a manifest means another attempt stored this
    key, and its artifact is not this record's to delete.
    """
    requests = 0

    async def retried_delete(keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        nonlocal requests
        async for attempt in stamina.retry_context(on=TransientBackendError,
                                                   attempts=attempts):
            with attempt:
                requests += 1
                return await driver.delete(keys)
        raise AssertionError("unreachable: the retry loop returns or raises")

    try:
        listed: list[str] = []
        async for attempt in stamina.retry_context(on=TransientBackendError,
                                                   attempts=attempts):
            with attempt:
                listed = [info.key async for info in driver.list(f"{key}/")]
        manifest = manifest_key(key)
        if unfinished and manifest in listed:
            return DirectoryDeletion(found=len(listed), kept=True, requests=requests)
        if dry_run or not listed:
            return DirectoryDeletion(found=len(listed), requests=requests)
        rest = [k for k in listed if k != manifest]
        batches = [[manifest]] if manifest in listed else []
        size = max(1, driver.limits.delete_batch_size)
        batches += [rest[i : i + size] for i in range(0, len(rest), size)]
        for batch in batches:
            for outcome in await retried_delete(batch):
                if outcome.error is not None:
                    return DirectoryDeletion(found=len(listed), error=outcome.error,
                                             requests=requests)
    except ArtifactError as exc:
        return DirectoryDeletion(found=0, error=exc, requests=requests)
    return DirectoryDeletion(found=len(listed), requests=requests)
