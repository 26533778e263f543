"""Listings and deletes: the paged object listing, one batch delete request read back as
one outcome per name, and the pending uploads a listing of temporaries shows.

The driver (`_driver`) sends these inside its error mapping.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from datetime import datetime
from typing import Any

from artifacts_async import BackendError
from artifacts_async.abc import DeleteOutcome, PendingUpload

from ._batch import encode_deletes, parse_answers
from ._client import Client
from ._layout import Layout
from ._resources import timestamp

__all__ = ["delete_names", "list_objects", "pending_uploads"]


async def list_objects(
    client: Client, name_prefix: str, *, page_size: int
) -> AsyncGenerator[dict[str, Any], None]:
    """Every object resource whose name starts with `name_prefix`, page by page."""
    params = {"prefix": name_prefix, "maxResults": str(page_size)}
    while True:
        page = await client.storage.list_objects(
            client.settings.bucket, params=params, timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
        )
        for item in page.get("items", []):
            yield item
        token = page.get("nextPageToken")
        if not token:
            return
        params = {**params, "pageToken": token}


async def delete_names(
    client: Client, names: Sequence[str], *, key_of: Callable[[str], str],
    error: Callable[[str, int, str], BackendError],
) -> list[DeleteOutcome]:
    """One batch request deleting `names` (at most 100); one outcome per name, under its
    key: existed (deleted), absent (404), or `error(key, status, text)`."""
    body, content_type = encode_deletes(client.settings.bucket, names)
    response = await client.call("POST", "/batch/storage/v1", data=body,
                                 headers={"Content-Type": content_type})
    answers = parse_answers(response.headers.get("Content-Type", ""), await response.text())
    outcomes = []
    for index, name in enumerate(names):
        key = key_of(name)
        status, text = answers.get(index, (0, "not in GCS's batch answer"))
        if 200 <= status < 300:
            outcomes.append(DeleteOutcome(key=key, existed=True))
        elif status == 404:
            outcomes.append(DeleteOutcome(key=key, existed=False))
        else:
            outcomes.append(DeleteOutcome(key=key, error=error(key, status, text)))
    return outcomes


async def pending_uploads(
    items: AsyncIterable[dict[str, Any]], layout: Layout
) -> list[PendingUpload]:
    """The uploads whose temporaries `items` lists, each started at its oldest one."""
    started: dict[tuple[str, str], datetime | None] = {}
    async for item in items:
        parsed = layout.parse(item["name"])
        if parsed is None:
            continue
        ident = (parsed[0], parsed[1])
        when = timestamp(item.get("timeCreated"))
        earlier = started.get(ident, when)
        started[ident] = min(earlier, when) if earlier and when else earlier or when
    return [PendingUpload(key=key, upload_id=upload_id, started=when)
            for (key, upload_id), when in sorted(started.items())]
