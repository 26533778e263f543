"""Garbage collection against the S3 server: batches of at most 1000 keys, retried steps."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import pytest
from artifacts_async_s3 import S3Driver

import artifacts_async as aa
from artifacts_async.abc import PartChecksums

pytestmark = pytest.mark.anyio


async def test_gc_over_one_batch_and_a_failed_attempt(
    settings: dict[str, Any], bucket: str, boto: Any
) -> None:
    """1,001 stored artifacts take two delete requests; a failed attempt is skipped."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"s3": {
        "driver": "s3", "bucket": bucket, "endpoint": settings["endpoint"],
        "region": "us-east-1", "credentials": {"access_key_env": "TEST_S3_ACCESS_KEY",
                                               "secret_key_env": "TEST_S3_SECRET_KEY"}}}})
    ctx = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p", retry_attempt=1,
                     artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)
    specs = [aa.OutputArtifact(name=f"a{i}", path="x", key=f"gc/{i:04d}") for i in range(1001)]
    planned = aa.plan_outputs(specs, context=ctx, config=config)
    driver = S3Driver.from_settings(settings)
    deletes: list[int] = []
    original = driver.delete

    async def counting_delete(keys: Any) -> Any:
        deletes.append(len(keys))
        return await original(keys)

    driver.delete = counting_delete  # type: ignore[method-assign]
    try:
        limiter = anyio.CapacityLimiter(32)

        async def put(key: str) -> None:
            async with limiter:
                await driver.put(key, b"x", checksums=PartChecksums(), metadata={})

        async with anyio.create_task_group() as tg:
            for record in planned:
                tg.start_soon(put, record.location.key)
        stored = [attrs.evolve(r, status=aa.ArtifactStatus.STORED) for r in planned]
        failed = attrs.evolve(planned[0], attempt=0, status=aa.ArtifactStatus.FAILED,
                              location=attrs.evolve(planned[0].location, key="gc/attempt-0"))
        async with aa.Artifacts(config, drivers={"s3": driver}) as arts:
            report = await arts.collect_garbage([failed, *stored],
                                                event=aa.GCEvent.WORKFLOW_COMPLETED)
    finally:
        await driver.aclose()
    assert report.ok
    assert report.deleted == 1001
    assert report.outcomes[0].reason == "never stored"
    assert sorted(deletes) == [1, 1000]
    assert boto.list_objects_v2(Bucket=bucket, Prefix="gc/").get("KeyCount") == 0


async def test_gc_reports_objects_already_gone_as_already_absent(
    settings: dict[str, Any], bucket: str, boto: Any
) -> None:
    """S3's DeleteObjects says "Deleted" for absent keys; GC still reports them truthfully."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"s3": {
        "driver": "s3", "bucket": bucket, "endpoint": settings["endpoint"],
        "region": "us-east-1", "credentials": {"access_key_env": "TEST_S3_ACCESS_KEY",
                                               "secret_key_env": "TEST_S3_SECRET_KEY"}}}})
    ctx = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p",
                     artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)
    specs = [aa.OutputArtifact(name=n, path="x", key=f"gone/{n}") for n in ("here", "gone")]
    records = [attrs.evolve(r, status=aa.ArtifactStatus.STORED)
               for r in aa.plan_outputs(specs, context=ctx, config=config)]
    boto.put_object(Bucket=bucket, Key="gone/here", Body=b"x")
    async with aa.Artifacts(config) as arts:
        first = await arts.collect_garbage(records, event=aa.GCEvent.WORKFLOW_COMPLETED)
        second = await arts.collect_garbage(records, event=aa.GCEvent.WORKFLOW_COMPLETED)
    assert [o.status for o in first.outcomes] == [aa.GCStatus.DELETED,
                                                  aa.GCStatus.ALREADY_ABSENT]
    assert (second.deleted, second.already_absent) == (0, 2)
    assert boto.list_objects_v2(Bucket=bucket, Prefix="gone/").get("KeyCount") == 0
