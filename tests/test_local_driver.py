"""The local driver's data path: each byte checksummed once, large reads, typed errors."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crc32c as crc32c_package
import pytest

import artifacts_async as aa
from artifacts_async import BackendError, ConfigurationError, _download
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._filewrite import WRITE_SLICE, write_at, write_chunks_at
from artifacts_async.abc import PartChecksums, _helpers

pytestmark = pytest.mark.anyio

CTX = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="wf-pod-1")
MiB = 1024 * 1024


@pytest.fixture
def checksummed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the buffers every CRC32C of this library is computed over."""
    sizes: list[int] = []

    def counting(data: bytes | bytearray | memoryview, value: int = 0) -> int:
        sizes.append(len(data))
        return int(crc32c_package.crc32c(data, value))

    monkeypatch.setattr(_helpers, "_crc32c", SimpleNamespace(crc32c=counting))
    return sizes


async def _save_then_load(
    tmp_path: Path,
    data: bytes,
    *,
    between: Callable[[], None] = lambda: None,
    budget: aa.TransferBudget | None = None,
    **options: Any,
) -> aa.ArtifactRecord:
    """Save `data` as a file to a local repository in parts of 1 MiB, call `between`, load
    it back (in parallel ranges, by default) and check the bytes; return the record."""
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": str(tmp_path / "store")}}})
    (tmp_path / "big.bin").write_bytes(data)
    transfer = aa.TransferOptions(state_dir=tmp_path / "state", part_size=MiB,
                                  single_put_threshold=MiB, **options)
    async with aa.Artifacts(config, options=transfer, budget=budget) as artifacts:
        saved = await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=tmp_path / "big.bin", key="k/big.bin",
                               repository="local", archive=aa.Archive.none())], context=CTX)
        saved.raise_for_errors()
        between()
        loaded = await artifacts.load_inputs(
            [aa.InputArtifact(name="big", path=tmp_path / "out.bin", record=saved.records[0])],
            context=CTX)
    assert not loaded.errors
    assert (tmp_path / "out.bin").read_bytes() == data
    return saved.records[0]


async def test_each_byte_checksummed_once(tmp_path: Path, checksummed: list[int]) -> None:
    """A multipart save to the local driver and its parallel load compute the CRC32C of
    each byte once each: the driver does not check again what the engine computed."""
    data = os.urandom(5 * MiB + 123)

    def saved() -> None:
        assert sum(checksummed) == len(data)
        checksummed.clear()

    record = await _save_then_load(tmp_path, data, between=saved)
    assert sum(checksummed) == len(data)
    assert record.checksum == f"crc32c:{crc32c_package.crc32c(data):08x}"


async def test_range_read_in_one_chunk(tmp_path: Path) -> None:
    """A range of the default part size (8 MiB) comes in one chunk: one worker-thread
    call, not one per MiB."""
    driver = LocalDriver(tmp_path)
    data = os.urandom(8 * MiB + 10)
    await driver.put("big", data, checksums=PartChecksums(), metadata={})
    chunks = [c async for c in driver.read("big", offset=5, length=8 * MiB)]
    assert [len(c) for c in chunks] == [8 * MiB]
    assert chunks[0] == data[5 : 5 + 8 * MiB]
    rest = [c async for c in driver.read("big", offset=-7)]
    assert b"".join(rest) == data[-7:]


async def test_read_of_a_directory_is_a_backend_error(tmp_path: Path) -> None:
    """Reading a key that is a directory fails with a typed error, even for an empty
    range that reads no byte."""
    driver = LocalDriver(tmp_path)
    await driver.put("dir/file", b"x", checksums=PartChecksums(), metadata={})
    for length in (None, 0):
        with pytest.raises(BackendError, match="is a directory"):
            [c async for c in driver.read("dir", length=length)]


def test_threads_setting(tmp_path: Path) -> None:
    """`threads` bounds the worker threads that copy bytes; it must be a positive integer."""
    driver = LocalDriver.from_settings({"root": str(tmp_path), "threads": 3})
    assert driver._copiers.total_tokens == 3
    assert LocalDriver(tmp_path)._copiers.total_tokens >= 2
    for bad in (0, -1, "2", True):
        with pytest.raises(ConfigurationError, match="local driver: 'threads'"):
            LocalDriver.from_settings({"root": str(tmp_path), "threads": bad})


async def test_range_keeps_its_slot_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each range of a parallel load is written while it holds an in-flight slot, so at
    most `max_parts_in_flight` ranges use worker threads at once."""
    budget = aa.TransferBudget.from_options(
        aa.TransferOptions(part_size=MiB, single_put_threshold=MiB, max_parts_in_flight=3))
    seen: list[int] = []
    write_at = _download._write_at

    def watched(fd: int, chunks: list[bytes], offset: int) -> int:
        seen.append(budget.in_flight)
        return write_at(fd, chunks, offset)

    monkeypatch.setattr(_download, "_write_at", watched)
    await _save_then_load(tmp_path, os.urandom(6 * MiB + 5), budget=budget,
                          max_parts_in_flight=3)
    assert len(seen) == 7
    assert min(seen) >= 1
    assert max(seen) <= 3


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every write system call into a file (`os.write`, `os.pwrite`,
    `os.pwritev`) this library makes."""
    sizes: list[int] = []
    write, pwrite, pwritev = os.write, os.pwrite, os.pwritev

    def counting_w(fd: int, data: bytes | memoryview) -> int:
        sizes.append(len(data))
        return write(fd, data)

    def counting(fd: int, data: bytes | memoryview, offset: int) -> int:
        sizes.append(len(data))
        return pwrite(fd, data, offset)

    def counting_v(fd: int, buffers: list[bytes], offset: int) -> int:
        sizes.append(sum(len(b) for b in buffers))
        return pwritev(fd, buffers, offset)

    monkeypatch.setattr(os, "write", counting_w)
    monkeypatch.setattr(os, "pwrite", counting)
    monkeypatch.setattr(os, "pwritev", counting_v)
    return sizes


@pytest.mark.parametrize(("size", "parallel"), [(3 * MiB + 77, True), (3 * MiB + 77, False),
                                              (MiB - 5, True)], ids=["ranges", "stream", "small"])
async def test_files_written_in_small_slices(
    tmp_path: Path, writes: list[int], size: int, parallel: bool
) -> None:
    """A save to the local driver (in parts, or one put) and its load (in parallel ranges,
    streamed, or whole for a small file) write every byte once, at most `WRITE_SLICE`
    bytes per system call: a large write makes the kernel allocate large page-cache
    folios, which cost direct compactions on fragmented memory."""
    data = os.urandom(size)

    def saved() -> None:
        assert sum(writes) == len(data)
        assert max(writes) == WRITE_SLICE
        writes.clear()

    await _save_then_load(tmp_path, data, between=saved, parallel_downloads=parallel)
    assert sum(writes) == len(data)
    assert max(writes) == WRITE_SLICE


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write the kernel completes only in part is continued from the byte it reached,
    for one buffer and for chunks (whose CRC32C is that of all their bytes)."""
    pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite",
                        lambda fd, data, offset: pwrite(fd, memoryview(data)[:1000], offset))
    monkeypatch.setattr(os, "pwritev",
                        lambda fd, buffers, offset: pwrite(fd, buffers[0][:1000], offset))
    data = os.urandom(WRITE_SLICE + 4321)
    target = tmp_path / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT)
    try:
        write_at(fd, bytearray(data), 5)
        crc = write_chunks_at(fd, [data[:10], data[10:20], data[20:]], 5 + len(data))
    finally:
        os.close(fd)
    assert target.read_bytes() == b"\0" * 5 + data + data
    assert crc == crc32c_package.crc32c(data)


async def test_one_range_written_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranges of a parallel load are read concurrently but written one at a time: the
    kernel serializes writes to one file on its inode lock anyway, and threads queueing
    there spin for it."""
    data = os.urandom(6 * MiB + 5)
    active, most = 0, 0
    counting = threading.Lock()
    overlapped = threading.Event()
    write = _download._write_at

    def watched(fd: int, chunks: list[bytes], offset: int) -> int:
        nonlocal active, most
        with counting:
            active += 1
            most = max(most, active)
            if active > 1:
                overlapped.set()
        try:
            if offset == 0:  # the other ranges have time to be read and to overlap this one
                overlapped.wait(timeout=1)
            return write(fd, chunks, offset)
        finally:
            with counting:
                active -= 1

    monkeypatch.setattr(_download, "_write_at", watched)
    await _save_then_load(tmp_path, data, max_parts_in_flight=3)
    assert most == 1


def test_small_chunks_gathered(tmp_path: Path, writes: list[int]) -> None:
    """Small chunks (as a network driver yields them) go out gathered into calls of
    `WRITE_SLICE` bytes, not one call each."""
    chunks = [os.urandom(1000) for _ in range(200)]
    target = tmp_path / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT)
    try:
        crc = write_chunks_at(fd, chunks, 0)
    finally:
        os.close(fd)
    assert writes == [WRITE_SLICE] * 3 + [200_000 - 3 * WRITE_SLICE]
    assert target.read_bytes() == b"".join(chunks)
    assert crc == crc32c_package.crc32c(b"".join(chunks))
