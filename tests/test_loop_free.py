"""Work that grows with the number of artifacts stays off the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._templates import validate_key

pytestmark = pytest.mark.anyio

CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every function sent to a worker thread."""
    calls: list[str] = []
    original: Callable[..., Any] = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        target = getattr(func, "func", func)  # a functools.partial
        calls.append(getattr(target, "__qualname__", repr(target)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    return calls


def config(store: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": store}}})


async def test_many_artifacts_are_planned_in_a_worker_thread(
        tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning 200 artifacts runs in one worker thread, the directory check with it (a
    second thread would contend for the GIL); the records are the same."""
    outputs = [aa.OutputArtifact(name=f"a{i}", path=tmp_path / f"missing{i}", optional=True,
                                 archive=aa.Archive.none()) for i in range(200)]
    calls = thread_calls(monkeypatch)
    reported: list[aa.ReportDetails] = []
    async with aa.Artifacts(config(memory_store_name)) as arts:
        result = await arts.save_outputs(outputs, context=CTX, on_report=reported.append)
    assert "plan_marked" in calls
    assert "directory_outputs" not in calls
    assert [r.name for r in reported[0].records] == [f"a{i}" for i in range(200)]
    assert all(r.status is aa.ArtifactStatus.SKIPPED for r in result.records)


async def test_a_planning_error_in_the_thread_is_raised_before_anything_moves(
        tmp_path: Path, memory_store_name: str) -> None:
    """A bad key among many artifacts fails the save before any upload, as inline."""
    path = tmp_path / "f"
    path.write_bytes(b"x")
    outputs = [aa.OutputArtifact(name=f"a{i}", path=path, key=f"k/{i}",
                                 archive=aa.Archive.none()) for i in range(100)]
    outputs.append(aa.OutputArtifact(name="bad", path=path, key="k/../x",
                                     archive=aa.Archive.none()))
    async with aa.Artifacts(config(memory_store_name)) as arts:
        with pytest.raises(aa.KeyTemplateError):
            await arts.save_outputs(outputs, context=CTX)
    assert MemoryDriver.get_store(memory_store_name).objects == {}


def test_control_characters_are_refused_in_keys() -> None:
    """C0, DEL and C1 control characters are refused; other characters are kept."""
    for bad in ("a\x00b", "a\x1fb", "a\x7fb", "a\x85b", "a\x9fb"):
        with pytest.raises(aa.KeyTemplateError):
            validate_key(bad)
    assert validate_key("a\xa0b/\xe9/\u2028") == "a\xa0b/\xe9/\u2028"


def _tasks_at(method: str, store: str, tasks: list[int]) -> WrappedDriver:
    """A memory driver noting how many tasks exist at each call of `method`."""

    async def hook(name: str, kwargs: dict[str, Any]) -> None:
        if name == method:
            tasks.append(len(asyncio.all_tasks()))

    return WrappedDriver(MemoryDriver(name=store), hook)


def _outputs(tmp_path: Path, count: int) -> list[aa.OutputArtifact]:
    """`count` files of 0, 1, 2, ... bytes, one output each."""
    outputs = []
    for i in range(count):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * i)
        outputs.append(aa.OutputArtifact(name=f"a{i}", path=path, archive=aa.Archive.none()))
    return outputs


async def test_a_save_keeps_only_the_artifacts_in_flight_as_tasks(
        tmp_path: Path, memory_store_name: str) -> None:
    """300 artifacts, 4 in flight: a few tasks exist at a time, not one per artifact."""
    tasks: list[int] = []
    driver = _tasks_at("put", memory_store_name, tasks)
    outputs = _outputs(tmp_path, 300)
    reported: list[aa.ReportDetails] = []
    async with aa.Artifacts(config(memory_store_name),
                            options=aa.TransferOptions(max_artifacts_in_flight=4),
                            drivers={"m": driver}) as arts:
        result = await arts.save_outputs(outputs, context=CTX, on_report=reported.append)
    result.raise_for_errors()
    assert len(tasks) == 300
    assert max(tasks) < 20, max(tasks)
    urls = [r.location.url for r in reported[0].records]
    assert urls == [driver.describe(r.location.key) for r in reported[0].records]
    assert [r.location.url for r in result.records] == urls


async def test_a_short_last_part_is_copied_in_a_worker_thread(
        tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of a large short last part (here 512 KiB of a 1 MiB buffer) is made off the
    loop; the object is byte-identical."""
    data = bytes(range(256)) * (10 * 4096 + 2048)  # 10.5 MiB: parts of 1 MiB, the last short
    (tmp_path / "f").write_bytes(data)
    calls = thread_calls(monkeypatch)
    options = aa.TransferOptions(part_size=1024 * 1024, resume=False)
    async with aa.Artifacts(config(memory_store_name), options=options) as arts:
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none())],
            context=CTX)
    result.raise_for_errors()
    assert calls.count("_prefix") == 1
    stored, _, _ = MemoryDriver.get_store(memory_store_name).objects[
        result.records[0].location.key]
    assert stored == data


async def test_a_load_keeps_only_the_inputs_in_flight_as_tasks(
        tmp_path: Path, memory_store_name: str) -> None:
    """300 inputs, 4 in flight: a few tasks exist at a time, not one per input."""
    tasks: list[int] = []
    driver = _tasks_at("read", memory_store_name, tasks)
    outputs = _outputs(tmp_path, 300)
    async with aa.Artifacts(config(memory_store_name),
                            options=aa.TransferOptions(max_artifacts_in_flight=4),
                            drivers={"m": driver}) as arts:
        saved = await arts.save_outputs(outputs, context=CTX)
        result = await arts.load_inputs(
            [aa.InputArtifact(name=r.name, path=tmp_path / "in" / r.name, record=r)
             for r in saved.records], context=CTX)
    assert not result.errors
    assert len(tasks) == 300
    assert max(tasks) < 20, max(tasks)
    assert (tmp_path / "in" / "a299").read_bytes() == b"x" * 299


async def test_a_small_load_is_written_in_one_thread_hop(
        tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small object is written (staged, mode set, renamed) by one worker-thread call
    once it is complete and checked; a larger one streams to its staging file."""
    small, large = os.urandom(5000), os.urandom(3 * 1024 * 1024)
    (tmp_path / "small").write_bytes(small)
    (tmp_path / "large").write_bytes(large)
    options = aa.TransferOptions(resume=False, parallel_downloads=False)
    async with aa.Artifacts(config(memory_store_name), options=options) as arts:
        saved = await arts.save_outputs(
            [aa.OutputArtifact(name=n, path=tmp_path / n, archive=aa.Archive.none())
             for n in ("small", "large")], context=CTX)
        calls = thread_calls(monkeypatch)
        await arts.load_inputs([aa.InputArtifact(name="small", path=tmp_path / "in" / "s",
                                                 record=saved.records[0], mode=0o640)],
                               context=CTX)
        assert calls == ["_write_whole"]
        calls.clear()
        await arts.load_inputs([aa.InputArtifact(name="large", path=tmp_path / "in" / "l",
                                                 record=saved.records[1])], context=CTX)
        assert "_write_whole" not in calls
    assert (tmp_path / "in" / "s").read_bytes() == small
    assert (tmp_path / "in" / "s").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "in" / "l").read_bytes() == large
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["l", "s"]  # no staging left


async def test_a_directory_save_creates_no_task_per_file(
        tmp_path: Path, memory_store_name: str) -> None:
    """A directory with archive none of 300 files, 4 in flight: its files are taken by the
    workers in turn, as a save's artifacts are, not started as a task each."""
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(300):
        (root / f"f{i}").write_bytes(b"x" * i)
    loop = asyncio.get_running_loop()
    created: list[int] = []
    previous = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(1)
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        async with aa.Artifacts(config(memory_store_name),
                                options=aa.TransferOptions(max_artifacts_in_flight=4,
                                                           resume=False),
                                drivers={"m": MemoryDriver(name=memory_store_name)}) as arts:
            result = await arts.save_outputs(
                [aa.OutputArtifact(name="d", path=root, archive=aa.Archive.none())],
                context=CTX)
    finally:
        loop.set_task_factory(previous)
    result.raise_for_errors()
    assert result.records[0].directory
    assert len(created) < 30, len(created)
