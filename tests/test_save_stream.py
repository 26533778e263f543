"""Uploads from an async byte stream (`Artifacts.save_stream`) and budgets shared by
several `Artifacts` (as the Argo plugin shares one across configurations)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._checksums import crc32c
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.argo._settings import Repositories

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


def _setup(store: str, hook: Any = None) -> tuple[aa.RepositoryConfig, WrappedDriver]:
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": store}}})
    return config, WrappedDriver(MemoryDriver.from_settings({"name": store}), hook)


def _options(state: Path | None = None) -> aa.TransferOptions:
    return aa.TransferOptions(part_size=MiB, single_put_threshold=MiB, max_parts_in_flight=2,
                              max_buffer_bytes=2 * MiB, resume=state is not None,
                              state_dir=state)


async def _stream(data: bytes, *, piece: int = 300_000, fail_at: int | None = None
                  ) -> AsyncIterator[bytes]:
    for at in range(0, len(data), piece):
        if fail_at is not None and at >= fail_at:
            raise OSError("the network stream broke")
        await anyio.lowlevel.checkpoint()
        yield data[at:at + piece]


async def test_save_stream_uploads_a_stream_of_unknown_size_in_parts(
    memory_store_name: str,
) -> None:
    """Chunks of any size become verified parts; the record carries size and CRC32C, and
    the stored bytes stream back identical."""
    data = os.urandom(5 * MiB + 123)
    config, driver = _setup(memory_store_name)
    async with aa.Artifacts(config, options=_options(), drivers={"m": driver}) as arts:
        record = await arts.save_stream("blob", _stream(data), context=CTX, key="s/blob.bin")
        assert record.status is aa.ArtifactStatus.STORED
        assert (record.location.key, record.size) == ("s/blob.bin", len(data))
        assert record.checksum == f"crc32c:{crc32c(data):08x}"
        assert sum(1 for call in driver.calls if call[0] == "upload_part") == 6
        assert b"".join([c async for c in arts.open_stream(record)]) == data


async def test_a_broken_stream_fails_once_and_a_retry_resumes_its_parts(
    memory_store_name: str, state_dir: Path
) -> None:
    """A stream that breaks raises `TransferError` with one `upload.failed` event; the same
    bytes sent again to the same key upload only the parts the backend does not hold."""
    data = os.urandom(6 * MiB)
    config, driver = _setup(memory_store_name)
    events: list[aa.ProgressEvent] = []
    async with aa.Artifacts(config, options=_options(state_dir), drivers={"m": driver}) as arts:
        with pytest.raises(aa.TransferError, match="the network stream broke"):
            await arts.save_stream("blob", _stream(data, fail_at=4 * MiB), context=CTX,
                                   key="s/blob.bin", on_progress=events.append)
        assert [e.name for e in events].count("upload.failed") == 1
        (upload,) = MemoryDriver.get_store(memory_store_name).uploads.values()
        held = set(upload.parts)  # what the backend confirmed before the break
        assert held >= {1, 2, 3}
        driver.calls.clear()
        record = await arts.save_stream("blob", _stream(data), context=CTX, key="s/blob.bin")
    sent = {call[2] for call in driver.calls if call[0] == "upload_part"}
    assert sent == set(range(1, 7)) - held
    assert MemoryDriver.get_store(memory_store_name).objects["s/blob.bin"][0] == data
    assert record.size == len(data)


async def test_artifacts_given_one_budget_share_it(tmp_path: Path) -> None:
    """Two `Artifacts` (two repositories) saving at once never have more parts in flight
    than their one shared budget allows."""
    active = {"now": 0, "peak": 0}
    two_in_flight = anyio.Event()

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part":
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
            if active["now"] == 2:
                two_in_flight.set()
            # The first part waits for a second (the budget allows two, so one comes), then
            # every part yields so that any part beyond the budget would get in.
            with anyio.fail_after(30):
                await two_in_flight.wait()
            for _ in range(20):
                await anyio.lowlevel.checkpoint()
            active["now"] -= 1

    budget = aa.TransferBudget.from_options(_options())
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(4 * MiB))
    results = []

    async def save(store: str) -> None:
        MemoryDriver.get_store(store).clear()
        config, driver = _setup(store, hook)
        async with aa.Artifacts(config, options=_options(), drivers={"m": driver},
                                budget=budget) as arts:
            out = aa.OutputArtifact(name="f", path=path, archive=aa.Archive.none())
            results.append(await arts.save_outputs([out], context=CTX))

    async with anyio.create_task_group() as tg:
        tg.start_soon(save, "shared-budget-a")
        tg.start_soon(save, "shared-budget-b")
    assert all(r.ok for r in results)
    assert active["peak"] == 2
    assert budget.peak_parts == 2
    assert budget.peak_bytes <= 2 * MiB


def test_a_shared_budget_must_hold_the_largest_part() -> None:
    """A budget smaller than `max_buffer_bytes` is refused with what to change."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"m": {"driver": "memory"}}})
    small = aa.TransferBudget(max_parts=2, max_bytes=MiB)
    with pytest.raises(aa.ConfigurationError, match="lower max_buffer_bytes"):
        aa.Artifacts(config, options=_options(), budget=small)


async def test_plugin_keeps_one_artifacts_per_distinct_configuration() -> None:
    """The Argo plugin reuses one `Artifacts` (one driver) per configuration, however it
    is spelled; all share the server's budget; a malformed one is not cached."""
    repositories = Repositories(_options())
    first = repositories.get('{"driver": "memory", "name": "x"}')
    assert repositories.get('driver: memory\nname: x\n') is first
    other = repositories.get('{"driver": "memory", "name": "y"}')
    assert other is not first
    with pytest.raises(aa.ConfigurationError):
        repositories.get('{"driver": "memory", "transfer": {"state_dir": "/x"}}')
    assert len(repositories) == 2
    assert first._budget is other._budget is repositories.budget
    assert await first.driver("default") is await first.driver("default")
    await repositories.aclose()
    assert len(repositories) == 0
