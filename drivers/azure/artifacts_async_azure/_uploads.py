"""Staged uploads read back from the service: one upload's uncommitted blocks, the whole
object's CRC32C combined from the parts', and the pending uploads under a prefix.

The driver (`_driver`) calls these inside its error mapping; block names are `_wire`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

import anyio
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock
from azure.storage.blob.aio import ContainerClient

from artifacts_async.abc import PendingUpload, UploadedPart, crc32c_combine

from ._wire import parse_block_id, started_at

__all__ = ["our_blocks", "pending_uploads", "whole_crc32c"]

T = TypeVar("T")
# How many blobs `pending_uploads` asks for their uncommitted blocks at once.
_INSPECT_CONCURRENCY = 8


def our_blocks(uncommitted: Iterable[BlobBlock], token: str) -> dict[int, int] | None:
    """The blocks of upload `token` among a blob's uncommitted blocks (number → size);
    None once the upload was aborted."""
    blocks: dict[int, int] = {}
    for block in uncommitted:
        name = parse_block_id(block.id)
        if name is None or name.token != token:
            continue
        if name.aborted:
            return None
        blocks[name.number] = block.size
    return blocks


def whole_crc32c(parts: Sequence[UploadedPart]) -> str | None:
    """The CRC32C (hex) of the parts joined, when every part carries one; else None."""
    crcs = [part.checksums.get("crc32c") for part in parts]
    if not parts or not all(crcs):
        return None
    whole = 0
    for part, crc in zip(parts, crcs, strict=True):
        whole = crc32c_combine(whole, int(str(crc), 16), part.size)
    return f"{whole:08x}"


async def pending_uploads(
    container: ContainerClient, names: Sequence[str], *, key_of: Callable[[str], str],
    errors: Callable[[str], AbstractContextManager[None]],
) -> list[PendingUpload]:
    """The uploads that hold uncommitted blocks in the blobs `names` and were not
    aborted: one block-list request per blob (inside `errors(key)`), a few at a time,
    sorted by key and id."""
    found: dict[tuple[str, str], PendingUpload] = {}

    async def inspect(name: str) -> None:
        key = key_of(name)
        with errors(key):
            try:
                _, uncommitted = await container.get_blob_client(name).get_block_list(
                    "uncommitted"
                )
            except HttpResponseError as exc:
                if exc.status_code == 404:
                    return  # deleted meanwhile
                raise
        aborted = set()
        for block in uncommitted:
            parsed = parse_block_id(block.id)
            if parsed is None:
                continue
            if parsed.aborted:
                aborted.add(parsed.token)
            found.setdefault((key, parsed.token), PendingUpload(
                key=key, upload_id=parsed.token, started=started_at(parsed.token)
            ))
        for token in aborted:
            del found[(key, token)]

    await _bounded(inspect, names)
    return sorted(found.values(), key=lambda u: (u.key, u.upload_id))


async def _bounded(fn: Callable[[T], Awaitable[None]], items: Sequence[T]) -> None:
    """Run `fn` over `items`, a few at a time; the first failure is raised as itself."""
    limiter = anyio.CapacityLimiter(_INSPECT_CONCURRENCY)
    errors: list[BaseException] = []

    async def one(item: T) -> None:
        async with limiter:
            if errors:
                return
            try:
                await fn(item)
            except Exception as exc:
                errors.append(exc)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(one, item)
    if errors:
        raise errors[0]
