"""Garbage collection: exactly the stored, due artifacts; never trips over retried steps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from helpers import WrappedDriver, hide_driver

import artifacts_async as aa
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import DeleteOutcome, DriverLimits, ObjectInfo, PartChecksums

pytestmark = pytest.mark.anyio

S = aa.GCStrategy
COMPLETED, DELETED = aa.GCEvent.WORKFLOW_COMPLETED, aa.GCEvent.WORKFLOW_DELETED


def memory_config(store: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"default": "m", "repositories": {"m": {"driver": "memory", "name": store}}})


async def store_records(config: aa.RepositoryConfig, driver: MemoryDriver | LocalDriver,
                        records: Sequence[aa.ArtifactRecord]) -> list[aa.ArtifactRecord]:
    """Put each record's object and mark it stored."""
    stored = []
    for record in records:
        await driver.put(record.location.key, record.name.encode(), checksums=PartChecksums(),
                         metadata={})
        stored.append(attrs.evolve(record, status=aa.ArtifactStatus.STORED,
                                   size=len(record.name), checksum="crc32c:00000000"))
    return stored


# The truth table, written out: is an artifact with this effective strategy deleted?
DELETES = {
    (S.ON_WORKFLOW_COMPLETION, COMPLETED): True,
    (S.ON_WORKFLOW_COMPLETION, DELETED): True,   # still present at deletion: collected
    (S.ON_WORKFLOW_DELETION, COMPLETED): False,
    (S.ON_WORKFLOW_DELETION, DELETED): True,
    (S.NEVER, COMPLETED): False,
    (S.NEVER, DELETED): False,
}
WORKFLOW = [None, S.ON_WORKFLOW_COMPLETION, S.ON_WORKFLOW_DELETION, S.NEVER]
OVERRIDE = [None, S.ON_WORKFLOW_COMPLETION, S.ON_WORKFLOW_DELETION, S.NEVER]


@pytest.mark.parametrize("event", [COMPLETED, DELETED])
@pytest.mark.parametrize("workflow_gc", WORKFLOW)
async def test_strategy_status_event_matrix(memory_store_name: str, event: aa.GCEvent,
                                            workflow_gc: aa.GCStrategy | None) -> None:
    """Workflow default, artifact override, status and event: exactly the due keys go."""
    config = memory_config(memory_store_name)
    ctx = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p", artifact_gc=workflow_gc)
    statuses = ["planned", "stored", "failed"]
    specs = [aa.OutputArtifact(name=f"{status}-{override.value if override else 'none'}",
                               path="x", gc=override)
             for status, override in itertools.product(statuses, OVERRIDE)]
    planned = aa.plan_outputs(specs, context=ctx, config=config)
    driver = MemoryDriver(name=memory_store_name)
    records: list[aa.ArtifactRecord] = []
    for record in planned:
        status = record.name.split("-")[0]
        # Every key has an object, even for unstored records, to prove GC leaves them.
        (stored,) = await store_records(config, driver, [record])
        if status == "stored":
            records.append(stored)
        else:
            records.append(attrs.evolve(record, status=aa.ArtifactStatus(status)))
    expected = set()
    for spec, record in zip(specs, records, strict=True):
        effective = spec.gc or workflow_gc or S.NEVER
        if record.status is aa.ArtifactStatus.STORED and DELETES[(effective, event)]:
            expected.add(record.location.key)
    async with aa.Artifacts(config) as arts:
        report = await arts.collect_garbage(records, event=event)
    remaining = set(MemoryDriver.get_store(memory_store_name).objects)
    all_keys = {r.location.key for r in records}
    assert all_keys - remaining == expected
    assert report.ok
    assert report.deleted == len(expected)
    for outcome, record in zip(report.outcomes, records, strict=True):
        if record.status is not aa.ArtifactStatus.STORED:
            assert outcome.status is aa.GCStatus.SKIPPED
            assert outcome.reason in ("never stored", "gc strategy never")


async def test_retried_step_scenario(memory_store_name: str) -> None:
    """Attempt 1 failed after planning, attempt 2 stored: GC deletes attempt 2's object,
    skips attempt 1 as 'never stored', sends it to no driver, and succeeds."""
    config = aa.RepositoryConfig.from_dict({"default": "m", "repositories": {
        "m": {"driver": "memory", "name": memory_store_name}}})
    spec = aa.OutputArtifact(name="model", path="x", key="{{workflow.uid}}/{{retry.attempt}}/m")
    first = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p-1", retry_attempt=0,
                       artifact_gc=S.ON_WORKFLOW_COMPLETION)
    second = attrs.evolve(first, pod_name="p-2", retry_attempt=1)
    (failed,) = aa.plan_outputs([spec], context=first, config=config)
    failed = attrs.evolve(failed, status=aa.ArtifactStatus.FAILED, error="OOMKilled",
                          location=attrs.evolve(failed.location, repository="gone"))
    (planned,) = aa.plan_outputs([spec], context=second, config=config)
    driver = WrappedDriver(MemoryDriver(name=memory_store_name))
    (stored,) = await store_records(config, MemoryDriver(name=memory_store_name), [planned])
    async with aa.Artifacts(config, drivers={"m": driver}) as arts:
        report = await arts.collect_garbage([failed, stored], event=COMPLETED)
    assert report.ok
    assert [o.status for o in report.outcomes] == [aa.GCStatus.SKIPPED, aa.GCStatus.DELETED]
    assert report.outcomes[0].reason == "never stored"
    assert report.outcomes[0].attempt == 0
    assert driver.calls == [("delete", "u/1/m", None)]
    assert MemoryDriver.get_store(memory_store_name).objects == {}


async def test_idempotent(memory_store_name: str) -> None:
    """A second GC run reports the objects already absent and ends in the same state."""
    config = memory_config(memory_store_name)
    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name=n, path="x") for n in "ab"], context=ctx,
                              config=config)
    records = await store_records(config, MemoryDriver(name=memory_store_name), planned)
    async with aa.Artifacts(config) as arts:
        first = await arts.collect_garbage(records, event=COMPLETED)
        second = await arts.collect_garbage(records, event=COMPLETED)
    assert first.deleted == 2
    assert second.ok
    assert second.already_absent == 2
    assert MemoryDriver.get_store(memory_store_name).objects == {}


async def test_one_failure_does_not_stop_the_others(memory_store_name: str) -> None:
    """A permission failure on one key is reported for it; the others are deleted."""
    config = memory_config(memory_store_name)

    class Refusing(WrappedDriver):
        async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
            allowed = [k for k in keys if not k.endswith("/b.tgz")]
            results = list(await self.inner.delete(allowed))
            results += [DeleteOutcome(key=k, error=aa.PermissionDeniedError(
                f"delete {k}: AccessDenied")) for k in keys if k.endswith("/b.tgz")]
            return results

    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name=n, path="x") for n in "abc"],
                              context=ctx, config=config)
    records = await store_records(config, MemoryDriver(name=memory_store_name), planned)
    async with aa.Artifacts(config, drivers={"m": Refusing(MemoryDriver(
            name=memory_store_name))}) as arts:
        report = await arts.collect_garbage(records, event=COMPLETED)
    assert [o.status for o in report.outcomes] == [
        aa.GCStatus.DELETED, aa.GCStatus.FAILED, aa.GCStatus.DELETED]
    assert "AccessDenied" in (report.outcomes[1].reason or "")
    assert report.outcomes[1].problem == "runtime"
    assert not report.ok
    assert sorted(MemoryDriver.get_store(memory_store_name).objects) == ["wf/p/b.tgz"]


async def test_unusable_repository_fails_only_its_artifacts(
    memory_store_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository whose driver is not installed fails as configuration; others proceed."""
    hide_driver(monkeypatch, "azure")
    config = aa.RepositoryConfig.from_dict({"default": "m", "repositories": {
        "m": {"driver": "memory", "name": memory_store_name},
        "g": {"driver": "azure", "container": "b"}}})
    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name="a", path="x"),
                               aa.OutputArtifact(name="g", path="x", repository="g")],
                              context=ctx, config=config)
    local, remote = planned
    (local,) = await store_records(config, MemoryDriver(name=memory_store_name), [local])
    remote = attrs.evolve(remote, status=aa.ArtifactStatus.STORED)
    async with aa.Artifacts(config) as arts:
        report = await arts.collect_garbage([local, remote], event=COMPLETED)
    assert [o.status for o in report.outcomes] == [aa.GCStatus.DELETED, aa.GCStatus.FAILED]
    assert report.outcomes[1].problem == "configuration"
    assert "pip install 'artifacts-async[azure]'" in (report.outcomes[1].reason or "")


async def test_deletes_are_batched(memory_store_name: str) -> None:
    """2,500 stored artifacts in one repository take exactly 3 delete requests."""
    config = memory_config(memory_store_name)
    location = aa.Location(repository="m", driver="memory", key="")
    records = [aa.ArtifactRecord(name=f"a{i}", location=attrs.evolve(location, key=f"k/{i:05d}"),
                                 archive=aa.Archive.none(), gc=S.ON_WORKFLOW_COMPLETION,
                                 status=aa.ArtifactStatus.STORED) for i in range(2500)]
    store = MemoryDriver.get_store(memory_store_name)
    for record in records:
        store.objects[record.location.key] = (b"", {}, datetime.now(UTC))
    before = store.requests
    async with aa.Artifacts(config) as arts:
        report = await arts.collect_garbage(records, event=COMPLETED)
    assert report.deleted == 2500
    assert report.requests == 3
    assert store.requests - before == 3
    assert store.objects == {}


async def test_transient_failures_retried(memory_store_name: str) -> None:
    """A transient failure of a delete request is retried."""
    config = memory_config(memory_store_name)
    failures = {"left": 1}

    class Flaky(WrappedDriver):
        async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
            if failures["left"]:
                failures["left"] -= 1
                raise aa.TransientBackendError("503 SlowDown")
            return await self.inner.delete(keys)

    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name="a", path="x")], context=ctx,
                              config=config)
    records = await store_records(config, MemoryDriver(name=memory_store_name), planned)
    async with aa.Artifacts(config, drivers={"m": Flaky(MemoryDriver(
            name=memory_store_name))}) as arts:
        report = await arts.collect_garbage(records, event=COMPLETED)
    assert report.deleted == 1
    assert report.requests == 2


async def test_dry_run_deletes_nothing(memory_store_name: str) -> None:
    """A dry run reports what would be deleted and sends no delete request."""
    config = memory_config(memory_store_name)
    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name=n, path="x") for n in "ab"],
                              context=ctx, config=config)
    records = await store_records(config, MemoryDriver(name=memory_store_name), planned)
    store = MemoryDriver.get_store(memory_store_name)
    before = store.requests
    async with aa.Artifacts(config) as arts:
        report = await arts.collect_garbage(records, event=COMPLETED, dry_run=True)
    assert report.would_delete == 2
    assert report.requests == 0
    assert store.requests == before
    assert len(store.objects) == 2


async def test_sweep_orphans(memory_store_name: str) -> None:
    """The sweep aborts an incomplete upload older than the age and leaves a recent one."""
    driver = MemoryDriver(name=memory_store_name)
    old = await driver.start_upload("runs/old", metadata={})
    new = await driver.start_upload("runs/new", metadata={})
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    store = MemoryDriver.get_store(memory_store_name)
    store.uploads[old].started = now - timedelta(days=2)
    store.uploads[new].started = now - timedelta(minutes=5)
    would = await aa.sweep_orphans(driver, prefix="runs/", older_than=timedelta(hours=1),
                                   now=now, dry_run=True)
    assert [u.upload_id for u in would] == [old]
    assert len(store.uploads) == 2
    aborted = await aa.sweep_orphans(driver, prefix="runs/", older_than=timedelta(hours=1),
                                     now=now)
    assert [u.upload_id for u in aborted] == [old]
    assert list(store.uploads) == [new]


async def test_sweep_through_artifacts_with_local_driver(tmp_path: Path) -> None:
    """Artifacts.sweep_orphans removes the local driver's abandoned uploads."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"l": {
        "driver": "local", "root": str(tmp_path)}}})
    driver = LocalDriver(tmp_path)
    upload = await driver.start_upload("runs/x", metadata={})
    async with aa.Artifacts(config) as arts:
        assert await arts.sweep_orphans("l", prefix="runs/", older_than=timedelta(hours=1)) == []
        swept = await arts.sweep_orphans("l", prefix="runs/", older_than=timedelta(0))
    assert [u.upload_id for u in swept] == [upload]
    assert await driver.list_uploads("runs/") == []


class _CannotTell(WrappedDriver):
    """A backend whose batch delete answers "deleted" for absent keys too (as S3 does)."""

    forbidden: frozenset[str] = frozenset()

    @property
    def limits(self) -> DriverLimits:
        return attrs.evolve(self.inner.limits, delete_reports_absence=False)

    async def stat(self, key: str) -> ObjectInfo:
        if key in self.forbidden:
            raise aa.PermissionDeniedError(f"{key}: permission denied")
        return await super().stat(key)

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        outcomes = await self.inner.delete(keys)
        return [attrs.evolve(o, existed=None) for o in outcomes]


async def test_absence_is_reported_when_the_delete_cannot_tell(memory_store_name: str) -> None:
    """Where delete cannot tell, GC stats first: gone objects are `already_absent`."""
    config = memory_config(memory_store_name)
    ctx = aa.Context(workflow_name="wf", pod_name="p", artifact_gc=S.ON_WORKFLOW_COMPLETION)
    planned = aa.plan_outputs([aa.OutputArtifact(name=n, path="x") for n in "abc"],
                              context=ctx, config=config)
    memory = MemoryDriver(name=memory_store_name)
    records = await store_records(config, memory, planned)
    await memory.delete([records[1].location.key])  # gone before GC runs
    driver = _CannotTell(MemoryDriver(name=memory_store_name))
    driver.forbidden = frozenset({records[2].location.key})
    async with aa.Artifacts(config, drivers={"m": driver}) as arts:
        report = await arts.collect_garbage(records, event=COMPLETED)
    assert report.ok
    assert [(o.status, o.reason) for o in report.outcomes] == [
        (aa.GCStatus.DELETED, None),
        (aa.GCStatus.ALREADY_ABSENT, "already absent"),
        (aa.GCStatus.DELETED, "deleted; the backend cannot tell whether it still existed"),
    ]
    assert report.requests == 1
    assert MemoryDriver.get_store(memory_store_name).objects == {}


async def test_sweep_refuses_a_negative_age(memory_store_name: str) -> None:
    """A negative age would abort uploads still running: it is a ConfigurationError."""
    driver = MemoryDriver(name=memory_store_name)
    upload = await driver.start_upload("runs/live", metadata={})
    with pytest.raises(aa.ConfigurationError, match="older_than"):
        await aa.sweep_orphans(driver, older_than=timedelta(seconds=-1))
    assert [u.upload_id for u in await driver.list_uploads("")] == [upload]
