"""Completing an upload: composing its parts, level by level (see `_layout.compose_plan`).

The driver (`_driver`) runs this inside its error mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import anyio

from ._client import Client
from ._layout import Step

__all__ = ["compose_all"]

# Compose requests of one level in flight at once.
_COMPOSE_CONCURRENCY = 8


async def _compose(
    client: Client, destination: str, sources: list[str], metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """One compose request of `sources` into `destination`; GCS's answer."""
    settings = client.settings
    target: dict[str, Any] = {"contentType": "application/octet-stream"}
    if metadata:
        target["metadata"] = dict(metadata)
    params = {}
    if settings.kms_key_name is not None:
        params["kmsKeyName"] = settings.kms_key_name
    return await client.call_json(
        "POST",
        f"/storage/v1/b/{quote(settings.bucket, safe='')}/o/{quote(destination, safe='')}"
        "/compose",
        params=params,
        json_body={"sourceObjects": [{"name": s} for s in sources], "destination": target},
    )


async def compose_all(
    client: Client, plan: list[list[Step]], metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """Run the plan's levels in order (each level's steps concurrently, a few at a time);
    the final object, which alone gets `metadata`, as GCS's answer describes it."""
    limiter = anyio.CapacityLimiter(_COMPOSE_CONCURRENCY)
    answer: dict[str, Any] = {}
    for level in plan:
        final_level = level is plan[-1]

        async def compose(destination: str, step_sources: list[str],
                          final_step: bool = final_level) -> None:
            nonlocal answer
            async with limiter:
                result = await _compose(client, destination, step_sources,
                                        metadata if final_step else None)
            if final_step:
                answer = result

        async with anyio.create_task_group() as tg:
            for destination, step_sources in level:
                tg.start_soon(compose, destination, step_sources)
    return answer
