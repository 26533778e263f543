"""Uploads under faults: reported URLs, stalled requests, changed sources, foreign
exceptions, and cancellation between starting an upload and journaling it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._sources import FileSource
from artifacts_async.abc import ObjectInfo, PartChecksums

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")
OLD = 1_000_000_000  # a modification time long past, so any later write changes it


def options(state: Path | None = None, **kw: Any) -> aa.TransferOptions:
    base: dict[str, Any] = {"part_size": MiB, "single_put_threshold": MiB,
                            "max_parts_in_flight": 3, "max_buffer_bytes": 4 * MiB}
    base.update(kw)
    return aa.TransferOptions(resume=state is not None, state_dir=state, **base)


def memory_config(store: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": store}}})


def none(name: str, path: Path) -> aa.OutputArtifact:
    return aa.OutputArtifact(name=name, path=path, archive=aa.Archive.none())


def old_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(OLD, OLD))
    return path


# Item 0: the URL reported early is where the object lands.

@pytest.mark.parametrize("driver", ["local", "memory"])
async def test_reported_url_is_the_final_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             memory_store_name: str, driver: str) -> None:
    """on_report's URLs are the drivers' own: equal to the final records' (relative root)."""
    monkeypatch.chdir(tmp_path)
    settings = {"driver": "local", "root": ".artifacts"} if driver == "local" else \
        {"driver": "memory", "name": memory_store_name}
    config = aa.RepositoryConfig.from_dict({"repositories": {"r": settings}})
    old_file(tmp_path / "f.bin", b"x" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("a")
    reported: list[aa.ArtifactRecord] = []
    async with aa.Artifacts(config) as arts:
        result = await arts.save_outputs(
            [none("f", tmp_path / "f.bin"), aa.OutputArtifact(name="d", path=tmp_path / "d")],
            context=CTX, on_report=lambda d: reported.extend(d.records))
        loaded = await arts.load_inputs(
            [aa.InputArtifact(name="f", path=tmp_path / "g", record=result.records[0])],
            context=CTX)
    assert result.ok, result.errors
    assert [r.location.url for r in reported] == [r.location.url for r in result.records]
    assert [r.location.url for r in loaded.records] == [result.records[0].location.url]
    if driver == "local":
        root = (tmp_path / ".artifacts").absolute()
        assert reported[0].location.url == (root / "wf/p/f.bin").as_uri()
        assert reported[0].location.url.startswith("file:///")


# Item 1: every request has a deadline.

async def test_a_stalled_request_is_cut_and_retried(tmp_path: Path,
                                                    memory_store_name: str) -> None:
    """A part and a put that never answer are cancelled at their deadline and retried."""
    stalled: list[str] = []

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method in ("put", "upload_part", "start_upload", "complete_upload") and \
                method not in stalled:
            stalled.append(method)
            await anyio.sleep_forever()

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    small = old_file(tmp_path / "small", b"s" * 100)
    big = old_file(tmp_path / "big", os.urandom(3 * MiB))
    opts = options(request_timeout=0.5, min_throughput=1024 * MiB)
    with anyio.fail_after(10):
        async with aa.Artifacts(memory_config(memory_store_name), options=opts,
                                drivers={"m": driver}) as arts:
            result = await arts.save_outputs([none("s", small), none("b", big)], context=CTX)
    assert result.ok, result.errors
    assert sorted(stalled) == ["complete_upload", "put", "start_upload", "upload_part"]
    objects = MemoryDriver.get_store(memory_store_name).objects
    assert objects["wf/p/big"][0] == big.read_bytes()
    assert objects["wf/p/small"][0] == small.read_bytes()


async def test_a_request_that_always_stalls_fails_typed(tmp_path: Path,
                                                        memory_store_name: str) -> None:
    """A backend that never answers fails the artifact with TransientBackendError."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        await anyio.sleep_forever()

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    with anyio.fail_after(10):
        async with aa.Artifacts(memory_config(memory_store_name),
                                options=options(request_timeout=0.02),
                                drivers={"m": driver}) as arts:
            result = await arts.save_outputs([none("s", old_file(tmp_path / "s", b"1"))],
                                             context=CTX)
    error = result.errors["s"]
    assert isinstance(error, aa.TransientBackendError)
    assert "put of 'wf/p/s': no complete answer within" in str(error)


# Item 3: a source that changes during the upload.

def append(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"appended")


def rewrite(path: Path) -> None:
    # In place, same size: the first bytes change.
    with path.open("r+b") as f:
        f.write(b"\0" * 100)


def replace(path: Path) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_bytes(path.read_bytes())
    tmp.replace(path)


@pytest.mark.parametrize("change", [append, rewrite, replace, Path.unlink])
@pytest.mark.parametrize("size", [3 * MiB // 4, 3 * MiB + 5])
async def test_a_source_changed_during_upload_fails(tmp_path: Path, memory_store_name: str,
                                                    change: Any, size: int) -> None:
    """Appending, rewriting, replacing or removing the file mid-upload fails the artifact
    with SourceChangedError and leaves nothing under the key, for a put and multipart."""
    path = old_file(tmp_path / "f", os.urandom(size))

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            change(path)

    def on_progress(event: aa.ProgressEvent) -> None:
        if event.name == "upload.started" and size < MiB:
            # A put of more than an eighth of this budget (512 KiB) is read in a second
            # hop: after the file was opened, before it is read.
            change(path)

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    async with aa.Artifacts(memory_config(memory_store_name), options=options(tmp_path / "s"),
                            drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", path)], context=CTX,
                                         on_progress=on_progress)
    error = result.errors["f"]
    assert isinstance(error, aa.SourceChangedError)
    assert str(path) in str(error)
    assert result.records[0].status is aa.ArtifactStatus.FAILED
    store = MemoryDriver.get_store(memory_store_name)
    assert store.objects == {}
    assert store.uploads == {}  # aborted, not kept for a resume of mixed parts


@pytest.mark.parametrize("change", [append, rewrite, replace, Path.unlink])
async def test_a_small_file_changed_while_it_is_read_fails(
    tmp_path: Path, memory_store_name: str, change: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file is opened, read and checked in one thread hop: a change during that
    read fails the artifact with SourceChangedError and stores nothing."""
    path = old_file(tmp_path / "f", os.urandom(1000))
    read = FileSource._read_sync

    def read_then_change(self: FileSource, buffer: bytearray) -> int:
        filled = read(self, buffer)
        change(path)  # in the worker thread, between the read and the check
        return filled

    monkeypatch.setattr(FileSource, "_read_sync", read_then_change)
    async with aa.Artifacts(memory_config(memory_store_name), options=options(tmp_path / "s"),
                            drivers={"m": MemoryDriver(name=memory_store_name)}) as arts:
        result = await arts.save_outputs([none("f", path)], context=CTX)
    assert isinstance(result.errors["f"], aa.SourceChangedError)
    assert MemoryDriver.get_store(memory_store_name).objects == {}


async def test_a_small_file_is_one_thread_hop(
    tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stat, open, read, check and checksum of a small file take one worker-thread call,
    and a change after it (once `upload.started` is seen) stores the bytes read: one
    consistent version of the file."""
    data = os.urandom(1000)
    path = old_file(tmp_path / "f", data)
    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", fn))
        return await run_sync(fn, *args, **kwargs)

    def on_progress(event: aa.ProgressEvent) -> None:
        if event.name == "upload.started":
            append(path)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    async with aa.Artifacts(memory_config(memory_store_name), options=options(tmp_path / "s"),
                            drivers={"m": MemoryDriver(name=memory_store_name)}) as arts:
        result = await arts.save_outputs([none("f", path)], context=CTX,
                                         on_progress=on_progress)
    result.raise_for_errors()
    assert hops == ["_open_or_load"]
    stored, _, _ = MemoryDriver.get_store(memory_store_name).objects[
        result.records[0].location.key]
    assert stored == data


async def test_a_changed_directory_fails(tmp_path: Path, memory_store_name: str) -> None:
    """A file of an archived directory changing during the upload fails the artifact."""
    (tmp_path / "d").mkdir()
    old_file(tmp_path / "d" / "a", os.urandom(3 * MiB))

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            append(tmp_path / "d" / "a")

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    async with aa.Artifacts(memory_config(memory_store_name), options=options(),
                            drivers={"m": driver}) as arts:
        tar = aa.Archive.tar(compression_level=0)
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="d", path=tmp_path / "d", archive=tar)], context=CTX)
    assert isinstance(result.errors["d"], aa.SourceChangedError)
    store = MemoryDriver.get_store(memory_store_name)
    assert store.objects == {}
    assert store.uploads == {}


# Item 9 (save side): one typed error per artifact, siblings carry on, spec order.

class Foreign(WrappedDriver):
    """Raises foreign exceptions from `put` for chosen keys, once `release` is set."""

    def __init__(self, inner: Any, raises: dict[str, BaseException],
                 release: anyio.Event) -> None:
        super().__init__(inner)
        self.raises = raises
        self.release = release

    async def put(self, key: str, data: bytes | bytearray, *, checksums: PartChecksums,
                  metadata: Mapping[str, str]) -> ObjectInfo:
        name = key.rsplit("/", 1)[1]
        if name == "first":
            await self.release.wait()  # fails last, though it is first in the specs
        if name in self.raises:
            raise self.raises[name]
        return await self.inner.put(key, data, checksums=checksums, metadata=metadata)


async def test_foreign_exceptions_become_typed_errors_in_spec_order(
        tmp_path: Path, memory_store_name: str) -> None:
    """ValueError and exception groups fail their artifact alone, as TransferError with
    __cause__ (a group of one is unwrapped); errors and raise_for_errors follow the specs."""
    release = anyio.Event()
    group = ExceptionGroup("inner", [aa.PermissionDeniedError("denied inside a group")])
    raises: dict[str, BaseException] = {
        "first": ValueError("not hex"), "group": group,
        "two": ExceptionGroup("two", [KeyError("a"), ValueError("b")]),
    }
    driver = Foreign(MemoryDriver(name=memory_store_name), raises, release)
    names = ["first", "ok", "group", "two"]
    for name in names:
        old_file(tmp_path / name, name.encode())

    def on_progress(event: aa.ProgressEvent) -> None:
        if event.name == "upload.failed" and event.artifact == "two":
            release.set()

    async with aa.Artifacts(memory_config(memory_store_name), options=options(),
                            drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none(n, tmp_path / n) for n in names], context=CTX,
                                         on_progress=on_progress)
    assert list(result.errors) == ["first", "group", "two"]
    first = result.errors["first"]
    assert isinstance(first, aa.TransferError)
    assert isinstance(first.__cause__, ValueError)
    assert "artifact 'first': ValueError: not hex" in str(first)
    assert result.errors["group"] is group.exceptions[0]
    two = result.errors["two"]
    assert isinstance(two, aa.TransferError)
    assert two.__cause__ is raises["two"]
    assert [r.status for r in result.records] == [
        aa.ArtifactStatus.FAILED, aa.ArtifactStatus.STORED, aa.ArtifactStatus.FAILED,
        aa.ArtifactStatus.FAILED]
    with pytest.raises(aa.TransferError, match="not hex"):
        result.raise_for_errors()


async def test_a_source_truncated_mid_multipart_is_typed(tmp_path: Path,
                                                         memory_store_name: str) -> None:
    """A file that shrinks during a multipart upload fails as SourceChangedError, not as
    an exception group, and the other artifact is stored."""
    path = old_file(tmp_path / "f", os.urandom(4 * MiB))

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 1:
            os.truncate(path, MiB + 10)

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    other = old_file(tmp_path / "other", b"fine")
    async with aa.Artifacts(memory_config(memory_store_name),
                            options=options(max_parts_in_flight=1), drivers={"m": driver}) as arts:
        result = await arts.save_outputs([none("f", path), none("other", other)], context=CTX)
    assert type(result.errors["f"]) is aa.SourceChangedError
    assert "shrank" in str(result.errors["f"])
    assert result.records[1].status is aa.ArtifactStatus.STORED


# Item 15: cancellation between start_upload and the journal entry.

class CancelAfterStart(WrappedDriver):
    """Its first `start_upload` succeeds, then the save is cancelled before it returns."""

    def __init__(self, inner: Any, scope: anyio.CancelScope) -> None:
        super().__init__(inner)
        self.scope = scope
        self.started: list[str] = []

    async def start_upload(self, key: str, *, metadata: Any) -> str:
        upload_id = await self.inner.start_upload(key, metadata=metadata)
        self.started.append(upload_id)
        if len(self.started) == 1:
            self.scope.cancel()
            await anyio.lowlevel.checkpoint()
        return upload_id


@pytest.mark.parametrize("resume", [True, False])
async def test_no_orphan_after_a_cancel_right_after_start(tmp_path: Path, resume: bool) -> None:
    """An upload started just before a cancellation is journaled (resumed by the rerun) or
    aborted: after a successful rerun no upload folder of the local driver is left."""
    root = tmp_path / "root"
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"l": {"driver": "local", "root": str(root)}}})
    path = old_file(tmp_path / "f", os.urandom(3 * MiB))
    state = tmp_path / "state" if resume else None
    with anyio.CancelScope() as scope:
        driver = CancelAfterStart(LocalDriver(root), scope)
        async with aa.Artifacts(config, options=options(state), drivers={"l": driver}) as arts:
            await arts.save_outputs([none("f", path)], context=CTX)
    assert scope.cancelled_caught
    assert driver.started
    uploads = root / ".artifacts-async" / "uploads"
    leftover = sorted(p.name for p in uploads.iterdir())
    assert leftover == (driver.started if resume else [])
    async with aa.Artifacts(config, options=options(state),
                            drivers={"l": LocalDriver(root)}) as arts:
        result = await arts.save_outputs([none("f", path)], context=CTX)
    assert result.ok, result.errors
    assert list(uploads.iterdir()) == []
    assert (root / "wf/p/f").read_bytes() == path.read_bytes()



async def test_a_writer_that_restores_the_mtime_is_seen(tmp_path: Path) -> None:
    """The status-change time is compared too: same size and mtime, other ctime, fails."""
    from artifacts_async._sources import FileSource  # noqa: PLC0415

    path = old_file(tmp_path / "f", b"12345")
    st = os.stat(path)
    fields = list(st)
    fields[9] = st.st_ctime - 5  # as if a writer had restored the mtime after writing
    earlier = os.stat_result(fields, {"st_ctime_ns": st.st_ctime_ns - 5 * 10**9})
    fd = os.open(path, os.O_RDONLY)
    try:
        await FileSource(path, fd, st).check_unchanged()
        with pytest.raises(aa.SourceChangedError, match="changed while it was being uploaded"):
            await FileSource(path, fd, earlier).check_unchanged()
    finally:
        os.close(fd)


async def test_cleanup_that_stalls_is_bounded(tmp_path: Path, memory_store_name: str) -> None:
    """An abort that never answers, after a failed part, does not hang the save."""

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2:
            raise aa.PermissionDeniedError("denied")
        if method == "abort_upload":
            await anyio.sleep_forever()

    driver = WrappedDriver(MemoryDriver(name=memory_store_name), hook)
    with anyio.fail_after(10):
        async with aa.Artifacts(memory_config(memory_store_name),
                                options=options(request_timeout=0.5),
                                drivers={"m": driver}) as arts:
            result = await arts.save_outputs(
                [none("f", old_file(tmp_path / "f", os.urandom(3 * MiB)))], context=CTX)
    assert isinstance(result.errors["f"], aa.PermissionDeniedError)
    assert ("abort_upload", "wf/p/f", None) in driver.calls


async def test_a_cancelled_local_put_leaves_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A put cancelled while its worker thread writes leaves no temporary file."""
    driver = LocalDriver(tmp_path / "repo")
    scope = anyio.CancelScope()
    original = driver._sidecars.write

    def cancelling_write(*args: Any) -> Any:
        anyio.from_thread.run_sync(scope.cancel)
        return original(*args)

    monkeypatch.setattr(driver._sidecars, "write", cancelling_write)
    with scope:
        # The worker thread is not interrupted: the put completes, and the cancellation
        # is delivered at the next checkpoint.
        await driver.put("k", b"data", checksums=PartChecksums(), metadata={})
        await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert list((tmp_path / "repo" / ".artifacts-async" / "tmp").iterdir()) == []


async def test_an_upload_the_journal_could_not_record_is_aborted(
        tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """If journaling a started upload fails, the upload is aborted, not left behind."""
    import sqlite3  # noqa: PLC0415

    from artifacts_async._journal import Journal  # noqa: PLC0415

    async def broken_begin(self: Journal, *args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Journal, "begin", broken_begin)
    async with aa.Artifacts(memory_config(memory_store_name), options=options(tmp_path / "s"),
                            drivers={"m": MemoryDriver(name=memory_store_name)}) as arts:
        result = await arts.save_outputs(
            [none("f", old_file(tmp_path / "f", os.urandom(3 * MiB)))], context=CTX)
    error = result.errors["f"]
    assert isinstance(error, aa.TransferError)
    assert isinstance(error.__cause__, sqlite3.OperationalError)
    assert MemoryDriver.get_store(memory_store_name).uploads == {}


@pytest.mark.parametrize("busy", [False, True])
async def test_a_single_put_file_is_one_hop_while_the_budget_has_room(
    tmp_path: Path, memory_store_name: str, monkeypatch: pytest.MonkeyPatch, busy: bool
) -> None:
    """A 3 MiB file (under the 8 MiB single-put threshold) is opened and read in one hop
    when the budget has the threshold free; when it does not, only 1 MiB is reserved for
    the open and the file is read in a second hop, never waiting for bytes it lacks."""
    data = os.urandom(3 * MiB)
    path = old_file(tmp_path / "f", data)
    budget = aa.TransferBudget(max_parts=4, max_bytes=64 * MiB)
    if busy:
        assert budget.try_acquire_bytes(60 * MiB)  # another save holds most of it
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    options = aa.TransferOptions(resume=False, max_buffer_bytes=64 * MiB)
    async with aa.Artifacts(memory_config(memory_store_name), options=options, budget=budget,
                            drivers={"m": MemoryDriver(name=memory_store_name)}) as arts:
        result = await arts.save_outputs([none("f", path)], context=CTX)
    result.raise_for_errors()
    assert hops == (["_open_or_load", "work"] if busy else ["_open_or_load"])
    assert budget.held_bytes == (60 * MiB if busy else 0)
    stored, _, _ = MemoryDriver.get_store(memory_store_name).objects[
        result.records[0].location.key]
    assert stored == data
