"""The blocking API (`SyncArtifacts`) from a plain caller, a worker thread and a running
event loop; the async `stream()` context manager; `on_progress` checks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.sync import SyncArtifacts

CTX = aa.Context(workflow_name="wf", workflow_uid="uid-sync", pod_name="wf-pod-1")


def local_config(root: Path) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"default": "local", "repositories": {"local": {"driver": "local", "root": str(root)}}})


def round_trip(tmp_path: Path, label: str) -> dict[str, Any]:
    """Save a file and a directory, then load both back, through the sync API."""
    work = tmp_path / label
    (work / "out" / "logs").mkdir(parents=True)
    payload = os.urandom(700_000)
    (work / "out" / "model.bin").write_bytes(payload)
    (work / "out" / "logs" / "a.txt").write_text("alpha")
    store = work / "store"
    seen: dict[str, Any] = {"thread": threading.get_ident()}

    def on_report(details: aa.ReportDetails) -> None:
        seen["files_at_report"] = sorted(p for p in store.rglob("*") if p.is_file()) \
            if store.exists() else []
        seen["reported"] = [r.status for r in details.records]
        seen["callback_thread"] = threading.get_ident()

    options = aa.TransferOptions(state_dir=work / "state", part_size=256 * 1024)
    with SyncArtifacts(local_config(store), options=options) as artifacts:
        result = artifacts.save_outputs(
            [aa.OutputArtifact(name="model", path=work / "out" / "model.bin",
                               archive=aa.Archive.none()),
             aa.OutputArtifact(name="logs", path=work / "out" / "logs")],
            context=CTX, on_report=on_report,
        )
        result.raise_for_errors()
        model, logs = result.records
        artifacts.load_inputs(
            [aa.InputArtifact(name="model", path=work / "in" / "model.bin", record=model),
             aa.InputArtifact(name="logs", path=work / "in" / "logs", record=logs)],
            context=CTX,
        )
        with artifacts.stream(model) as chunks:
            streamed = b"".join(chunks)
    seen["loaded"] = (work / "in" / "model.bin").read_bytes() == payload
    seen["loaded_dir"] = (work / "in" / "logs" / "a.txt").read_text() == "alpha"
    seen["streamed"] = hashlib.sha256(streamed).digest() == hashlib.sha256(payload).digest()
    seen["statuses"] = [r.status for r in result.records]
    return seen


def check(seen: dict[str, Any]) -> None:
    assert seen["files_at_report"] == []
    assert seen["reported"] == [aa.ArtifactStatus.PLANNED] * 2
    assert seen["statuses"] == [aa.ArtifactStatus.STORED] * 2
    assert seen["loaded"]
    assert seen["loaded_dir"]
    assert seen["streamed"]
    # Callbacks run on the loop the object owns, not on the caller's thread.
    assert seen["callback_thread"] != seen["thread"]


def test_sync_from_a_plain_caller(tmp_path: Path) -> None:
    """A plain (loop-less) caller saves, loads and streams; on_report precedes any byte."""
    check(round_trip(tmp_path, "plain"))


def test_sync_from_a_worker_thread(tmp_path: Path) -> None:
    """The same round trip works from a worker thread."""
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(round_trip(tmp_path, "thread"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    check(results[0])


@pytest.mark.anyio
async def test_sync_inside_a_running_loop(tmp_path: Path) -> None:
    """Sync code called from inside a running event loop does not deadlock."""
    check(round_trip(tmp_path, "loop"))


def test_sync_async_callbacks_and_gc(tmp_path: Path, memory_store_name: str) -> None:
    """Async callbacks are awaited; GC, the ledger and sweeps work as blocking calls."""
    config = aa.RepositoryConfig.from_dict({"repositories": {
        "mem": {"driver": "memory", "name": memory_store_name}}})
    (tmp_path / "f.txt").write_text("x" * 1000)
    ledger = aa.Ledger(tmp_path / "ledger.sqlite3")
    order: list[str] = []

    async def on_report(details: aa.ReportDetails) -> None:
        await ledger.record(details.records)
        order.append("report")

    async def on_complete(details: aa.CompleteDetails) -> None:
        await ledger.record(details.records)
        order.append("complete")

    ctx = aa.Context(workflow_name="wf", workflow_uid="uid-gc", pod_name="p",
                     artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)
    options = aa.TransferOptions(resume=False)
    with closing(ledger), SyncArtifacts(config, options=options) as artifacts:
        result = artifacts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f.txt", archive=aa.Archive.none())],
            context=ctx, on_report=on_report, on_complete=on_complete)
        assert order == ["report", "complete"]
        assert MemoryDriver.get_store(memory_store_name).objects
        dry = artifacts.collect_workflow(ledger, workflow_uid="uid-gc",
                                         event=aa.GCEvent.WORKFLOW_COMPLETED, dry_run=True)
        assert dry.would_delete == 1
        report = artifacts.collect_garbage(result.records,
                                           event=aa.GCEvent.WORKFLOW_COMPLETED)
        assert report.deleted == 1
        assert not MemoryDriver.get_store(memory_store_name).objects
        assert artifacts.sweep_orphans("mem", older_than=timedelta(hours=1)) == []
        artifacts.record(ledger, result.records)
    with pytest.raises(RuntimeError, match="closed"):
        artifacts.collect_garbage([], event=aa.GCEvent.WORKFLOW_COMPLETED)
    artifacts.close()  # idempotent


class ClosingDriver(WrappedDriver):
    """Counts reads that were closed (their generator's finally ran)."""

    closed = 0

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.inner.read(key, offset=offset, length=length):
                yield chunk
        finally:
            self.closed += 1


@pytest.mark.anyio
async def test_stream_closes_the_read_when_the_block_exits(tmp_path: Path,
                                                           memory_store_name: str) -> None:
    """Leaving `stream()` early closes the backend read right there, not at GC time."""
    config = aa.RepositoryConfig.from_dict({"repositories": {
        "mem": {"driver": "memory", "name": memory_store_name}}})
    driver = ClosingDriver(MemoryDriver(name=memory_store_name))
    (tmp_path / "big.bin").write_bytes(os.urandom(3_000_000))
    async with aa.Artifacts(config, drivers={"mem": driver},
                            options=aa.TransferOptions(resume=False)) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=tmp_path / "big.bin",
                               archive=aa.Archive.none())], context=CTX)
        async with artifacts.stream(result.records[0]) as chunks:
            first = await chunks.__anext__()
            assert driver.closed == 0
        # `chunks` is still referenced: only the block's exit can have closed the read.
        assert driver.closed == 1
        assert len(first) > 0
        async with artifacts.stream(result.records[0]) as chunks:
            whole = b"".join([c async for c in chunks])
        assert whole == (tmp_path / "big.bin").read_bytes()


def test_sync_stream_stops_early(tmp_path: Path, memory_store_name: str) -> None:
    """The sync stream closes the read when its `with` block exits early."""
    config = aa.RepositoryConfig.from_dict({"repositories": {
        "mem": {"driver": "memory", "name": memory_store_name}}})
    driver = ClosingDriver(MemoryDriver(name=memory_store_name))
    (tmp_path / "big.bin").write_bytes(os.urandom(3_000_000))
    with SyncArtifacts(config, drivers={"mem": driver},
                       options=aa.TransferOptions(resume=False)) as artifacts:
        result = artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=tmp_path / "big.bin",
                               archive=aa.Archive.none())], context=CTX)
        with artifacts.stream(result.records[0]) as chunks:
            next(chunks)
            assert driver.closed == 0
        assert driver.closed == 1


@pytest.mark.anyio
async def test_async_on_progress_is_refused(tmp_path: Path, memory_store_name: str) -> None:
    """An async on_progress is refused with a clear TypeError before anything is planned."""
    config = aa.RepositoryConfig.from_dict({"repositories": {
        "mem": {"driver": "memory", "name": memory_store_name}}})

    async def on_progress(event: aa.ProgressEvent) -> None:  # pragma: no cover - refused
        await anyio.lowlevel.checkpoint()

    class AsyncCallable:
        async def __call__(self, event: aa.ProgressEvent) -> None:  # pragma: no cover
            await anyio.lowlevel.checkpoint()

    (tmp_path / "f").write_text("x")
    spec = [aa.OutputArtifact(name="f", path=tmp_path / "f", archive=aa.Archive.none())]
    async with aa.Artifacts(config) as artifacts:
        for callback in (on_progress, AsyncCallable()):
            with pytest.raises(TypeError, match="on_progress must be a plain function"):
                await artifacts.save_outputs(spec, context=CTX,
                                             on_progress=callback)  # type: ignore[arg-type]
    assert not MemoryDriver.get_store(memory_store_name).objects


def test_a_script_that_forgets_close_still_exits(tmp_path: Path) -> None:
    """The loop thread is a daemon: a script without close() exits instead of hanging."""
    script = tmp_path / "forgets.py"
    script.write_text(
        "import artifacts_async as aa\n"
        "from artifacts_async.sync import SyncArtifacts\n"
        "config = aa.RepositoryConfig.from_dict("
        "{'repositories': {'m': {'driver': 'memory'}}})\n"
        "artifacts = SyncArtifacts(config)\n"
        "print('leaving')\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60,
                            check=False)
    assert (result.returncode, result.stdout) == (0, b"leaving\n")


def test_sync_load_and_stream_report_download_progress(tmp_path: Path,
                                                       memory_store_name: str) -> None:
    """The blocking `load_inputs` and `stream` pass `on_progress` through."""
    config = aa.RepositoryConfig.from_dict({"repositories": {
        "mem": {"driver": "memory", "name": memory_store_name}}})
    (tmp_path / "f.bin").write_bytes(os.urandom(2000))
    events: list[str] = []
    with SyncArtifacts(config, options=aa.TransferOptions(resume=False)) as artifacts:
        result = artifacts.save_outputs(
            [aa.OutputArtifact(name="f", path=tmp_path / "f.bin", archive=aa.Archive.none())],
            context=CTX)
        (record,) = result.records
        artifacts.load_inputs([aa.InputArtifact(name="f", path=tmp_path / "g", record=record)],
                              context=CTX, on_progress=lambda e: events.append(e.name))
        with artifacts.stream(record, on_progress=lambda e: events.append(e.name)) as chunks:
            assert b"".join(chunks) == (tmp_path / "f.bin").read_bytes()
    expected = ["download.started", "download.progress", "download.complete"]
    assert events == expected + expected
