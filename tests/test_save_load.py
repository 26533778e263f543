"""Saving outputs and loading inputs end to end with the local and memory drivers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from helpers import WrappedDriver, hide_driver

import artifacts_async as aa
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import ObjectInfo, PartChecksums

pytestmark = pytest.mark.anyio

CTX = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="wf-pod-1")


def local_config(root: Path) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"default": "local", "repositories": {"local": {"driver": "local", "root": str(root)}}})


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma")
    (root / "empty-dir").mkdir()
    (root / "link").symlink_to("a.txt")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_report_comes_before_any_byte(tmp_path: Path) -> None:
    """on_report gets every planned record while nothing exists at any destination key."""
    store = tmp_path / "store"
    (tmp_path / "model.bin").write_bytes(os.urandom(3_000_000))
    make_tree(tmp_path / "logs")
    seen: dict[str, Any] = {}

    def on_report(details: aa.ReportDetails) -> None:
        seen["records"] = list(details.records)
        seen["existing"] = [r.location.key for r in details.records
                            if (store / r.location.key).exists()]
        seen["files"] = [p for p in store.rglob("*") if p.is_file()] if store.exists() else []

    async def on_complete(details: aa.CompleteDetails) -> None:
        await anyio.lowlevel.checkpoint()
        seen["complete"] = list(details.records)

    async with aa.Artifacts(local_config(store),
                            options=aa.TransferOptions(state_dir=tmp_path / "state")) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="model", path=tmp_path / "model.bin",
                               archive=aa.Archive.none()),
             aa.OutputArtifact(name="logs", path=tmp_path / "logs")],
            context=CTX, on_report=on_report, on_complete=on_complete)
    assert [r.status for r in seen["records"]] == [aa.ArtifactStatus.PLANNED] * 2
    assert [r.location.key for r in seen["records"]] == ["wf/wf-pod-1/model.bin",
                                                         "wf/wf-pod-1/logs.tgz"]
    assert seen["existing"] == []
    assert seen["files"] == []
    assert seen["complete"] == list(result.records)
    assert [r.status for r in result.records] == [aa.ArtifactStatus.STORED] * 2
    assert (store / "wf/wf-pod-1/model.bin").read_bytes() == (tmp_path / "model.bin").read_bytes()
    assert result.records[0].size == 3_000_000
    assert result.records[0].checksum is not None
    assert result.records[0].checksum.startswith("crc32c:")


async def test_planning_error_uploads_nothing(tmp_path: Path) -> None:
    """A planning error is raised before on_report and before any upload."""
    (tmp_path / "f").write_text("x")
    called: list[aa.ReportDetails] = []
    async with aa.Artifacts(local_config(tmp_path / "store")) as arts:
        with pytest.raises(aa.KeyTemplateError, match="'bad'"):
            await arts.save_outputs(
                [aa.OutputArtifact(name="good", path=tmp_path / "f"),
                 aa.OutputArtifact(name="bad", path=tmp_path / "f", key="{{workflow.oops}}")],
                context=CTX, on_report=called.append)
    assert called == []
    assert not (tmp_path / "store").exists()


async def test_round_trip_all_archive_kinds(tmp_path: Path, memory_store_name: str) -> None:
    """Files and directories round-trip through none, tar (0, 1, 9) and zip."""
    make_tree(tmp_path / "tree")
    (tmp_path / "single.bin").write_bytes(os.urandom(100_000))
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    outputs = [
        aa.OutputArtifact(name="file-none", path=tmp_path / "single.bin",
                          archive=aa.Archive.none()),
        aa.OutputArtifact(name="file-tgz", path=tmp_path / "single.bin"),
        aa.OutputArtifact(name="tree-tar", path=tmp_path / "tree",
                          archive=aa.Archive.tar(compression_level=0)),
        aa.OutputArtifact(name="tree-tgz1", path=tmp_path / "tree",
                          archive=aa.Archive.tar(compression_level=1)),
        aa.OutputArtifact(name="tree-tgz9", path=tmp_path / "tree",
                          archive=aa.Archive.tar(compression_level=9)),
        aa.OutputArtifact(name="tree-zip", path=tmp_path / "tree", archive=aa.Archive.zip()),
    ]
    async with aa.Artifacts(config, options=aa.TransferOptions(resume=False)) as arts:
        result = await arts.save_outputs(outputs, context=CTX)
        assert result.ok, result.errors
        inputs = [aa.InputArtifact(name=r.name, path=tmp_path / "in" / r.name, record=r)
                  for r in result.records]
        loaded = await arts.load_inputs(inputs, context=CTX)
    assert loaded.errors == {}
    src = (tmp_path / "single.bin").read_bytes()
    assert (tmp_path / "in/file-none").read_bytes() == src
    assert (tmp_path / "in/file-tgz").read_bytes() == src
    sizes = {r.name: r.size for r in result.records}
    assert sizes["tree-tgz9"] is not None
    assert sizes["tree-tar"] is not None
    assert sizes["tree-tgz9"] < sizes["tree-tar"]
    for name in ["tree-tar", "tree-tgz1", "tree-tgz9"]:
        assert files_under(tmp_path / "in" / name) == files_under(tmp_path / "tree"), name
    # Zip has no symlinks: a link to a file inside the tree is stored as its content.
    expected_zip = {**files_under(tmp_path / "tree"), "link": b"alpha\n"}
    assert files_under(tmp_path / "in" / "tree-zip") == expected_zip
    for name in ["tree-tar", "tree-tgz1", "tree-tgz9", "tree-zip"]:
        assert (tmp_path / "in" / name / "empty-dir").is_dir()
    for name in ["tree-tar", "tree-tgz1", "tree-tgz9"]:
        assert os.readlink(tmp_path / "in" / name / "link") == "a.txt"


async def test_failure_of_one_does_not_stop_others(tmp_path: Path) -> None:
    """One artifact's backend failure is recorded; the others are stored."""
    for name in "abc":
        (tmp_path / name).write_bytes(name.encode() * 1000)

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if kwargs.get("key", "").endswith("/b"):
            raise aa.PermissionDeniedError("write to b: access denied", backend_error="403")

    driver = WrappedDriver(LocalDriver(tmp_path / "store"), hook)
    completed: list[aa.CompleteDetails] = []
    async with aa.Artifacts(local_config(tmp_path / "store"),
                            drivers={"local": driver}) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name=n, path=tmp_path / n, archive=aa.Archive.none())
             for n in "abc"],
            context=CTX, on_complete=completed.append)
    statuses = {r.name: r.status for r in result.records}
    assert statuses == {"a": aa.ArtifactStatus.STORED, "b": aa.ArtifactStatus.FAILED,
                        "c": aa.ArtifactStatus.STORED}
    assert isinstance(result.errors["b"], aa.PermissionDeniedError)
    assert "access denied" in (result.records[1].error or "")
    assert len(completed) == 1
    assert not result.ok
    with pytest.raises(aa.PermissionDeniedError):
        result.raise_for_errors()
    # A permission failure is permanent: one attempt, no retries.
    assert [c for c in driver.calls if c[1].endswith("/b")] == [("put", "wf/wf-pod-1/b", None)]


async def test_missing_paths(tmp_path: Path, memory_store_name: str) -> None:
    """A missing required path fails that artifact; an optional one is skipped."""
    (tmp_path / "here").write_text("x")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="here", path=tmp_path / "here"),
             aa.OutputArtifact(name="req", path=tmp_path / "nope"),
             aa.OutputArtifact(name="opt", path=tmp_path / "nope2", optional=True)],
            context=CTX)
    statuses = [r.status for r in result.records]
    assert statuses == [aa.ArtifactStatus.STORED, aa.ArtifactStatus.FAILED,
                        aa.ArtifactStatus.SKIPPED]
    assert isinstance(result.errors["req"], aa.MissingInputError)
    assert "opt" not in result.errors
    assert sorted(MemoryDriver.get_store(memory_store_name).objects) == ["wf/wf-pod-1/here.tgz"]


async def test_directory_with_archive_none_round_trips(tmp_path: Path,
                                                       memory_store_name: str) -> None:
    """A directory with archive none is stored (one object per file and a manifest) and
    loads back identical."""
    make_tree(tmp_path / "d")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config, options=aa.TransferOptions(resume=False)) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none())],
            context=CTX)
        result.raise_for_errors()
        (record,) = result.records
        assert record.directory
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "out", record=record)],
                               context=CTX)
    assert files_under(tmp_path / "out") == files_under(tmp_path / "d")
    assert (tmp_path / "out" / "empty-dir").is_dir()
    assert os.readlink(tmp_path / "out" / "link") == "a.txt"


async def test_uploads_run_concurrently(tmp_path: Path, memory_store_name: str) -> None:
    """Two artifacts are in flight at once: each put waits until the other has started."""
    (tmp_path / "x").write_bytes(b"x" * 10)
    (tmp_path / "y").write_bytes(b"y" * 10)
    started = {"x": anyio.Event(), "y": anyio.Event()}

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        name = kwargs["key"].rsplit("/", 1)[-1]
        started[name].set()
        other = "y" if name == "x" else "x"
        with anyio.fail_after(5):
            await started[other].wait()

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config, drivers={"m": driver}) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name=n, path=tmp_path / n, archive=aa.Archive.none())
             for n in "xy"], context=CTX)
    assert result.ok, result.errors


async def test_load_missing_inputs(tmp_path: Path, memory_store_name: str) -> None:
    """A missing required input raises MissingInputError; an optional one is skipped."""
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config) as arts:
        result = await arts.load_inputs(
            [aa.InputArtifact(name="o", path=tmp_path / "o", key="nope.bin", optional=True)],
            context=CTX)
        assert result.skipped == ["o"]
        with pytest.raises(aa.MissingInputError, match="'r'"):
            await arts.load_inputs([aa.InputArtifact(name="r", path=tmp_path / "r",
                                                     key="nope.tgz")], context=CTX)
    assert not (tmp_path / "o").exists()


async def test_load_detects_corruption(tmp_path: Path, memory_store_name: str) -> None:
    """A stored object whose body was damaged after saving fails its load with
    IntegrityError, whatever the damage made extraction do; nothing is left at the path."""
    (tmp_path / "f").write_bytes(os.urandom(50_000))
    make_tree(tmp_path / "d")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none()),
             aa.OutputArtifact(name="tar", path=tmp_path / "d",
                               archive=aa.Archive.tar(compression_level=0)),
             aa.OutputArtifact(name="tgz", path=tmp_path / "d"),
             aa.OutputArtifact(name="zip", path=tmp_path / "d", archive=aa.Archive.zip())],
            context=CTX)
        store = MemoryDriver.get_store(memory_store_name)
        for record in result.records:
            data, meta, when = store.objects[record.location.key]
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0xFF  # inside the archive's body
            store.objects[record.location.key] = (bytes(damaged), meta, when)
        for record in result.records:
            with pytest.raises(aa.IntegrityError):
                await arts.load_inputs([aa.InputArtifact(name=record.name,
                                                         path=tmp_path / "in" / record.name,
                                                         record=record)], context=CTX)
        assert not (tmp_path / "in").exists() or list((tmp_path / "in").iterdir()) == []
        stream = arts.open_stream(result.records[0])
        with pytest.raises(aa.IntegrityError, match="CRC32C"):
            async for _ in stream:
                pass


async def test_mode_is_applied_on_load(tmp_path: Path, memory_store_name: str) -> None:
    """An input's mode sets the permissions of what is written."""
    (tmp_path / "f").write_text("x")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none())],
            context=CTX)
        await arts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "g", mode=0o600,
                                                 record=result.records[0])], context=CTX)
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o600


async def test_open_stream_ranges(tmp_path: Path, memory_store_name: str) -> None:
    """open_stream streams whole objects (verified) and ranges."""
    data = os.urandom(1_000_000)
    (tmp_path / "f").write_bytes(data)
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    async with aa.Artifacts(config) as arts:
        (record,) = (await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none())],
            context=CTX)).records
        whole = b"".join([c async for c in arts.open_stream(record)])
        part = b"".join([c async for c in arts.open_stream(record, offset=10, length=100)])
        tail = b"".join([c async for c in arts.open_stream(record, offset=-5)])
    assert whole == data
    assert part == data[10:110]
    assert tail == data[-5:]


async def test_load_replaces_existing_directory(tmp_path: Path, memory_store_name: str) -> None:
    """Loading into an existing directory replaces it once extraction succeeded."""
    make_tree(tmp_path / "d")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "stale.txt").write_text("old")
    async with aa.Artifacts(config) as arts:
        (record,) = (await arts.save_outputs([aa.OutputArtifact(name="d", path=tmp_path / "d")],
                                             context=CTX)).records
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "dest",
                                                 record=record)], context=CTX)
    assert files_under(tmp_path / "dest") == files_under(tmp_path / "d")


async def test_missing_driver_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository naming an uninstalled driver fails with the package to install."""
    hide_driver(monkeypatch, "azure")
    (tmp_path / "f").write_text("x")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"g": {"driver": "azure", "container": "b"}}})
    async with aa.Artifacts(config) as arts:
        result = await arts.save_outputs([aa.OutputArtifact(name="f", path=tmp_path / "f")],
                                         context=CTX)
    error = result.errors["f"]
    assert isinstance(error, aa.DriverNotInstalledError)
    assert "pip install 'artifacts-async[azure]'" in str(error)


@pytest.mark.parametrize("archive", [aa.Archive.none(), aa.Archive.tar(), aa.Archive.zip()])
async def test_downloads_resume_after_transient_errors(tmp_path: Path, memory_store_name: str,
                                                       archive: aa.Archive) -> None:
    """A read broken off by a transient error continues where it stopped."""
    make_tree(tmp_path / "d")
    (tmp_path / "d" / "big.bin").write_bytes(os.urandom(3_000_000))
    source = tmp_path / "d" if archive.kind is not aa.ArchiveKind.NONE else \
        tmp_path / "d" / "big.bin"
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    failures = {"left": 2}

    class Flaky(WrappedDriver):
        async def read(self, key: str, *, offset: int = 0,
                       length: int | None = None) -> AsyncIterator[bytes]:
            sent = 0
            async for chunk in self.inner.read(key, offset=offset, length=length):
                if sent and failures["left"]:
                    failures["left"] -= 1
                    raise aa.TransientBackendError("connection reset")
                sent += len(chunk)
                yield chunk

    driver = Flaky(MemoryDriver(name=memory_store_name))
    async with aa.Artifacts(config, drivers={"m": driver}) as arts:
        (record,) = (await arts.save_outputs(
            [aa.OutputArtifact(name="a", path=source, archive=archive)], context=CTX)).records
        await arts.load_inputs([aa.InputArtifact(name="a", path=tmp_path / "out",
                                                 record=record)], context=CTX)
    assert failures["left"] == 0
    if archive.kind is aa.ArchiveKind.NONE:
        assert (tmp_path / "out").read_bytes() == source.read_bytes()
    else:
        got = files_under(tmp_path / "out")
        assert got["big.bin"] == (source / "big.bin").read_bytes()
        assert got["sub/b.bin"] == (source / "sub" / "b.bin").read_bytes()


async def test_artifacts_usable_after_aclose(tmp_path: Path) -> None:
    """After aclose, the drivers it created are closed and forgotten; new ones are made."""
    (tmp_path / "f").write_text("x")
    arts = aa.Artifacts(local_config(tmp_path / "store"))
    first = await arts.driver("local")
    await arts.aclose()
    second = await arts.driver("local")
    assert second is not first
    await arts.aclose()


async def test_key_only_input_verified_against_backend_checksum(
        tmp_path: Path, memory_store_name: str) -> None:
    """A key-only input is checked against the backend's whole-object CRC32C."""
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})

    class Lying(WrappedDriver):
        async def stat(self, key: str) -> ObjectInfo:
            info = await self.inner.stat(key)
            return attrs.evolve(info, checksums={"crc32c": "00000000"})

    store_driver = MemoryDriver(name=memory_store_name)
    data = os.urandom(10_000)
    await store_driver.put("given/key.bin", data, checksums=PartChecksums(), metadata={})
    async with aa.Artifacts(config) as arts:
        await arts.load_inputs([aa.InputArtifact(name="k", path=tmp_path / "ok",
                                                 key="given/key.bin")], context=CTX)
    assert (tmp_path / "ok").read_bytes() == data
    async with aa.Artifacts(config, drivers={"m": Lying(store_driver)}) as arts:
        with pytest.raises(aa.IntegrityError, match="CRC32C"):
            await arts.load_inputs([aa.InputArtifact(name="k", path=tmp_path / "bad",
                                                     key="given/key.bin")], context=CTX)
    assert not (tmp_path / "bad").exists()
