"""The Azure driver under the core: saves, loads, a damaged block, resume after SIGKILL."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from artifacts_async_azure import AzureDriver
from azure.storage.blob import ContainerClient
from azure_support import KEY_ENV, MiB

import artifacts_async as aa
from artifacts_async.abc import PartChecksums, UploadedPart

pytestmark = pytest.mark.anyio

CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")


def _raw_config(endpoint: str, container: str) -> dict[str, Any]:
    return {
        "default": "azure",
        "repositories": {"azure": {
            "driver": "azure", "endpoint": endpoint, "container": container,
            "credentials": {"account_key_env": KEY_ENV},
        }},
    }


def _random_file(path: Path, size: int, seed: int = 0) -> bytes:
    content = random.Random(seed).randbytes(size)
    path.write_bytes(content)
    return content


async def test_entry_point_resolves() -> None:
    """`azure` is discovered through the entry points and loads AzureDriver."""
    assert "azure" in aa.available_drivers()
    loaded: object = aa.load_driver("azure")
    assert loaded is AzureDriver


async def test_save_and_load_blocks_and_directory(
    azurite: str, container: str, tmp_path: Path, blobs: ContainerClient
) -> None:
    """A file as verified blocks and a directory as a tarball save; both and a key-only load."""
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    content = _random_file(src / "model.bin", 10 * MiB)
    (src / "tree" / "a.txt").write_text("alpha")
    (src / "tree" / "sub" / "b.txt").write_text("beta")
    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=4 * MiB, state_dir=tmp_path / "state")
    config = aa.RepositoryConfig.from_dict(_raw_config(azurite, container))
    async with aa.Artifacts(config, options=options) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="model", path=src / "model.bin", archive=aa.Archive.none()),
             aa.OutputArtifact(name="tree", path=src / "tree")],
            context=CONTEXT, on_progress=events.append,
        )
        result.raise_for_errors()
        model, tree = result.records
        parts = [e.part for e in events
                 if e.name == "upload.part.complete" and e.artifact == "model"]
        assert sorted(p or 0 for p in parts) == [1, 2, 3]
        committed, _ = blobs.get_blob_client(model.location.key).get_block_list("committed")
        assert [b.size for b in committed] == [4 * MiB, 4 * MiB, 2 * MiB]
        stored = blobs.get_blob_client(model.location.key).get_blob_properties().metadata
        assert model.checksum == f"crc32c:{stored['artifacts_async_crc32c']}"
        dest = tmp_path / "dest"
        await artifacts.load_inputs(
            [aa.InputArtifact(name="model", path=dest / "model.bin", record=model),
             aa.InputArtifact(name="tree", path=dest / "tree", record=tree),
             aa.InputArtifact(name="keyonly", path=dest / "keyonly.bin",
                              key=model.location.key, archive=aa.Archive.none())],
            context=CONTEXT,
        )
    assert (dest / "model.bin").read_bytes() == content
    assert (dest / "keyonly.bin").read_bytes() == content
    assert (dest / "tree" / "a.txt").read_text() == "alpha"
    assert (dest / "tree" / "sub" / "b.txt").read_text() == "beta"


class CorruptingDriver:
    """An AzureDriver whose first attempt at part 2 sends bytes that do not match the MD5
    the engine computed (damage on the way); later attempts send the right bytes."""

    def __init__(self, inner: AzureDriver) -> None:
        self.inner = inner
        self.rejected: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes | bytearray, *, offset: int,
        checksums: PartChecksums,
    ) -> UploadedPart:
        if number == 2 and not self.rejected:
            damaged = bytearray(data)  # a copy: the engine's buffer stays intact
            damaged[1000] ^= 0xFF
            try:
                return await self.inner.upload_part(key, upload_id, number, damaged,
                                                    offset=offset, checksums=checksums)
            except aa.IntegrityError:
                self.rejected.append(number)
                raise
        return await self.inner.upload_part(key, upload_id, number, data, offset=offset,
                                            checksums=checksums)


async def test_a_damaged_block_is_rejected_by_the_service_and_resent(
    settings: Mapping[str, Any], azurite: str, container: str, tmp_path: Path
) -> None:
    """Azurite refuses a damaged block (MD5); the engine resends it; the object is intact."""
    content = _random_file(tmp_path / "model.bin", 10 * MiB, seed=3)
    corrupting = CorruptingDriver(AzureDriver.from_settings(settings))
    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=4 * MiB)
    config = aa.RepositoryConfig.from_dict(_raw_config(azurite, container))
    try:
        async with aa.Artifacts(config, options=options,
                                drivers={"azure": corrupting}) as artifacts:  # type: ignore[dict-item]
            result = await artifacts.save_outputs(
                [aa.OutputArtifact(name="model", path=tmp_path / "model.bin",
                                   archive=aa.Archive.none())],
                context=CONTEXT, on_progress=events.append,
            )
            result.raise_for_errors()
            loaded = b"".join([c async for c in artifacts.open_stream(result.records[0])])
    finally:
        await corrupting.inner.aclose()
    assert corrupting.rejected == [2]
    assert [(e.part, e.attempt) for e in events if e.name == "upload.retry"] == [(2, 2)]
    assert loaded == content


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
    options = aa.TransferOptions(part_size=args["part_size"], max_parts_in_flight=1,
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


@pytest.mark.slow
async def test_resume_after_the_process_was_killed(
    azurite: str, container: str, tmp_path: Path, blobs: ContainerClient
) -> None:
    """A 200 MiB save SIGKILLed after 6 of 13 blocks resumes sending exactly the 7 missing."""
    part_size, kill_after = 16 * MiB, 6
    source = tmp_path / "big.bin"
    content = _random_file(source, 200 * MiB, seed=7)
    parts = -(-len(content) // part_size)
    state = tmp_path / "state"
    script = tmp_path / "killed_upload.py"
    script.write_text(textwrap.dedent(_KILLED_UPLOAD))
    raw_config = _raw_config(azurite, container)
    args = json.dumps({"config": raw_config, "state": str(state), "path": str(source),
                       "part_size": part_size, "kill_after": kill_after})
    with anyio.fail_after(90):
        proc = await anyio.run_process([sys.executable, str(script), args], check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr).decode()
    _, staged = blobs.get_blob_client("resume/big.bin").get_block_list("uncommitted")
    assert len(staged) == kill_after

    events: list[aa.ProgressEvent] = []
    options = aa.TransferOptions(part_size=part_size, state_dir=state)
    config = aa.RepositoryConfig.from_dict(raw_config)
    async with aa.Artifacts(config, options=options) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=source, key="resume/big.bin",
                               archive=aa.Archive.none())],
            context=CONTEXT, on_progress=events.append,
        )
        result.raise_for_errors()
        sent = sorted(e.part or 0 for e in events if e.name == "upload.part.complete")
        assert sent == list(range(kill_after + 1, parts + 1))
        digest = hashlib.sha256()
        async for chunk in artifacts.open_stream(result.records[0]):
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(content).digest()
    committed, uncommitted = blobs.get_blob_client("resume/big.bin").get_block_list("all")
    assert (len(committed), uncommitted) == (parts, [])
