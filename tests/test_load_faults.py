"""Loads under faults: stalls, objects that change, damaged archives, typed errors."""

from __future__ import annotations

import io
import os
import random
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async import _download, _reads
from artifacts_async._bridge import LoopPort, PortClosedError, run_in_thread
from artifacts_async._checksums import crc32c
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._ranged import RangedFile
from artifacts_async.abc import PartChecksums

pytestmark = pytest.mark.anyio

CTX = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod")
MiB = 1024 * 1024


def memory_config(name: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": name}}})


def tree(root: Path, seed: int = 0, big: int = 3_000_000) -> Path:
    rng = random.Random(seed)
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n" * 100)
    (root / "sub" / "big.bin").write_bytes(rng.randbytes(big))
    return root


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


async def save(arts: aa.Artifacts, path: Path, archive: aa.Archive,
               name: str = "a") -> aa.ArtifactRecord:
    result = await arts.save_outputs([aa.OutputArtifact(name=name, path=path, archive=archive)],
                                     context=CTX)
    result.raise_for_errors()
    return result.records[0]


def store_put(store_name: str, key: str, data: bytes) -> None:
    store = MemoryDriver.get_store(store_name)
    _, meta, when = store.objects.get(key, (b"", {}, None))
    store.objects[key] = (data, meta, when or datetime.now(UTC))


class Stalling(WrappedDriver):
    """The first read to yield a chunk then stalls for good; every read is recorded."""

    def __init__(self, inner: aa.abc.Driver) -> None:
        super().__init__(inner)
        self.reads: list[tuple[int, int | None]] = []
        self.stalled: tuple[int, int | None] | None = None

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        self.reads.append((offset, length))
        async for chunk in self.inner.read(key, offset=offset, length=length):
            yield chunk
            if self.stalled is None:
                self.stalled = (offset, length)
                await anyio.sleep_forever()


KINDS = {
    "file-streamed": (aa.Archive.none(), False),
    "file-ranged": (aa.Archive.none(), True),
    "tar": (aa.Archive.tar(compression_level=0), False),
    "tgz": (aa.Archive.tar(compression_level=1), False),
    "zip": (aa.Archive.zip(), False),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_stalled_read_is_cancelled_and_continued(tmp_path: Path, memory_store_name: str,
                                                       kind: str) -> None:
    """A read that stalls misses its deadline and is re-opened at the byte it reached."""
    archive, parallel = KINDS[kind]
    source = tree(tmp_path / "d")
    path = source / "sub" / "big.bin" if archive.kind is aa.ArchiveKind.NONE else source
    driver = Stalling(MemoryDriver(name=memory_store_name))
    options = aa.TransferOptions(request_timeout=0.2, part_size=MiB, resume=False,
                                 parallel_downloads=parallel)
    async with aa.Artifacts(memory_config(memory_store_name), options=options,
                            drivers={"m": driver}) as arts:
        record = await save(arts, path, archive)
        with anyio.fail_after(20):
            await arts.load_inputs([aa.InputArtifact(name="a", path=tmp_path / "out",
                                                     record=record)], context=CTX)
    assert driver.stalled is not None
    if archive.kind is aa.ArchiveKind.NONE:
        assert (tmp_path / "out").read_bytes() == path.read_bytes()
    else:
        assert files_under(tmp_path / "out") == files_under(source)
    # A later read continues where the stalled one stopped (one 256 KiB chunk in).
    offset, length = driver.stalled
    chunk = 256 * 1024
    assert (offset + chunk, None if length is None else length - chunk) in driver.reads


async def test_trickling_range_misses_its_sized_deadline(tmp_path: Path,
                                                         memory_store_name: str) -> None:
    """A ranged read slower than min_throughput in all fails its attempt, though each chunk
    comes well within request_timeout (the bytes it got are yielded first)."""
    (tmp_path / "f").write_bytes(os.urandom(10 * 256 * 1024))

    class Trickle(WrappedDriver):
        async def read(self, key: str, *, offset: int = 0,
                       length: int | None = None) -> AsyncIterator[bytes]:
            async for chunk in self.inner.read(key, offset=offset, length=length):
                await anyio.sleep(0.02)
                yield chunk

    # Each attempt may wait 0.05 s in all for its bytes: two or three chunks, not ten.
    options = aa.TransferOptions(request_timeout=0.05, min_throughput=1024 * 1024 * 1024)
    driver = MemoryDriver(name=memory_store_name)
    async with aa.Artifacts(memory_config(memory_store_name), options=options,
                            drivers={"m": driver}) as arts:
        record = await save(arts, tmp_path / "f", aa.Archive.none())
    chunks = _reads.resilient_read(Trickle(driver), record.location.key, offset=0,
                                      length=record.size, options=options)
    with pytest.raises(aa.TransientBackendError, match=r"bytes within .* s at byte"):
        async for _ in chunks:
            pass


async def test_grown_object_fails_ranged_download(tmp_path: Path, memory_store_name: str) -> None:
    """A large object that grew after it was saved fails the parallel download."""
    data = os.urandom(3 * MiB)
    (tmp_path / "f").write_bytes(data)
    options = aa.TransferOptions(part_size=MiB, resume=False)
    async with aa.Artifacts(memory_config(memory_store_name), options=options) as arts:
        record = await save(arts, tmp_path / "f", aa.Archive.none())
        store_put(memory_store_name, record.location.key, data + b"more")
        (tmp_path / "out").write_bytes(b"older")
        with pytest.raises(aa.IntegrityError, match="the record says"):
            await arts.load_inputs([aa.InputArtifact(name="a", path=tmp_path / "out",
                                                     record=record)], context=CTX)
    assert (tmp_path / "out").read_bytes() == b"older"


@pytest.mark.parametrize("kind", ["file-ranged", "zip"])
async def test_object_replaced_during_download(tmp_path: Path, memory_store_name: str,
                                               kind: str) -> None:
    """An object replaced (same size, other bytes) while it is read is refused, even
    without checksum verification: the object is looked at again before committing."""
    archive, parallel = KINDS[kind]
    source = tree(tmp_path / "d")
    path = source / "sub" / "big.bin" if archive.kind is aa.ArchiveKind.NONE else source
    key: dict[str, str] = {}
    replaced = {"done": False}

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "read" and not replaced["done"]:
            replaced["done"] = True
            new = bytearray(MemoryDriver.get_store(memory_store_name).objects[key["key"]][0])
            # A byte no reader checks: an entry's time in a zip's directory.
            at = central_directory_offset(bytes(new)) + 12 if kind == "zip" else 10
            new[at] ^= 1
            store_put(memory_store_name, key["key"], bytes(new))

    driver = WrappedDriver(MemoryDriver(name=memory_store_name))
    options = aa.TransferOptions(part_size=MiB, resume=False, parallel_downloads=parallel)
    async with aa.Artifacts(memory_config(memory_store_name), options=options,
                            drivers={"m": driver}) as arts:
        record = await save(arts, path, archive)
        key["key"] = record.location.key
        driver.hook = hook
        result = await arts.load_inputs(
            [aa.InputArtifact(name="a", path=tmp_path / "out", record=record, verify=False)],
            context=CTX, raise_on_error=False)
    assert replaced["done"]
    assert isinstance(result.errors["a"], aa.IntegrityError)
    assert "changed during the download" in str(result.errors["a"])
    assert not (tmp_path / "out").exists()


def central_directory_offset(data: bytes) -> int:
    end = data.rindex(b"PK\x05\x06")
    return int(struct.unpack("<I", data[end + 16 : end + 20])[0])


async def test_zip_checked_against_the_record(tmp_path: Path, memory_store_name: str) -> None:
    """A byte changed where zipfile never looks (an entry's time in the central directory)
    fails the zip's load with IntegrityError."""
    source = tree(tmp_path / "d", big=100_000)
    async with aa.Artifacts(memory_config(memory_store_name),
                            options=aa.TransferOptions(resume=False)) as arts:
        record = await save(arts, source, aa.Archive.zip())
        data = bytearray(MemoryDriver.get_store(memory_store_name).objects[
            record.location.key][0])
        data[central_directory_offset(bytes(data)) + 12] ^= 0x01  # last-modified time
        store_put(memory_store_name, record.location.key, bytes(data))
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
            assert zf.testzip() is None  # zipfile itself finds nothing wrong
        with pytest.raises(aa.IntegrityError, match="CRC32C"):
            await arts.load_inputs([aa.InputArtifact(name="a", path=tmp_path / "out",
                                                     record=record)], context=CTX)
    assert not (tmp_path / "out").exists()


async def test_zip_read_in_many_windows(tmp_path: Path, memory_store_name: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip larger than many windows loads and is verified whole; a byte flipped in a
    member's data is refused."""
    monkeypatch.setattr(_download, "WINDOW", 64 * 1024)
    source = tree(tmp_path / "d", big=1_000_000)
    async with aa.Artifacts(memory_config(memory_store_name),
                            options=aa.TransferOptions(resume=False)) as arts:
        record = await save(arts, source, aa.Archive.zip())
        spec = aa.InputArtifact(name="a", path=tmp_path / "out", record=record)
        await arts.load_inputs([spec], context=CTX)
        assert files_under(tmp_path / "out") == files_under(source)
        data = bytearray(MemoryDriver.get_store(memory_store_name).objects[
            record.location.key][0])
        data[len(data) // 2] ^= 0x01
        store_put(memory_store_name, record.location.key, bytes(data))
        with pytest.raises(aa.IntegrityError):
            await arts.load_inputs([attrs.evolve(spec, path=tmp_path / "out2")], context=CTX)
    assert not (tmp_path / "out2").exists()


def test_ranged_file_fetches_unread_windows_for_the_crc() -> None:
    """check_crc covers windows the reader never read, and a window that reads back
    different bytes is an IntegrityError."""
    data = bytearray(os.urandom(10_000))
    fetched: list[int] = []

    def read_range(offset: int, length: int) -> bytes:
        fetched.append(offset)
        return bytes(data[offset : offset + length])

    ranged = RangedFile(read_range, len(data), name="obj", window=1000)
    ranged.seek(-10, io.SEEK_END)
    assert ranged.read(10) == data[-10:]
    ranged.check_crc(crc32c(data))
    assert sorted(fetched) == list(range(0, 10_000, 1000))
    with pytest.raises(aa.IntegrityError, match="CRC32C"):
        ranged.check_crc(crc32c(data) ^ 1)
    other = RangedFile(read_range, len(data), name="obj", window=1000)
    other.seek(5)
    other.read(1)
    for index in range(4):  # push window 0 out of the two-window cache
        other.seek(1000 * (index + 1))
        other.read(1)
    data[0] ^= 1
    other.seek(0)
    with pytest.raises(aa.IntegrityError, match="differ between two reads"):
        other.read(1)


def zip_member(names_and_data: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in names_and_data:
            zf.writestr(name, content)
    return out.getvalue()


async def test_zip_written_by_writestr_loads(tmp_path: Path, memory_store_name: str) -> None:
    """A zip from zipfile.writestr (mode bits without a file type) loads."""
    data = zip_member([("pkg/a.txt", b"alpha"), ("pkg/sub/b.txt", b"beta")])
    await MemoryDriver(name=memory_store_name).put("given.zip", data, checksums=PartChecksums(),
                                                   metadata={})
    async with aa.Artifacts(memory_config(memory_store_name)) as arts:
        await arts.load_inputs([aa.InputArtifact(name="z", path=tmp_path / "pkg",
                                                 key="given.zip")], context=CTX)
    assert files_under(tmp_path / "pkg") == {"a.txt": b"alpha", "sub/b.txt": b"beta"}


def with_record_of(record: aa.ArtifactRecord, data: bytes) -> aa.ArtifactRecord:
    return attrs.evolve(record, size=len(data), checksum=f"crc32c:{crc32c(data):08x}")


@pytest.mark.parametrize("archive", [aa.Archive.zip(), aa.Archive.tar(compression_level=0)])
async def test_damage_wins_over_unsafe_member(tmp_path: Path, memory_store_name: str,
                                              archive: aa.Archive) -> None:
    """An archive whose damage makes a member name unsafe is an IntegrityError; the same
    bytes matching their record are an UnsafeArchiveError."""
    source = tmp_path / "tree"
    source.mkdir()
    (source / "evil.txt").write_text("x")
    # More than the extractor's read-ahead after it: the stream's end is not reached
    # when the unsafe member is refused.
    (source / "zz.bin").write_bytes(os.urandom(3_000_000))
    async with aa.Artifacts(memory_config(memory_store_name),
                            options=aa.TransferOptions(resume=False)) as arts:
        record = await save(arts, source, archive)
        data = MemoryDriver.get_store(memory_store_name).objects[record.location.key][0]
        assert data.count(b"tree/evil.txt") >= 1
        damaged = data.replace(b"tree/evil.txt", b"tree/../x.txt")
        if archive.kind is aa.ArchiveKind.TAR:  # keep the tar header's own checksum valid
            at = damaged.index(b"tree/../x.txt")
            header = bytearray(damaged[at : at + 512])
            header[148:156] = b" " * 8
            header[148:156] = b"%06o\0 " % sum(header)
            damaged = damaged[:at] + bytes(header) + damaged[at + 512 :]
        store_put(memory_store_name, record.location.key, damaged)
        result = await arts.load_inputs(
            [aa.InputArtifact(name="damaged", path=tmp_path / "o1", record=record),
             aa.InputArtifact(name="unsafe", path=tmp_path / "o2",
                              record=with_record_of(record, damaged))],
            context=CTX, raise_on_error=False)
    assert isinstance(result.errors["damaged"], aa.IntegrityError)
    assert isinstance(result.errors["unsafe"], aa.UnsafeArchiveError)


async def test_every_failure_is_typed_and_its_own(tmp_path: Path, memory_store_name: str) -> None:
    """Each failing input gets an error of this library, with the original as __cause__;
    the other inputs load, with or without raise_on_error."""
    rng = random.Random(5)
    good = rng.randbytes(1000)
    bad_deflate = bytearray(zip_member([("z/a.bin", rng.randbytes(5000))]))
    bad_deflate[30 + len("z/a.bin") : 30 + len("z/a.bin") + 8] = b"\xff" * 8  # block type 3
    memory = MemoryDriver(name=memory_store_name)
    objects = {"good.bin": good, "not-gzip.tgz": rng.randbytes(5000),
               "garbage.zip": rng.randbytes(5000), "bad-deflate.zip": bytes(bad_deflate)}
    for key, data in objects.items():
        await memory.put(key, data, checksums=PartChecksums(), metadata={})
    (tmp_path / "f").write_bytes(rng.randbytes(3 * MiB))
    shrinking = {"key": ""}

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "read" and kwargs["key"] == "boom.bin":
            raise ValueError("a bug deep inside a driver")
        if method == "read" and kwargs["key"] == shrinking["key"]:
            store = MemoryDriver.get_store(memory_store_name)
            data, meta, when = store.objects[shrinking["key"]]
            store.objects[shrinking["key"]] = (data[: MiB + 10], meta, when)

    await memory.put("boom.bin", good, checksums=PartChecksums(), metadata={})
    driver = WrappedDriver(memory)
    options = aa.TransferOptions(part_size=MiB, resume=False)
    async with aa.Artifacts(memory_config(memory_store_name), options=options,
                            drivers={"m": driver}) as arts:
        large = await save(arts, tmp_path / "f", aa.Archive.none(), name="large")
        shrinking["key"] = large.location.key
        driver.hook = hook
        specs = [
            aa.InputArtifact(name="good", path=tmp_path / "o/good", key="good.bin",
                             archive=aa.Archive.none()),
            aa.InputArtifact(name="not-gzip", path=tmp_path / "o/t", key="not-gzip.tgz",
                             verify=False),
            aa.InputArtifact(name="garbage-zip", path=tmp_path / "o/z", key="garbage.zip",
                             verify=False),
            aa.InputArtifact(name="bad-deflate", path=tmp_path / "o/d", key="bad-deflate.zip",
                             verify=False),
            aa.InputArtifact(name="shrank", path=tmp_path / "o/s", record=large),
            aa.InputArtifact(name="boom", path=tmp_path / "o/b", key="boom.bin",
                             archive=aa.Archive.none()),
            aa.InputArtifact(name="missing", path=tmp_path / "o/m", key="nope.bin",
                             archive=aa.Archive.none()),
        ]
        result = await arts.load_inputs(specs, context=CTX, raise_on_error=False)
    errors = result.errors
    assert list(errors) == [s.name for s in specs[1:]]  # in the order of the specs
    assert (tmp_path / "o/good").read_bytes() == good
    causes = {
        "not-gzip": (aa.IntegrityError, tarfile.ReadError),
        "garbage-zip": (aa.IntegrityError, zipfile.BadZipFile),
        "bad-deflate": (aa.IntegrityError, zlib.error),
        "shrank": (aa.IntegrityError, type(None)),
        "boom": (aa.TransferError, ValueError),
        "missing": (aa.MissingInputError, aa.ArtifactNotFoundError),
    }
    for name, (kind, cause) in causes.items():
        assert type(errors[name]) is kind, (name, errors[name])
        assert isinstance(errors[name].__cause__, cause), (name, errors[name].__cause__)
    assert sorted(os.listdir(tmp_path / "o")) == ["good"]


async def test_raise_on_error_raises_first_in_spec_order(tmp_path: Path,
                                                         memory_store_name: str) -> None:
    """With raise_on_error, the first failed input in the order of the specs is raised,
    though it failed last."""
    memory = MemoryDriver(name=memory_store_name)
    await memory.put("first.bin", b"x", checksums=PartChecksums(), metadata={})

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if kwargs.get("key") == "first.bin":
            await anyio.wait_all_tasks_blocked()  # the second input has failed by now
            raise aa.PermissionDeniedError("first: access denied")

    driver = WrappedDriver(memory, hook)
    failed = aa.ArtifactRecord(
        name="second", location=aa.Location(repository="m", driver="memory", key="second.bin"),
        archive=aa.Archive.none(), gc=aa.GCStrategy.NEVER, status=aa.ArtifactStatus.FAILED)
    async with aa.Artifacts(memory_config(memory_store_name), drivers={"m": driver}) as arts:
        with pytest.raises(aa.PermissionDeniedError):
            await arts.load_inputs(
                [aa.InputArtifact(name="first", path=tmp_path / "a", key="first.bin",
                                  archive=aa.Archive.none()),
                 aa.InputArtifact(name="second", path=tmp_path / "b", record=failed)],
                context=CTX)


async def test_port_call_raises_when_the_loop_side_is_cancelled() -> None:
    """A thread waiting on the loop through a LoopPort is woken when the caller is
    cancelled, and the cancellation (not a hang) ends the call."""
    entered = threading.Event()
    outcome: list[BaseException] = []

    def work(port: LoopPort) -> None:
        entered.set()
        try:
            port.call(anyio.sleep_forever)
        except PortClosedError as exc:
            outcome.append(exc)
            raise

    with anyio.fail_after(5), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_in_thread, work)
            await anyio.to_thread.run_sync(entered.wait)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    assert scope.cancelled_caught
    assert len(outcome) == 1
