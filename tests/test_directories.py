"""Directories with archive none: layout refusals, unsafe manifests, Argo-written
directories, modes, and a save SIGKILLed half-way and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import killable_save_script

import artifacts_async as aa
from artifacts_async._dirsave import directory_outputs
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._manifest import MANIFEST_NAME
from artifacts_async.abc import crc32c

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


@pytest.fixture
def config(memory_store_name: str) -> aa.RepositoryConfig:
    """A memory repository."""
    return aa.RepositoryConfig.from_dict(
        {"default": "m", "repositories": {"m": {"driver": "memory", "name": memory_store_name}}})


def _options(tmp_path: Path) -> aa.TransferOptions:
    return aa.TransferOptions(state_dir=tmp_path / "state")


async def _save(config: aa.RepositoryConfig, tmp_path: Path, path: Path) -> aa.SaveResult:
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        return await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=path, archive=aa.Archive.none())], context=CTX)


def _put_manifest(store: str, key: str, manifest: dict[str, object]) -> None:
    data = json.dumps(manifest).encode()
    MemoryDriver.get_store(store).objects[f"{key}/{MANIFEST_NAME}"] = (data, {}, NOW)


async def test_file_named_like_the_manifest_is_refused(config: aa.RepositoryConfig,
                                                       tmp_path: Path,
                                                       memory_store_name: str) -> None:
    """A top-level file named like the manifest fails the artifact with a
    ConfigurationError, and nothing is uploaded."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / MANIFEST_NAME).write_text("{}")
    result = await _save(config, tmp_path, tmp_path / "d")
    assert isinstance(result.errors["d"], aa.ConfigurationError)
    assert MemoryDriver.get_store(memory_store_name).objects == {}


async def test_fifo_is_refused_like_tar(config: aa.RepositoryConfig, tmp_path: Path,
                                        memory_store_name: str) -> None:
    """A FIFO in the tree fails the artifact (as the tar writer refuses it); nothing is
    uploaded."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    os.mkfifo(tmp_path / "d" / "pipe")
    result = await _save(config, tmp_path, tmp_path / "d")
    assert isinstance(result.errors["d"], aa.ConfigurationError)
    assert MemoryDriver.get_store(memory_store_name).objects == {}


def _manifest(files: list[dict[str, object]], symlinks: list[dict[str, str]] | None = None,
              ) -> dict[str, object]:
    return {"format": "artifacts-async/directory", "version": 1, "files": files,
            "directories": [], "symlinks": symlinks or []}


@pytest.mark.parametrize("manifest", [
    _manifest([{"path": "../escape", "size": 1, "crc32c": f"{crc32c(b'x'):08x}",
                "mode": "644"}]),
    _manifest([{"path": "/abs", "size": 1, "crc32c": f"{crc32c(b'x'):08x}", "mode": "644"}]),
    _manifest([], [{"path": "out", "target": "../../etc"}]),
    _manifest([], [{"path": "abs", "target": "/etc"}]),
    _manifest([], [{"path": "here", "target": "."}, {"path": "sub/l", "target": "../here/.."}]),
    _manifest([{"path": "f", "size": 1, "crc32c": f"{crc32c(b'x'):08x}", "mode": "644"},
               {"path": "f/g", "size": 1, "crc32c": f"{crc32c(b'x'):08x}", "mode": "644"}]),
], ids=["dotdot", "absolute", "link-up", "link-absolute", "link-chain", "file-as-parent"])
async def test_unsafe_manifest_is_refused(config: aa.RepositoryConfig, tmp_path: Path,
                                          memory_store_name: str,
                                          manifest: dict[str, object]) -> None:
    """A manifest whose paths or links would leave the destination fails with
    UnsafeArchiveError; nothing is written outside, the old destination is kept."""
    store = MemoryDriver.get_store(memory_store_name)
    store.objects["k/x"] = (b"x", {}, NOW)
    store.objects["k/f"] = (b"x", {}, NOW)
    _put_manifest(memory_store_name, "k", manifest)
    (tmp_path / "work" / "dest").mkdir(parents=True)
    (tmp_path / "work" / "dest" / "old").write_text("kept")
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        with pytest.raises(aa.UnsafeArchiveError):
            await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "work" / "dest",
                                                     key="k")], context=CTX)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["dest"]
    assert [p.name for p in (tmp_path / "work" / "dest").iterdir()] == ["old"]


async def test_damaged_manifest_is_an_integrity_error(config: aa.RepositoryConfig,
                                                      tmp_path: Path,
                                                      memory_store_name: str) -> None:
    """A manifest that is not ours (bad JSON, another format) fails with IntegrityError."""
    store = MemoryDriver.get_store(memory_store_name)
    store.objects[f"k/{MANIFEST_NAME}"] = (b"{not json", {}, NOW)
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        with pytest.raises(aa.IntegrityError):
            await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "dest",
                                                     key="k")], context=CTX)
    assert not (tmp_path / "dest").exists()


async def test_argo_directory_is_loaded_by_listing(config: aa.RepositoryConfig, tmp_path: Path,
                                                   memory_store_name: str) -> None:
    """A directory Argo wrote (objects under `<key>/`, no manifest) loads from a listing of
    the key; an absent key is a MissingInputError."""
    store = MemoryDriver.get_store(memory_store_name)
    store.objects["argo/out/a.txt"] = (b"alpha", {}, NOW)
    store.objects["argo/out/sub/b.txt"] = (b"beta", {}, NOW)
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "dest",
                                                 key="argo/out")], context=CTX)
        with pytest.raises(aa.MissingInputError):
            await arts.load_inputs([aa.InputArtifact(name="e", path=tmp_path / "none",
                                                     key="argo/absent")], context=CTX)
    assert (tmp_path / "dest" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "dest" / "sub" / "b.txt").read_bytes() == b"beta"


async def test_modes_come_back_and_streaming_is_refused(config: aa.RepositoryConfig,
                                                        tmp_path: Path) -> None:
    """File modes (without setuid or group/other write) come back; a directory record has no
    single stream (ConfigurationError); it survives to_dict/from_dict."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "d" / "run.sh", 0o4777)
    (tmp_path / "d" / "ro.txt").write_text("r")
    os.chmod(tmp_path / "d" / "ro.txt", 0o400)
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none())],
            context=CTX)
        (record,) = result.records
        assert aa.ArtifactRecord.from_dict(record.to_dict()) == record
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "out",
                                                 record=record)], context=CTX)
        with pytest.raises(aa.ConfigurationError):
            await anext(arts.open_stream(record))
    assert (tmp_path / "out" / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "out" / "ro.txt").stat().st_mode & 0o7777 == 0o600


CHILD = killable_save_script(
    event="upload.complete", line="file {event.key}", name="tree",
    options="state_dir=state, max_artifacts_in_flight=4")


def test_sigkill_mid_directory_save_then_resume(tmp_path: Path) -> None:
    """A save of 300 files SIGKILLed after 150 leaves no manifest; the next run sends only
    files the first had not recorded, and the stored directory loads back identical."""
    source = tmp_path / "tree"
    for i in range(300):
        path = source / f"d{i % 7}" / f"f{i:03}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1000 + i))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root, state = tmp_path / "store", tmp_path / "state"
    args = [sys.executable, str(script), str(root), str(state), str(source)]
    first = subprocess.run([*args, "150"], capture_output=True, text=True, timeout=120,
                           check=False)
    assert first.returncode == -signal.SIGKILL, first.stderr
    sent_first = {line.split()[1] for line in first.stdout.splitlines()
                  if line.startswith("file ")}
    assert len(sent_first) == 150
    assert not (root / "wf/p/tree" / MANIFEST_NAME).exists()  # no artifact yet

    second = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert second.returncode == 0, second.stderr
    sent_second = {line.split()[1] for line in second.stdout.splitlines()
                   if line.startswith("file ")}
    manifest_key = f"wf/p/tree/{MANIFEST_NAME}"
    assert manifest_key in sent_second
    files_second = sent_second - {manifest_key}
    # At least the files journaled before the kill (batches of 32: 128 of the 150) are
    # not sent again; every file is stored by one run or the other.
    assert len(files_second) <= 300 - 128
    assert len(sent_first | files_second) == 300
    for path in source.rglob("*.bin"):
        stored = root / "wf/p/tree" / path.relative_to(source)
        assert stored.read_bytes() == path.read_bytes()


async def test_argo_archive_none_spelling_stores_a_directory(tmp_path: Path,
                                                             memory_store_name: str) -> None:
    """A repository whose default archive is Argo's `{none: {}}` stores a directory output
    as a directory with archive none (reported as one before the upload)."""
    config = aa.RepositoryConfig.from_dict({"default": "m", "repositories": {"m": {
        "driver": "memory", "name": memory_store_name, "archive": {"none": {}}}}})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    reported: list[aa.ArtifactRecord] = []
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        result = await arts.save_outputs([aa.OutputArtifact(name="d", path=tmp_path / "d")],
                                         context=CTX,
                                         on_report=lambda d: reported.extend(d.records))
    result.raise_for_errors()
    assert reported[0].directory
    assert sorted(MemoryDriver.get_store(memory_store_name).objects) == [
        f"wf/p/d/{MANIFEST_NAME}", "wf/p/d/a.txt"]


async def test_many_outputs_are_marked_in_a_thread(config: aa.RepositoryConfig,
                                                   tmp_path: Path) -> None:
    """In a save of many outputs (planned in a worker thread), the one that is a directory
    is reported as one, and only archive-none outputs are: a directory saved as tar is
    not."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    outputs = [aa.OutputArtifact(name=f"f{i}", path=tmp_path / f"f{i}", optional=True,
                                 archive=aa.Archive.none()) for i in range(70)]
    outputs += [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none()),
                aa.OutputArtifact(name="t", path=tmp_path / "d", archive=aa.Archive.tar())]
    reported: list[aa.ArtifactRecord] = []
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        result = await arts.save_outputs(outputs, context=CTX,
                                         on_report=lambda d: reported.extend(d.records))
    result.raise_for_errors()
    assert [r.name for r in reported if r.directory] == ["d"]


async def test_key_only_directory_without_verify_and_with_a_mode(
        config: aa.RepositoryConfig, tmp_path: Path) -> None:
    """A key-only input of a directory loads with verify off and a mode set (the mode on
    every file)."""
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "a.txt").write_text("a")
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none())],
            context=CTX)
        await arts.load_inputs([aa.InputArtifact(
            name="d", path=tmp_path / "out", key=result.records[0].location.key,
            archive=aa.Archive.none(), verify=False, mode=0o640)], context=CTX)
    assert (tmp_path / "out" / "sub" / "a.txt").read_text() == "a"
    assert (tmp_path / "out" / "sub" / "a.txt").stat().st_mode & 0o777 == 0o640


async def test_a_second_save_replaces_the_directory(config: aa.RepositoryConfig,
                                                    tmp_path: Path,
                                                    memory_store_name: str) -> None:
    """Saving a changed tree to the same key again sends only what changed, deletes the
    objects of files the tree no longer has, and the new manifest lists the new tree."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("keep")
    (tmp_path / "d" / "gone.txt").write_text("gone")
    started: list[str] = []

    def progress(event: aa.ProgressEvent) -> None:
        if event.name == "upload.started":
            started.append(event.key)

    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        spec = aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none())
        (await arts.save_outputs([spec], context=CTX)).raise_for_errors()
        (tmp_path / "d" / "gone.txt").unlink()
        (tmp_path / "d" / "new.txt").write_text("new")
        result = await arts.save_outputs([spec], context=CTX, on_progress=progress)
        result.raise_for_errors()
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "out",
                                                 record=result.records[0])], context=CTX)
    assert sorted(started) == [f"wf/p/d/{MANIFEST_NAME}", "wf/p/d/new.txt"]
    assert sorted(MemoryDriver.get_store(memory_store_name).objects) == [
        f"wf/p/d/{MANIFEST_NAME}", "wf/p/d/keep.txt", "wf/p/d/new.txt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt", "new.txt"]


async def test_listing_with_a_file_and_a_folder_of_one_name_is_refused(
        config: aa.RepositoryConfig, tmp_path: Path, memory_store_name: str) -> None:
    """An Argo-style directory whose listing has `a` as a file and as a folder marker is
    refused with UnsafeArchiveError before anything is written."""
    store = MemoryDriver.get_store(memory_store_name)
    store.objects["argo/out/a"] = (b"file", {}, NOW)
    store.objects["argo/out/a/"] = (b"", {}, NOW)
    async with aa.Artifacts(config, options=_options(tmp_path)) as arts:
        with pytest.raises(aa.UnsafeArchiveError):
            await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "dest",
                                                     key="argo/out")], context=CTX)
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("copies", [1, 40])
def test_directory_outputs_agree_with_isdir(tmp_path: Path, copies: int) -> None:
    """The outputs found to be directories (by one listing of a shared parent, or a stat
    each when few share it) are exactly those `os.path.isdir` names."""
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "to-d").symlink_to("d")
    (tmp_path / "to-f").symlink_to("f")
    (tmp_path / "dangling").symlink_to("nowhere")
    locked = tmp_path / "locked"
    (locked / "inner").mkdir(parents=True)
    locked.chmod(0o311)  # not listable, still searchable: a stat works, a listing fails
    names = ["d", "f", "to-d", "to-f", "dangling", "missing", "locked/inner", "d/.", "d/.."]
    paths = [tmp_path / n for n in names] * copies + [Path("/"), Path("."), Path("..")]
    specs = [aa.OutputArtifact(name=f"o{i}", path=p, archive=aa.Archive.none())
             for i, p in enumerate(paths)]
    specs.append(aa.OutputArtifact(name="tar", path=tmp_path / "d"))  # archive from the repo
    specs.append(aa.OutputArtifact(name="zip", path=tmp_path / "d", archive=aa.Archive.zip()))
    try:
        found = directory_outputs(specs)
    finally:
        locked.chmod(0o755)
    expected = {i for i, s in enumerate(specs)
                if (s.archive is None or s.archive.kind is aa.ArchiveKind.NONE)
                and os.path.isdir(s.path)}
    assert found == expected
    assert len(expected) > copies  # directories were there to be found
