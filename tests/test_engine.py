"""The upload engine: budgets, sliding window, integrity, retries, cancellation, resume."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._journal import Journal
from artifacts_async.abc import ObjectInfo, UploadedPart

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


def memory_setup(store: str, hook: Any = None, **limits: Any) -> tuple[aa.RepositoryConfig,
                                                                        WrappedDriver]:
    inner = MemoryDriver.from_settings({"name": store, **limits})
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": store}}})
    return config, WrappedDriver(inner, hook)


def options(state: Path | None = None, **kw: Any) -> aa.TransferOptions:
    base: dict[str, Any] = {"part_size": MiB, "single_put_threshold": MiB,
                            "max_parts_in_flight": 3, "max_buffer_bytes": 4 * MiB}
    base.update(kw)
    return aa.TransferOptions(resume=state is not None, state_dir=state, **base)


def none(name: str, path: Path) -> aa.OutputArtifact:
    return aa.OutputArtifact(name=name, path=path, archive=aa.Archive.none())


def stored_bytes(store: str, key: str) -> bytes:
    return MemoryDriver.get_store(store).objects[key][0]


async def test_budget_is_never_exceeded(tmp_path: Path, memory_store_name: str) -> None:
    """Across many artifacts, parts in flight and bytes held stay within the budget."""
    observed = {"active": 0, "peak": 0}
    progress: list[aa.ProgressEvent] = []

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part":
            observed["active"] += 1
            observed["peak"] = max(observed["peak"], observed["active"])
            await anyio.lowlevel.checkpoint()  # let other parts in
            await anyio.lowlevel.checkpoint()
            observed["active"] -= 1

    config, driver = memory_setup(memory_store_name, hook)
    paths = []
    for i in range(5):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(5 * MiB + i))
        paths.append(path)
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none(f"f{i}", p) for i, p in enumerate(paths)],
                                         context=CTX, on_progress=progress.append)
    assert result.ok, result.errors
    # Progress accounts for every byte once, part by part, each part within the budget.
    for i, path in enumerate(paths):
        parts = [e for e in progress if e.artifact == f"f{i}" and e.name == "upload.part.complete"]
        assert len(parts) == -(-path.stat().st_size // MiB)
        assert all(0 < e.bytes <= MiB for e in parts)
        assert sum(e.bytes for e in parts) == path.stat().st_size
        assert [e.transferred for e in parts] == list(accumulate(e.bytes for e in parts))
    assert result.peak_parts_in_flight <= 3
    assert observed["peak"] <= 3
    assert result.peak_buffered_bytes <= 4 * MiB
    assert result.peak_buffered_bytes >= 3 * MiB  # the budget was actually used
    for i, path in enumerate(paths):
        assert stored_bytes(memory_store_name, f"wf/p/f{i}") == path.read_bytes()


async def test_sliding_window_not_batches(tmp_path: Path, memory_store_name: str) -> None:
    """Part 4 starts while part 1 is still in flight: a window, not batches of 3."""
    part4_started = anyio.Event()

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 4:
            part4_started.set()
        if method == "upload_part" and kwargs["number"] == 1:
            with anyio.fail_after(10):
                await part4_started.wait()

    config, driver = memory_setup(memory_store_name, hook)
    (tmp_path / "f").write_bytes(os.urandom(6 * MiB))
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)
    assert result.ok, result.errors


async def test_corruption_rejected_by_backend(tmp_path: Path, memory_store_name: str) -> None:
    """A part damaged after checksumming is rejected, retried, then fails as IntegrityError."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            data = bytearray(kwargs["data"])
            data[0] ^= 1
            kwargs["data"] = bytes(data)

    config, driver = memory_setup(memory_store_name, hook)
    (tmp_path / "f").write_bytes(os.urandom(3 * MiB))
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)
    assert isinstance(result.errors["f"], aa.IntegrityError)
    assert [c for c in driver.calls if c[0] == "upload_part" and c[2] == 2] == [
        ("upload_part", "wf/p/f", 2)] * 3
    store = MemoryDriver.get_store(memory_store_name)
    assert store.objects == {}
    assert store.uploads == {}  # integrity failures are aborted even with resume


async def test_corruption_the_backend_missed(tmp_path: Path, memory_store_name: str) -> None:
    """When the backend does not verify parts, the final check catches it and deletes."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            kwargs["data"] = b"\0" + kwargs["data"][1:]

    store = memory_store_name
    inner = MemoryDriver(name=store, limits=attrs.evolve(
        MemoryDriver(name=store).limits, checksums=frozenset()))
    driver = WrappedDriver(inner, hook)
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": store}}})
    data = b"\xff" * (3 * MiB)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)
    error = result.errors["f"]
    assert isinstance(error, aa.IntegrityError)
    assert "CRC32C" in str(error)
    assert MemoryDriver.get_store(store).objects == {}  # nothing corrupt under the key


async def test_transient_failures_retried_per_part(tmp_path: Path,
                                                   memory_store_name: str) -> None:
    """A transient failure re-sends only that part; the object is byte-identical."""
    failed: set[int] = set()
    events: list[aa.ProgressEvent] = []

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        number = kwargs.get("number")
        if method == "upload_part" and number in (2, 3) and number not in failed:
            failed.add(number)
            raise aa.TransientBackendError("503 SlowDown")

    config, driver = memory_setup(memory_store_name, hook)
    data = os.urandom(4 * MiB + 7)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX,
                                         on_progress=events.append)
    assert result.ok, result.errors
    assert stored_bytes(memory_store_name, "wf/p/f") == data
    part_calls = sorted(c[2] for c in driver.calls if c[0] == "upload_part" and c[2])
    assert part_calls == [1, 2, 2, 3, 3, 4, 5]
    assert [c[0] for c in driver.calls].count("start_upload") == 1
    retries = [e for e in events if e.name == "upload.retry"]
    assert sorted(e.part or 0 for e in retries) == [2, 3]
    names = [e.name for e in events if e.name != "upload.retry"]
    assert names[0] == "upload.started"
    assert names[-1] == "upload.complete"
    assert names.count("upload.part.complete") == 5
    assert sum(e.bytes for e in events if e.name == "upload.part.complete") == len(data)


async def test_permanent_failure_fails_fast(tmp_path: Path, memory_store_name: str) -> None:
    """A permission error is not retried, stops the other parts, and aborts the upload."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            raise aa.PermissionDeniedError("AccessDenied", backend_error="AccessDenied: no")

    config, driver = memory_setup(memory_store_name, hook)
    (tmp_path / "f").write_bytes(os.urandom(8 * MiB))
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)
    assert isinstance(result.errors["f"], aa.PermissionDeniedError)
    assert [c for c in driver.calls if c[0] == "upload_part" and c[2] == 2] == [
        ("upload_part", "wf/p/f", 2)]
    assert len([c for c in driver.calls if c[0] == "upload_part"]) < 8
    assert ("abort_upload", "wf/p/f", None) in driver.calls
    assert MemoryDriver.get_store(memory_store_name).uploads == {}


@pytest.mark.parametrize("resume", [False, True])
async def test_cancellation_leaves_nothing_behind(tmp_path: Path, memory_store_name: str,
                                                  resume: bool) -> None:
    """Cancelling a save stops every task; the upload is aborted, or journaled with resume."""
    part_two = anyio.Event()

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] >= 2:
            part_two.set()
            await anyio.sleep_forever()

    config, driver = memory_setup(memory_store_name, hook)
    (tmp_path / "f").write_bytes(os.urandom(6 * MiB))
    state = tmp_path / "state" if resume else None
    before = set(asyncio.all_tasks())

    async def save(arts: aa.Artifacts) -> None:
        await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)

    async with aa.Artifacts(config, options=options(state), drivers={"m": driver}) as arts, \
            anyio.create_task_group() as tg:
        tg.start_soon(save, arts)
        await part_two.wait()
        tg.cancel_scope.cancel()
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) - before == set()
    uploads = MemoryDriver.get_store(memory_store_name).uploads
    if resume:
        assert len(uploads) == 1
        journal = Journal(tmp_path / "state" / "uploads.sqlite3")
        assert [t for t, _ in await journal.targets()] == [f"memory://{memory_store_name}/wf/p/f"]
        journal.close()
    else:
        assert uploads == {}


async def test_lost_completion_answer_is_recovered(tmp_path: Path,
                                                   memory_store_name: str) -> None:
    """A completion that succeeded but whose answer was lost is not redone or failed."""
    calls = {"complete": 0}

    class LostAnswer(WrappedDriver):
        async def complete_upload(self, key: str, upload_id: str,
                                  parts: Sequence[UploadedPart]) -> ObjectInfo:
            calls["complete"] += 1
            info = await self.inner.complete_upload(key, upload_id, parts)
            if calls["complete"] == 1:
                raise aa.TransientBackendError("read timeout after the request was sent")
            return info

    config, _ = memory_setup(memory_store_name)
    driver = LostAnswer(MemoryDriver(name=memory_store_name))
    data = os.urandom(3 * MiB)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)
    assert result.ok, result.errors
    assert calls["complete"] == 2
    assert stored_bytes(memory_store_name, "wf/p/f") == data


async def test_large_downloads_fetch_ranges_concurrently(tmp_path: Path,
                                                         memory_store_name: str) -> None:
    """A large file is read as concurrent ranges under the budget, verified, and renamed."""
    active = {"now": 0, "peak": 0}
    two_active = anyio.Event()

    class Ranged(WrappedDriver):
        async def read(self, key: str, *, offset: int = 0,
                       length: int | None = None) -> AsyncIterator[bytes]:
            active["now"] += 1
            active["reads"] = active.get("reads", 0) + 1
            active["peak"] = max(active["peak"], active["now"])
            if active["now"] >= 2:
                two_active.set()
            try:
                with anyio.fail_after(10):
                    await two_active.wait()  # proves two ranges are in flight at once
                async for chunk in self.inner.read(key, offset=offset, length=length):
                    yield chunk
            finally:
                active["now"] -= 1

    config, _ = memory_setup(memory_store_name)
    driver = Ranged(MemoryDriver(name=memory_store_name))
    data = os.urandom(5 * MiB + 3)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        (record,) = (await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)).records
        await arts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "g", record=record,
                                                 mode=0o640)], context=CTX)
        assert (tmp_path / "g").read_bytes() == data
        assert (tmp_path / "g").stat().st_mode & 0o777 == 0o640
        assert 2 <= active["peak"] <= 3
        assert active["reads"] == 6  # 1 MiB ranges
        # A damaged object fails the combined checksum and leaves nothing behind.
        store = MemoryDriver.get_store(memory_store_name)
        stored, meta, when = store.objects["wf/p/f"]
        store.objects["wf/p/f"] = (stored[:-1] + bytes([stored[-1] ^ 1]), meta, when)
        with pytest.raises(aa.IntegrityError, match="CRC32C"):
            await arts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "h",
                                                     record=record)], context=CTX)
    assert names_in(tmp_path) == ["f", "g"]


def names_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


async def test_parallel_downloads_can_be_turned_off(tmp_path: Path,
                                                    memory_store_name: str) -> None:
    """With parallel_downloads=False a large file is fetched with one streamed read."""
    config, driver = memory_setup(memory_store_name)
    data = os.urandom(5 * MiB)
    (tmp_path / "f").write_bytes(data)
    async with aa.Artifacts(config, options=options(parallel_downloads=False),
                            drivers={"m": driver}) as arts:
        (record,) = (await arts.save_outputs([none("f", tmp_path / "f")], context=CTX)).records
        await arts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "g", record=record)],
                               context=CTX)
    assert (tmp_path / "g").read_bytes() == data
    assert [c for c in driver.calls if c[0] == "read"] == [("read", "wf/p/f", None)]


async def test_one_failed_event_per_failed_artifact(tmp_path: Path,
                                                    memory_store_name: str) -> None:
    """A failed artifact emits exactly one upload.failed event, naming the error."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            raise aa.PermissionDeniedError("AccessDenied")

    config, driver = memory_setup(memory_store_name, hook)
    (tmp_path / "f").write_bytes(os.urandom(3 * MiB))
    events: list[aa.ProgressEvent] = []
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        await arts.save_outputs([none("f", tmp_path / "f"), none("gone", tmp_path / "nope")],
                                context=CTX, on_progress=events.append)
    failures = [(e.artifact, e.error) for e in events if e.name == "upload.failed"]
    assert sorted(failures) == [
        ("f", "PermissionDeniedError: AccessDenied"),
        ("gone", f"MissingInputError: {tmp_path / 'nope'} does not exist"),
    ]


async def test_retry_machinery_only_after_a_failure(
    tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that succeed at once build no retry loop; a transient failure starts one
    that counts it as attempt 1, so the retry is attempt 2 and the attempts stay capped."""
    loops: list[int] = []
    retrying = aa.TransferOptions.retrying

    def counting(self: aa.TransferOptions, on: Any) -> Any:
        loops.append(1)
        return retrying(self, on)

    monkeypatch.setattr(aa.TransferOptions, "retrying", counting)
    calls: list[str] = []

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        calls.append(method)
        if kwargs.get("key") == "wf/p/flaky" and method == "put":
            raise aa.TransientBackendError("503 SlowDown")

    config, driver = memory_setup(memory_store_name, hook)
    for name in ("a", "b", "flaky"):
        (tmp_path / name).write_bytes(os.urandom(1000))
    events: list[aa.ProgressEvent] = []
    async with aa.Artifacts(config, options=options(), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("a", tmp_path / "a"), none("b", tmp_path / "b")],
                                         context=CTX)
        assert result.ok, result.errors
        assert loops == []
        result = await arts.save_outputs([none("flaky", tmp_path / "flaky")], context=CTX,
                                         on_progress=events.append)
    assert loops == [1]
    # stamina's test mode (conftest) caps a loop at 3 attempts: the first one counts.
    assert calls.count("put") == 2 + 3
    assert [e.attempt for e in events if e.name == "upload.retry"] == [2, 3]
    assert isinstance(result.errors["flaky"], aa.TransientBackendError)
