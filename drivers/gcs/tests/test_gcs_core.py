"""The GCS driver under the core: composite uploads, verification, resume, end to end."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import anyio
import crc32c
import pytest
from artifacts_async_gcs import GCSDriver
from gcs_support import Server, upload

import artifacts_async as aa
from artifacts_async.abc import Driver, ObjectInfo, PartChecksums, UploadedPart

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")
TEMPORARIES = ".artifacts-async/"


def _config(settings: Mapping[str, Any]) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict({
        "default": "gcs", "repositories": {"gcs": {"driver": "gcs", **settings}},
    })


def _file(path: Path, size: int) -> bytes:
    content = os.urandom(size)
    path.write_bytes(content)
    return content


def _crc_b64(data: bytes) -> str:
    import base64  # noqa: PLC0415 - only here

    return base64.b64encode(int(crc32c.crc32c(data)).to_bytes(4, "big")).decode()


async def test_entry_point_resolves() -> None:
    """`gcs` is discovered through the entry points and loads GCSDriver."""
    assert "gcs" in aa.available_drivers()
    loaded: object = aa.load_driver("gcs")
    assert loaded is GCSDriver


@pytest.mark.parametrize("parts", [4, 70], ids=["one-compose", "compose-tree"])
async def test_composite_upload_round_trip(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path, parts: int
) -> None:
    """A file goes up in parts composed into one object (70 parts: a tree of composes, as
    GCS composes at most 32 sources per request) whose CRC32C is the file's; temporaries
    are gone and the object loads back."""
    part_size = 256 * 1024
    content = _file(tmp_path / "model.bin", part_size * (parts - 1) + 1000)
    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=part_size, single_put_threshold=part_size,
                                 state_dir=tmp_path / "state")
    async with aa.Artifacts(_config(settings), options=options) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="model", path=tmp_path / "model.bin",
                               archive=aa.Archive.none())],
            context=CONTEXT, on_progress=events.append,
        )
        result.raise_for_errors()
        (record,) = result.records
        sent = sorted(e.part or 0 for e in events if e.name == "upload.part.complete")
        assert sent == list(range(1, parts + 1))
        resource = server.resource(bucket, record.location.key)
        assert resource["crc32c"] == _crc_b64(content)
        assert int(resource["size"]) == len(content)
        assert server.names(bucket, TEMPORARIES) == []
        assert [i.key async for i in (await artifacts.driver("gcs")).list("")] == \
            [record.location.key]
        await artifacts.load_inputs(
            [aa.InputArtifact(name="model", path=tmp_path / "back.bin", record=record)],
            context=CONTEXT,
        )
    assert (tmp_path / "back.bin").read_bytes() == content


async def test_metadata_round_trips(driver: GCSDriver) -> None:
    """Metadata given to put and start_upload is what stat returns (non-ASCII included)."""
    metadata = {"artifact": "modèle", "workflow": "wf-1"}
    data = b"x" * 1000
    await driver.put("m/small", data, checksums=PartChecksums(), metadata=metadata)
    assert (await driver.stat("m/small")).metadata == metadata
    upload_id = await driver.start_upload("m/large", metadata=metadata)
    part = await driver.upload_part("m/large", upload_id, 1, data, offset=0,
                                    checksums=PartChecksums())
    info = await driver.complete_upload("m/large", upload_id, [part])
    assert info.metadata == metadata
    assert (await driver.stat("m/large")).metadata == metadata


class Tampering:
    """Delegates to a GCSDriver, damaging bytes after the engine checksummed them:
    `parts` (part number → how many times to damage it), every `put` when `puts`, or
    the stored part 1 just before completion when `before_complete`."""

    def __init__(self, inner: GCSDriver, server: Server, *, parts: Mapping[int, int] | None = None,
                 puts: bool = False, before_complete: bool = False) -> None:
        self.inner = inner
        self.server = server
        self.parts = Counter(parts or {})
        self.puts = puts
        self.before_complete = before_complete
        self.calls: Counter[int] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @staticmethod
    def _damaged(data: bytes | bytearray) -> bytearray:
        copy = bytearray(data)  # the engine's buffer stays intact
        copy[len(copy) // 2] ^= 0xFF
        return copy

    async def put(self, key: str, data: bytes | bytearray, *, checksums: PartChecksums,
                  metadata: Mapping[str, str]) -> ObjectInfo:
        if self.puts:
            data = self._damaged(data)
        return await self.inner.put(key, data, checksums=checksums, metadata=metadata)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray,
                          *, offset: int, checksums: PartChecksums) -> UploadedPart:
        self.calls[number] += 1
        if self.parts[number] > 0:
            self.parts[number] -= 1
            data = self._damaged(data)
        return await self.inner.upload_part(key, upload_id, number, data, offset=offset,
                                            checksums=checksums)

    async def complete_upload(self, key: str, upload_id: str,
                              parts: Sequence[UploadedPart]) -> ObjectInfo:
        if self.before_complete:
            # A part changes on the server after GCS confirmed it (another writer, a bug).
            name = self.inner._layout.part(key, upload_id, 1)
            size = parts[0].size
            upload(self.server.endpoint, self.inner.settings.bucket, name, b"\0" * size)
        return await self.inner.complete_upload(key, upload_id, parts)


async def _save(settings: Mapping[str, Any], tampering: Tampering, source: Path,
                state: Path) -> aa.SaveResult:
    options = aa.TransferOptions(part_size=256 * 1024, single_put_threshold=256 * 1024,
                                 state_dir=state)
    async with aa.Artifacts(_config(settings), options=options,
                            drivers={"gcs": cast(Driver, tampering)}) as artifacts:
        return await artifacts.save_outputs(
            [aa.OutputArtifact(name="model", path=source, key="t/model.bin",
                               archive=aa.Archive.none())],
            context=CONTEXT,
        )


async def test_damaged_part_is_caught_and_sent_again(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path
) -> None:
    """fake-gcs-server stores a part whatever CRC32C is declared: the driver's check of the
    CRC32C it reports catches a damaged part, and the engine sends it again from its
    buffer."""
    content = _file(tmp_path / "model.bin", 3 * 256 * 1024)
    driver = GCSDriver.from_settings(settings)
    tampering = Tampering(driver, server, parts={2: 1})
    try:
        result = await _save(settings, tampering, tmp_path / "model.bin", tmp_path / "state")
    finally:
        await driver.aclose()
    result.raise_for_errors()
    assert tampering.calls == Counter({1: 1, 2: 2, 3: 1})
    assert server.resource(bucket, "t/model.bin")["crc32c"] == _crc_b64(content)
    assert server.names(bucket, TEMPORARIES) == []


async def test_part_damaged_every_time_fails_and_leaves_nothing(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path
) -> None:
    """A part damaged on every attempt fails the save with IntegrityError; the upload is
    aborted: no object, no temporaries."""
    _file(tmp_path / "model.bin", 3 * 256 * 1024)
    driver = GCSDriver.from_settings(settings)
    tampering = Tampering(driver, server, parts={2: 100})
    try:
        result = await _save(settings, tampering, tmp_path / "model.bin", tmp_path / "state")
    finally:
        await driver.aclose()
    error = result.errors["model"]
    assert isinstance(error, aa.IntegrityError)
    assert "part 2" in str(error)
    assert server.names(bucket) == []


async def test_damaged_small_object_is_not_left_under_its_key(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path
) -> None:
    """A small object stored damaged is deleted and reported as an IntegrityError."""
    _file(tmp_path / "model.bin", 1000)
    driver = GCSDriver.from_settings(settings)
    try:
        result = await _save(settings, Tampering(driver, server, puts=True),
                             tmp_path / "model.bin", tmp_path / "state")
    finally:
        await driver.aclose()
    assert isinstance(result.errors["model"], aa.IntegrityError)
    assert server.names(bucket) == []


async def test_composite_crc32c_is_checked(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path
) -> None:
    """A part that changed on the server before compose gives a composite whose CRC32C is
    not the engine's: the save fails and the composed object is deleted."""
    _file(tmp_path / "model.bin", 3 * 256 * 1024)
    driver = GCSDriver.from_settings(settings)
    try:
        result = await _save(settings, Tampering(driver, server, before_complete=True),
                             tmp_path / "model.bin", tmp_path / "state")
    finally:
        await driver.aclose()
    error = result.errors["model"]
    assert isinstance(error, aa.IntegrityError)
    assert "CRC32C" in str(error)
    assert server.names(bucket) == []


async def test_abort_and_orphan_sweep_delete_temporaries(
    driver: GCSDriver, bucket: str, server: Server
) -> None:
    """abort_upload deletes an upload's temporaries; the orphan sweep deletes those of
    uploads older than its age and leaves younger ones."""
    data = os.urandom(300 * 1024)
    aborted = await driver.start_upload("s/aborted", metadata={})
    await driver.upload_part("s/aborted", aborted, 1, data, offset=0, checksums=PartChecksums())
    await driver.abort_upload("s/aborted", aborted)
    assert server.names(bucket, TEMPORARIES) == []

    orphan = await driver.start_upload("s/orphan", metadata={})
    for number in (1, 2):
        await driver.upload_part("s/orphan", orphan, number, data, offset=0,
                                 checksums=PartChecksums())
    assert len(server.names(bucket, TEMPORARIES)) == 3  # the marker and two parts
    from datetime import timedelta  # noqa: PLC0415 - only here

    kept = await aa.sweep_orphans(driver, older_than=timedelta(hours=1))
    assert kept == []
    swept = await aa.sweep_orphans(driver, prefix="s/", older_than=timedelta(0))
    assert [(u.key, u.upload_id) for u in swept] == [("s/orphan", orphan)]
    assert server.names(bucket, TEMPORARIES) == []


async def test_gc_of_250_keys_in_batches(
    settings: dict[str, Any], bucket: str, server: Server
) -> None:
    """250 stored artifacts are deleted by three batch requests (100 calls each at most)."""
    config = _config(settings)
    ctx = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p",
                     artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)
    specs = [aa.OutputArtifact(name=f"a{i}", path="x", key=f"gc/{i:04d}") for i in range(250)]
    planned = aa.plan_outputs(specs, context=ctx, config=config)
    driver = GCSDriver.from_settings(settings)
    batches: list[int] = []
    original = driver._delete_names

    async def counting(names: Sequence[str]) -> Any:
        batches.append(len(names))
        return await original(names)

    driver._delete_names = counting  # type: ignore[method-assign]
    try:
        limiter = anyio.CapacityLimiter(32)

        async def put(key: str) -> None:
            async with limiter:
                await driver.put(key, b"x", checksums=PartChecksums(), metadata={})

        async with anyio.create_task_group() as tg:
            for record in planned:
                tg.start_soon(put, record.location.key)
        import attrs  # noqa: PLC0415 - only here

        stored = [attrs.evolve(r, status=aa.ArtifactStatus.STORED) for r in planned]
        stored[0] = attrs.evolve(stored[0], location=attrs.evolve(stored[0].location,
                                                                  key="gc/never-there"))
        async with aa.Artifacts(config, drivers={"gcs": driver}) as arts:
            report = await arts.collect_garbage(stored, event=aa.GCEvent.WORKFLOW_COMPLETED)
    finally:
        await driver.aclose()
    assert report.ok
    statuses = Counter(o.status for o in report.outcomes)
    assert statuses == {aa.GCStatus.DELETED: 249, aa.GCStatus.ALREADY_ABSENT: 1}
    assert sorted(batches) == [50, 100, 100]
    assert server.names(bucket, "gc/") == ["gc/0000"]


_KILLED_UPLOAD = """
import asyncio, json, os, signal, sys
from pathlib import Path
import artifacts_async as aa

args = json.loads(sys.argv[1])
completed = 0

def on_progress(event):
    global completed
    if event.name == "upload.part.complete":
        completed += 1
        if completed == args["kill_after"]:
            os.kill(os.getpid(), signal.SIGKILL)

async def main():
    config = aa.RepositoryConfig.from_dict(args["config"])
    options = aa.TransferOptions(part_size=args["part_size"], max_parts_in_flight=4,
                                 state_dir=Path(args["state"]))
    async with aa.Artifacts(config, options=options) as artifacts:
        await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=args["path"], key="resume/big.bin",
                               archive=aa.Archive.none())],
            context=aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1"),
            on_progress=on_progress,
        )
    print("not killed")

asyncio.run(main())
"""


async def test_resume_after_the_process_was_killed(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path
) -> None:
    """A 200 MiB save SIGKILLed after 10 of 25 parts is resumed by the next process, which
    sends exactly the parts the server does not hold (at least 10 are held), and composes
    a verified object."""
    part_size = 8 * MiB
    source = tmp_path / "big.bin"
    content = _file(source, 25 * part_size - 12345)
    state = tmp_path / "state"
    script = tmp_path / "killed_upload.py"
    script.write_text(textwrap.dedent(_KILLED_UPLOAD))
    raw_config = {"default": "gcs", "repositories": {"gcs": {"driver": "gcs", **settings}}}
    args = json.dumps({"config": raw_config, "state": str(state), "path": str(source),
                       "part_size": part_size, "kill_after": 10})
    with anyio.fail_after(90):
        proc = await anyio.run_process([sys.executable, str(script), args], check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr).decode()

    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=part_size, state_dir=state)
    driver = GCSDriver.from_settings(settings)
    listed: list[int] = []
    original = driver.list_parts

    async def recording(key: str, upload_id: str) -> Sequence[UploadedPart]:
        parts = await original(key, upload_id)
        listed.extend(p.number for p in parts)
        return parts

    driver.list_parts = recording  # type: ignore[method-assign]
    try:
        async with aa.Artifacts(aa.RepositoryConfig.from_dict(raw_config), options=options,
                                drivers={"gcs": driver}) as artifacts:
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="big", path=source, key="resume/big.bin",
                                   archive=aa.Archive.none())],
                context=CONTEXT, on_progress=events.append,
            )
            result.raise_for_errors()
            # What the server held when the resume listed it (a part whose whole body was sent
            # before the kill may have been stored after it) was not sent again; the rest was.
            assert len(listed) >= 10
            sent = sorted(e.part or 0 for e in events if e.name == "upload.part.complete")
            assert sent == sorted(set(range(1, 26)) - set(listed))
            assert result.records[0].status is aa.ArtifactStatus.STORED
            downloaded = hashlib.sha256()
            async for chunk in artifacts.open_stream(result.records[0]):
                downloaded.update(chunk)
    finally:
        await driver.aclose()
    assert downloaded.digest() == hashlib.sha256(content).digest()
    assert server.resource(bucket, "resume/big.bin")["crc32c"] == _crc_b64(content)
    assert server.names(bucket, TEMPORARIES) == []
