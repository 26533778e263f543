"""Garbage collection against Azurite: batches of 256 keys, one request each."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
import attrs
import pytest
from artifacts_async_azure import AzureDriver
from azure.storage.blob import ContainerClient
from azure_support import KEY_ENV

import artifacts_async as aa
from artifacts_async.abc import PartChecksums

pytestmark = pytest.mark.anyio


async def test_gc_of_600_keys_takes_three_batch_requests(
    settings: Mapping[str, Any], azurite: str, container: str, blobs: ContainerClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """600 stored artifacts are deleted in exactly 3 batch requests on the wire."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"azure": {
        "driver": "azure", "endpoint": azurite, "container": container,
        "credentials": {"account_key_env": KEY_ENV}}}})
    ctx = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p", retry_attempt=1,
                     artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)
    specs = [aa.OutputArtifact(name=f"a{i}", path="x", key=f"gc/{i:04d}") for i in range(600)]
    planned = aa.plan_outputs(specs, context=ctx, config=config)
    driver = AzureDriver.from_settings({**settings, "sdk_logging": True})
    try:
        limiter = anyio.CapacityLimiter(32)

        async def put(key: str) -> None:
            async with limiter:
                await driver.put(key, b"x", checksums=PartChecksums(), metadata={})

        async with anyio.create_task_group() as tg:
            for record in planned[1:]:
                tg.start_soon(put, record.location.key)
        stored = [attrs.evolve(r, status=aa.ArtifactStatus.STORED) for r in planned]
        failed = attrs.evolve(planned[0], attempt=0, status=aa.ArtifactStatus.FAILED,
                              location=attrs.evolve(planned[0].location, key="gc/attempt-0"))
        # The SDK's request log shows each HTTP request sent from here on.
        caplog.set_level(logging.DEBUG, logger="azure.storage.blob")
        caplog.clear()
        async with aa.Artifacts(config, drivers={"azure": driver}) as arts:
            report = await arts.collect_garbage([failed, *stored],
                                                event=aa.GCEvent.WORKFLOW_COMPLETED)
    finally:
        await driver.aclose()
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith(
        "Request URL")]
    assert len(requests) == 3
    assert all("comp=batch" in url for url in requests)
    assert report.requests == 3
    assert report.ok
    assert (report.deleted, report.already_absent) == (599, 1)
    assert report.outcomes[0].reason == "never stored"
    assert report.outcomes[1].status is aa.GCStatus.ALREADY_ABSENT  # never put above
    assert list(blobs.list_blobs(name_starts_with="gc/")) == []
