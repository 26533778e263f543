"""The small-file path: one worker-thread call to open, one to read, re-check and checksum."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._exceptions import SourceChangedError
from artifacts_async._sources import open_source
from artifacts_async._transfer import UploadEngine
from artifacts_async.abc import part_checksums

pytestmark = pytest.mark.anyio


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every function sent to a worker thread."""
    calls: list[str] = []
    original: Callable[..., Any] = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    return calls


async def test_small_file_takes_two_thread_calls(tmp_path: Path, memory_store_name: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A file under the single-put threshold: open in one call, read+check+hash in one."""
    data = os.urandom(40_000)
    path = tmp_path / "small.bin"
    path.write_bytes(data)
    driver = MemoryDriver.from_settings({"name": memory_store_name})
    engine = UploadEngine(aa.TransferOptions())
    calls = counting(monkeypatch)
    async with open_source(path, aa.Archive.none()) as source:
        stored = await engine.upload(driver, "k", source, artifact="a")
    assert len(calls) == 2, calls
    _, crc = part_checksums(data, driver.limits.checksums)
    assert (stored.size, stored.crc32c) == (len(data), f"{crc:08x}")
    assert MemoryDriver.get_store(memory_store_name).objects["k"][0] == data
    assert engine.budget.held_bytes == 0


async def test_empty_file_on_the_small_path(tmp_path: Path, memory_store_name: str) -> None:
    """An empty file is stored as an empty object."""
    path = tmp_path / "empty"
    path.write_bytes(b"")
    driver = MemoryDriver.from_settings({"name": memory_store_name})
    engine = UploadEngine(aa.TransferOptions())
    async with open_source(path, aa.Archive.none()) as source:
        stored = await engine.upload(driver, "e", source, artifact="a")
    assert stored.size == 0
    assert MemoryDriver.get_store(memory_store_name).objects["e"][0] == b""


async def test_small_file_changed_after_open_is_refused(tmp_path: Path,
                                                        memory_store_name: str) -> None:
    """A small file rewritten between open and read fails; nothing is stored."""
    path = tmp_path / "small.bin"
    path.write_bytes(b"a" * 1000)
    driver = MemoryDriver.from_settings({"name": memory_store_name})
    engine = UploadEngine(aa.TransferOptions())
    async with open_source(path, aa.Archive.none()) as source:
        path.write_bytes(b"b" * 900)
        with pytest.raises(SourceChangedError):
            await engine.upload(driver, "c", source, artifact="a")
    assert "c" not in MemoryDriver.get_store(memory_store_name).objects
    assert engine.budget.held_bytes == 0


async def test_directory_with_archive_none_is_refused_and_fifo_does_not_hang(
        tmp_path: Path) -> None:
    """Opening checks the type after one open call: directories and FIFOs are refused."""
    with pytest.raises(aa.ConfigurationError):
        async with open_source(tmp_path, aa.Archive.none()):
            pass
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(aa.ConfigurationError):
        async with open_source(fifo, aa.Archive.none()):
            pass
    with pytest.raises(aa.MissingInputError):
        async with open_source(tmp_path / "absent", aa.Archive.none()):
            pass
