"""Loads and streams report `download.*` progress events through `on_progress`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import artifacts_async as aa

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="wf-pod-1")


def memory_config(store: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"default": "m", "repositories": {"m": {"driver": "memory", "name": store}}})


def options() -> aa.TransferOptions:
    # Parts of 1 MiB: a file of more than two parts is fetched as parallel ranges.
    return aa.TransferOptions(part_size=MiB, resume=False)


def by_artifact(events: list[aa.ProgressEvent]) -> dict[str, list[aa.ProgressEvent]]:
    found: dict[str, list[aa.ProgressEvent]] = {}
    for event in events:
        found.setdefault(event.artifact, []).append(event)
    return found


def check_sequence(events: list[aa.ProgressEvent], size: int) -> None:
    """started, then progress events adding up to the size, then complete."""
    names = [e.name for e in events]
    assert names[0] == "download.started"
    assert names[-1] == "download.complete"
    assert set(names[1:-1]) <= {"download.progress"}
    progress = [e for e in events if e.name == "download.progress"]
    assert sum(e.bytes for e in progress) == events[-1].transferred
    assert [e.transferred for e in progress] == sorted(e.transferred for e in progress)
    assert events[-1].size == size


async def test_load_inputs_reports_each_kind(tmp_path: Path, memory_store_name: str) -> None:
    """A small file, a large file fetched as ranges, a tar and a zip each report started,
    their bytes as they arrive, and complete."""
    small = os.urandom(5000)
    large = os.urandom(5 * MiB + 3)
    (tmp_path / "small.bin").write_bytes(small)
    (tmp_path / "large.bin").write_bytes(large)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x.bin").write_bytes(os.urandom(3 * MiB))
    async with aa.Artifacts(memory_config(memory_store_name), options=options()) as arts:
        saved = await arts.save_outputs([
            aa.OutputArtifact(name="small", path=tmp_path / "small.bin",
                              archive=aa.Archive.none()),
            aa.OutputArtifact(name="large", path=tmp_path / "large.bin",
                              archive=aa.Archive.none()),
            aa.OutputArtifact(name="tar", path=tmp_path / "dir",
                              archive=aa.Archive.tar(compression_level=0)),
            aa.OutputArtifact(name="zip", path=tmp_path / "dir", archive=aa.Archive.zip()),
        ], context=CTX)
        saved.raise_for_errors()
        events: list[aa.ProgressEvent] = []
        await arts.load_inputs(
            [aa.InputArtifact(name=r.name, path=tmp_path / "in" / r.name, record=r)
             for r in saved.records],
            context=CTX, on_progress=events.append)
    found = by_artifact(events)
    sizes = {r.name: r.size for r in saved.records}
    for name in ("small", "large", "tar"):
        size = sizes[name]
        assert size is not None
        check_sequence(found[name], size)
        assert found[name][-1].transferred == size
        assert found[name][0].size == size
    # Several events for the large file (about one per MiB), not one per network chunk.
    assert 5 <= len(found["large"]) <= 9
    # A zip is read in windows, some of them twice: at least its size moved.
    zip_size = sizes["zip"]
    assert zip_size is not None
    check_sequence(found["zip"], zip_size)
    assert found["zip"][-1].transferred >= zip_size
    assert (tmp_path / "in" / "large").read_bytes() == large


async def test_key_only_input_learns_its_size(tmp_path: Path, memory_store_name: str) -> None:
    """An input given by key alone reports the size the backend tells."""
    data = os.urandom(4 * MiB)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(memory_config(memory_store_name), options=options()) as arts:
        saved = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", key="k/f.bin",
                               archive=aa.Archive.none())], context=CTX)
        saved.raise_for_errors()
        events: list[aa.ProgressEvent] = []
        await arts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "g", key="k/f.bin",
                                                 verify=False)],
                               context=CTX, on_progress=events.append)
    check_sequence(events, len(data))
    assert [e.size for e in events if e.name == "download.progress"][-1] == len(data)


async def test_failed_and_skipped_inputs(tmp_path: Path, memory_store_name: str) -> None:
    """A required input that is missing reports download.failed; an optional one that is
    absent reports nothing."""
    events: list[aa.ProgressEvent] = []
    async with aa.Artifacts(memory_config(memory_store_name), options=options()) as arts:
        result = await arts.load_inputs(
            [aa.InputArtifact(name="req", path=tmp_path / "a", key="nope/a"),
             aa.InputArtifact(name="opt", path=tmp_path / "b", key="nope/b", optional=True)],
            context=CTX, raise_on_error=False, on_progress=events.append)
    assert list(result.errors) == ["req"]
    assert [(e.artifact, e.name) for e in events] == [("req", "download.failed")]
    assert "MissingInputError" in (events[0].error or "")


async def test_stream_reports_progress(tmp_path: Path, memory_store_name: str) -> None:
    """`stream` reports started with the size, the bytes, and complete after the checks;
    a stream left early reports no completion."""
    data = os.urandom(3 * MiB + 1)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(memory_config(memory_store_name), options=options()) as arts:
        saved = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none())],
            context=CTX)
        (record,) = saved.records
        events: list[aa.ProgressEvent] = []
        got = bytearray()
        async with arts.stream(record, on_progress=events.append) as chunks:
            async for chunk in chunks:
                got += chunk
        assert bytes(got) == data
        check_sequence(events, len(data))
        early: list[aa.ProgressEvent] = []
        async with arts.stream(record, on_progress=early.append) as chunks:
            async for _ in chunks:
                break
        assert [e.name for e in early] == ["download.started"]


async def test_async_on_progress_is_refused(tmp_path: Path, memory_store_name: str) -> None:
    """Events are delivered in order from the transfer: an async callback is a TypeError."""

    async def on_progress(event: aa.ProgressEvent) -> None:
        return None

    async with aa.Artifacts(memory_config(memory_store_name)) as arts:
        with pytest.raises(TypeError, match="plain function"):
            await arts.load_inputs([aa.InputArtifact(name="a", path=tmp_path / "a", key="k")],
                                   context=CTX, on_progress=on_progress)  # type: ignore[arg-type]


async def test_a_directory_reports_the_bytes_of_all_its_files(
        tmp_path: Path, memory_store_name: str) -> None:
    """A directory stored with archive none reports one started with the files' total,
    every file's bytes, and one complete."""
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.bin").write_bytes(os.urandom(3 * MiB))
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(os.urandom(5000))
    async with aa.Artifacts(memory_config(memory_store_name), options=options()) as arts:
        saved = await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=aa.Archive.none())],
            context=CTX)
        saved.raise_for_errors()
        (record,) = saved.records
        assert record.directory
        events: list[aa.ProgressEvent] = []
        await arts.load_inputs([aa.InputArtifact(name="d", path=tmp_path / "in", record=record)],
                               context=CTX, on_progress=events.append)
    total = 3 * MiB + 5000
    assert record.size == total
    check_sequence(events, total)
    assert events[0].size == total
    assert events[-1].transferred == total
    assert (tmp_path / "in" / "sub" / "b.bin").read_bytes() == (
        tmp_path / "d" / "sub" / "b.bin").read_bytes()
