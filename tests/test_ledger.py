"""The ledger: records kept durably, GC by workflow uid from another process."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import attrs
import pytest

import artifacts_async as aa

pytestmark = pytest.mark.anyio

COLLECT = textwrap.dedent("""
    import sys
    import anyio
    import artifacts_async as aa

    async def main() -> None:
        config = aa.RepositoryConfig.from_dict(
            {"repositories": {"local": {"driver": "local", "root": sys.argv[2]}}})
        async with aa.Ledger(sys.argv[1]) as ledger, aa.Artifacts(config) as arts:
            report = await arts.collect_workflow(ledger, workflow_uid="uid-7",
                                                 event=aa.GCEvent.WORKFLOW_DELETED)
        print(report.deleted, report.skipped, report.ok)

    anyio.run(main)
""")


async def test_ledger_survives_restart_and_gc_by_uid(tmp_path: Path) -> None:
    """Saves recorded from the callbacks are collected by uid from a new process."""
    root = tmp_path / "store"
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": str(root)}}})
    (tmp_path / "a.bin").write_bytes(b"a" * 1000)
    (tmp_path / "b.bin").write_bytes(b"b" * 1000)
    ctx = aa.Context(workflow_name="wf", workflow_uid="uid-7", pod_name="p", node_id="n1",
                     retry_attempt=1, artifact_gc=aa.GCStrategy.ON_WORKFLOW_DELETION)
    ledger = aa.Ledger(tmp_path / "ledger.sqlite3")

    async def on_report(details: aa.ReportDetails) -> None:
        await ledger.record(details.records)
        assert {r.status for r in await ledger.records(workflow_uid="uid-7")} == {
            aa.ArtifactStatus.PLANNED}

    async def on_complete(details: aa.CompleteDetails) -> None:
        await ledger.record(details.records)

    async with aa.Artifacts(config, options=aa.TransferOptions(state_dir=tmp_path / "s")) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="a", path=tmp_path / "a.bin", archive=aa.Archive.none()),
             aa.OutputArtifact(name="b", path=tmp_path / "b.bin", archive=aa.Archive.none()),
             aa.OutputArtifact(name="keep", path=tmp_path / "a.bin", archive=aa.Archive.none(),
                               key="kept/a.bin", gc=aa.GCStrategy.NEVER),
             aa.OutputArtifact(name="missing", path=tmp_path / "nope", optional=True)],
            context=ctx, on_report=on_report, on_complete=on_complete)
    # A failed earlier attempt of the same node, recorded before the successful one.
    failed = attrs.evolve(result.records[0], attempt=0, status=aa.ArtifactStatus.FAILED,
                          location=attrs.evolve(result.records[0].location, key="wf/p0/a.bin"))
    await ledger.record([failed])
    ledger.close()
    assert (root / "wf/p/a.bin").exists()

    done = await anyio.run_process([sys.executable, "-c", COLLECT,
                                    str(tmp_path / "ledger.sqlite3"), str(root)])
    out = done.stdout.decode()
    assert out.split() == ["2", "3", "True"]
    assert not (root / "wf/p/a.bin").exists()
    assert not (root / "wf/p/b.bin").exists()
    assert (root / "kept/a.bin").exists()

    reopened = aa.Ledger(tmp_path / "ledger.sqlite3")
    assert await reopened.collected(workflow_uid="uid-7") == {
        "a/1": "deleted", "b/1": "deleted"}
    remaining = await reopened.records(workflow_uid="uid-7")
    assert sorted((r.name, r.attempt) for r in remaining) == [
        ("a", 0), ("keep", 1), ("missing", 1)]
    assert len(await reopened.records(workflow_uid="uid-7", include_collected=True)) == 5
    reopened.close()


def _stored(name: str, *, uid: str, key: str = "shared/model.bin") -> aa.ArtifactRecord:
    return aa.ArtifactRecord(
        name=name, location=aa.Location(repository="local", driver="local", key=key),
        archive=aa.Archive.none(), gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION,
        status=aa.ArtifactStatus.STORED, workflow_uid=uid, node_id="n", size=1,
        checksum="crc32c:00000000")


async def test_failed_statement_rolls_back(tmp_path: Path) -> None:
    """A failed batch is rolled back whole and the ledger keeps working afterwards."""
    import sqlite3  # noqa: PLC0415

    path = tmp_path / "ledger.sqlite3"
    async with aa.Ledger(path) as ledger:
        await ledger.record([_stored("first", uid="u")])
        with sqlite3.connect(path) as other:
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON artifacts "
                          "WHEN NEW.name = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            await ledger.record([_stored("half", uid="u"), _stored("bad", uid="u")])
        await ledger.record([_stored("after1", uid="u"), _stored("after2", uid="u")])
        names = [r.name for r in await ledger.records(workflow_uid="u")]
    assert names == ["after1", "after2", "first"]
    async with aa.Ledger(path) as reopened:  # what another process sees
        assert [r.name for r in await reopened.records(workflow_uid="u")] == names


async def test_mark_collected_touches_only_its_workflow(tmp_path: Path) -> None:
    """Collecting one workflow never marks another's (or a uid-less) record at the same key."""
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": str(tmp_path / "store")}}})
    async with aa.Ledger(tmp_path / "ledger.sqlite3") as ledger, aa.Artifacts(
            config, options=aa.TransferOptions(state_dir=tmp_path / "s")) as arts:
        await ledger.record([_stored("m", uid="A"), _stored("m", uid="B"), _stored("m", uid="")])
        report = await arts.collect_workflow(ledger, workflow_uid="A",
                                             event=aa.GCEvent.WORKFLOW_COMPLETED)
        assert report.already_absent == 1
        assert await ledger.collected(workflow_uid="A") == {"m/0": "already_absent"}
        assert await ledger.collected(workflow_uid="B") == {}
        assert await ledger.collected(workflow_uid="") == {}
        assert len(await ledger.records(workflow_uid="B")) == 1
