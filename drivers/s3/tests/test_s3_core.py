"""The S3 driver under the core: saves, loads, verification and resume, end to end."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import anyio
import pytest
from artifacts_async_s3 import S3Driver
from s3_support import s3_config

import artifacts_async as aa
from artifacts_async.abc import (
    DeleteOutcome,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")



def _random_file(path: Path, size: int, seed: int = 0) -> bytes:
    content = random.Random(seed).randbytes(size)
    path.write_bytes(content)
    return content


async def test_entry_point_resolves() -> None:
    """`s3` is discovered through the entry points and loads S3Driver."""
    assert "s3" in aa.available_drivers()
    loaded: object = aa.load_driver("s3")
    assert loaded is S3Driver


async def test_save_and_load_multipart_file_and_directory(
    moto_endpoint: str, bucket: str, tmp_path: Path, boto: Any
) -> None:
    """A 12 MiB file goes up in 3 verified parts and a directory as a tarball; both load back."""
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    content = _random_file(src / "model.bin", 12 * MiB)
    (src / "tree" / "a.txt").write_text("alpha")
    (src / "tree" / "sub" / "b.txt").write_text("beta")
    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=5 * MiB, state_dir=tmp_path / "state")
    async with aa.Artifacts(s3_config(moto_endpoint, bucket), options=options) as artifacts:
        result = await artifacts.save_outputs(
            [
                aa.OutputArtifact(name="model", path=src / "model.bin", archive=aa.Archive.none()),
                aa.OutputArtifact(name="tree", path=src / "tree"),
            ],
            context=CONTEXT,
            on_progress=events.append,
        )
        result.raise_for_errors()
        model, tree = result.records
        assert model.status is aa.ArtifactStatus.STORED
        parts = [e.part or 0 for e in events
                 if e.name == "upload.part.complete" and e.artifact == "model"]
        assert sorted(parts) == [1, 2, 3]
        head = boto.head_object(Bucket=bucket, Key=model.location.key)
        assert head["ETag"].strip('"').endswith("-3")
        assert head["ContentLength"] == 12 * MiB

        dest = tmp_path / "dest"
        await artifacts.load_inputs(
            [aa.InputArtifact(name="model", path=dest / "model.bin", record=model),
             aa.InputArtifact(name="tree", path=dest / "tree", record=tree)],
            context=CONTEXT,
        )
    assert (dest / "model.bin").read_bytes() == content
    assert (dest / "tree" / "a.txt").read_text() == "alpha"
    assert (dest / "tree" / "sub" / "b.txt").read_text() == "beta"


class CorruptingDriver:
    """Delegates to an S3Driver, but damages part 2's bytes after they were checksummed."""

    def __init__(self, inner: S3Driver) -> None:
        self.inner = inner

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        return cls(S3Driver.from_settings(settings))

    @property
    def limits(self) -> DriverLimits:
        return self.inner.limits

    def describe(self, key: str) -> str:
        return self.inner.describe(key)

    async def put(
        self, key: str, data: bytes | bytearray, *, checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        return await self.inner.put(key, data, checksums=checksums, metadata=metadata)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        return await self.inner.start_upload(key, metadata=metadata)

    async def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes | bytearray, *, offset: int,
        checksums: PartChecksums,
    ) -> UploadedPart:
        if number == 2:
            data = bytearray(data)  # a copy: the engine's buffer stays intact
            data[1000] ^= 0xFF
        return await self.inner.upload_part(
            key, upload_id, number, data, offset=offset, checksums=checksums
        )

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        return await self.inner.list_parts(key, upload_id)

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        return await self.inner.complete_upload(key, upload_id, parts)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        await self.inner.abort_upload(key, upload_id)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        return await self.inner.list_uploads(prefix)

    async def stat(self, key: str) -> ObjectInfo:
        return await self.inner.stat(key)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        async for chunk in self.inner.read(key, offset=offset, length=length):
            yield chunk

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        return await self.inner.delete(keys)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        async for info in self.inner.list(prefix):
            yield info

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(
    "case", [({"content_md5": True}, "ETag"), ({}, "CRC32C")], ids=["md5-etag", "crc32c-only"]
)
async def test_engine_catches_a_part_damaged_after_checksumming(
    bucket: str, settings: dict[str, Any], tmp_path: Path, boto: Any,
    case: tuple[dict[str, Any], str],
) -> None:
    """moto verifies no part checksum, so the engine's check after completion catches it:
    the multipart ETag with Content-MD5, the full-object CRC32C by default."""
    overrides, caught_by = case
    _random_file(tmp_path / "model.bin", 12 * MiB, seed=3)
    corrupting = CorruptingDriver.from_settings({**settings, **overrides})
    options = aa.TransferOptions(part_size=5 * MiB, state_dir=tmp_path / "state")
    try:
        async with aa.Artifacts(
            s3_config(settings["endpoint"], bucket), options=options, drivers={"s3": corrupting}
        ) as artifacts:
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="model", path=tmp_path / "model.bin",
                                   archive=aa.Archive.none())],
                context=CONTEXT,
            )
    finally:
        await corrupting.aclose()
    error = result.errors["model"]
    assert isinstance(error, aa.IntegrityError)
    assert caught_by in str(error)
    assert result.records[0].status is aa.ArtifactStatus.FAILED
    # Invariant: nothing that failed verification stays under its key.
    listed = boto.list_objects_v2(Bucket=bucket)
    assert listed.get("KeyCount", 0) == 0


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
        if completed == 2:
            os.kill(os.getpid(), signal.SIGKILL)

async def main():
    config = aa.RepositoryConfig.from_dict(args["config"])
    options = aa.TransferOptions(part_size=5 * 1024 * 1024, max_parts_in_flight=1,
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
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """A process SIGKILLed after 2 of 4 parts is resumed by the next one: 2 parts are sent."""
    source = tmp_path / "big.bin"
    content = _random_file(source, 20 * MiB, seed=7)
    state = tmp_path / "state"
    script = tmp_path / "killed_upload.py"
    script.write_text(textwrap.dedent(_KILLED_UPLOAD))
    raw_config = {
        "default": "s3",
        "repositories": {"s3": {
            "driver": "s3", "bucket": bucket, "endpoint": moto_endpoint, "region": "us-east-1",
            "credentials": {"access_key_env": "TEST_S3_ACCESS_KEY",
                            "secret_key_env": "TEST_S3_SECRET_KEY"},
        }},
    }
    args = json.dumps({"config": raw_config, "state": str(state), "path": str(source)})
    with anyio.fail_after(90):
        proc = await anyio.run_process([sys.executable, str(script), args], check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr).decode()

    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=5 * MiB, state_dir=state)
    config = aa.RepositoryConfig.from_dict(raw_config)
    async with aa.Artifacts(config, options=options) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=source, key="resume/big.bin",
                               archive=aa.Archive.none())],
            context=CONTEXT,
            on_progress=events.append,
        )
        result.raise_for_errors()
        sent = sorted(e.part or 0 for e in events if e.name == "upload.part.complete")
        assert sent == [3, 4]  # parts 1 and 2 were confirmed before the kill
        downloaded = b"".join([c async for c in artifacts.open_stream(result.records[0])])
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(content).digest()
