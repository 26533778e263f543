"""Resume: a killed or failed upload continues, sending only the missing parts."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import WrappedDriver, killable_save_script

import artifacts_async as aa
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


def _options(state: Path) -> aa.TransferOptions:
    return aa.TransferOptions(part_size=MiB, single_put_threshold=MiB, max_parts_in_flight=2,
                              max_buffer_bytes=4 * MiB, state_dir=state)


async def _save(config: aa.RepositoryConfig, driver: WrappedDriver, state: Path,
                output: aa.OutputArtifact) -> aa.SaveResult:
    async with aa.Artifacts(config, options=_options(state), drivers={"m": driver}) as arts:
        return await arts.save_outputs([output], context=CTX)


@pytest.mark.parametrize("archive", [aa.Archive.none(), aa.Archive.tar(compression_level=1)])
async def test_failed_upload_resumes_with_missing_parts_only(
    tmp_path: Path, memory_store_name: str, archive: aa.Archive
) -> None:
    """After a failure mid-upload, a second run sends only the parts the backend lacks."""
    source = tmp_path / "src"
    if archive.kind is aa.ArchiveKind.NONE:
        source.write_bytes(os.urandom(6 * MiB))
    else:
        source.mkdir()
        for i in range(6):
            (source / f"f{i}").write_bytes(os.urandom(MiB))

    async def fail_part_4(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 4:
            raise aa.PermissionDeniedError("denied for now")

    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    first = WrappedDriver(MemoryDriver(name=memory_store_name), fail_part_4)
    output = aa.OutputArtifact(name="a", path=source, archive=archive)
    result = await _save(config, first, tmp_path / "state", output)
    assert not result.ok
    sent_first = {c[2] for c in first.calls if c[0] == "upload_part"}
    held = MemoryDriver.get_store(memory_store_name).uploads
    assert len(held) == 1  # kept for resume
    held_parts = set(next(iter(held.values())).parts)
    assert held_parts
    assert 4 not in held_parts

    second = WrappedDriver(MemoryDriver(name=memory_store_name))
    result = await _save(config, second, tmp_path / "state", output)
    assert result.ok, result.errors
    sent_second = {c[2] for c in second.calls if c[0] == "upload_part"}
    assert sent_second.isdisjoint(held_parts)
    assert 4 in sent_second
    assert ("start_upload", result.records[0].location.key, None) not in second.calls
    assert sent_first  # the first run did send parts
    # The result equals a fresh upload of the same source.
    key = result.records[0].location.key
    resumed = MemoryDriver.get_store(memory_store_name).objects[key][0]
    fresh_store = f"{memory_store_name}-fresh"
    MemoryDriver.get_store(fresh_store).clear()
    fresh_config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": fresh_store}}})
    fresh = await _save(fresh_config, WrappedDriver(MemoryDriver(name=fresh_store)),
                        tmp_path / "state2", output)
    assert MemoryDriver.get_store(fresh_store).objects[key][0] == resumed
    assert fresh.records[0].checksum == result.records[0].checksum
    MemoryDriver.get_store(fresh_store).clear()


async def test_changed_source_starts_fresh(tmp_path: Path, memory_store_name: str) -> None:
    """If the source changed since the journaled upload, it is aborted and redone."""

    async def fail_part_3(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 3:
            raise aa.PermissionDeniedError("denied")

    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    source = tmp_path / "f"
    source.write_bytes(os.urandom(5 * MiB))
    output = aa.OutputArtifact(name="a", path=source, archive=aa.Archive.none())
    await _save(config, WrappedDriver(MemoryDriver(name=memory_store_name), fail_part_3),
                tmp_path / "state", output)
    (old_id,) = MemoryDriver.get_store(memory_store_name).uploads
    new_data = os.urandom(5 * MiB)
    source.write_bytes(new_data)
    second = WrappedDriver(MemoryDriver(name=memory_store_name))
    result = await _save(config, second, tmp_path / "state", output)
    assert result.ok
    assert ("abort_upload", "wf/p/f", None) in second.calls
    assert sorted(c[2] or 0 for c in second.calls if c[0] == "upload_part") == [1, 2, 3, 4, 5]
    store = MemoryDriver.get_store(memory_store_name)
    assert old_id not in store.uploads
    assert store.objects["wf/p/f"][0] == new_data


CHILD = killable_save_script(
    event="upload.part.complete", line="part {event.part}", name="big",
    options="part_size=8 * 1024 * 1024, max_parts_in_flight=4, "
            "max_buffer_bytes=64 * 1024 * 1024, state_dir=state")


def test_sigkill_mid_upload_then_resume(tmp_path: Path) -> None:
    """A process SIGKILLed mid-upload of 256 MiB is resumed by the next one: byte-identical,
    re-sending no more than the parts the first run had not confirmed."""
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(32):
            f.write(os.urandom(8 * MiB))  # 256 MiB, 32 parts
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root, state = tmp_path / "store", tmp_path / "state"
    args = [sys.executable, str(script), str(root), str(state), str(source)]
    first = subprocess.run([*args, "10"], capture_output=True, text=True, timeout=120,
                           check=False)
    assert first.returncode == -signal.SIGKILL, first.stderr
    confirmed_first = {int(line.split()[1]) for line in first.stdout.splitlines()
                       if line.startswith("part ")}
    assert len(confirmed_first) == 10
    assert not (root / "wf/p/big.bin").exists()  # nothing under the final key
    pending = list((root / ".artifacts-async" / "uploads").iterdir())
    assert len(pending) == 1

    second = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert second.returncode == 0, second.stderr
    sent_second = {int(line.split()[1]) for line in second.stdout.splitlines()
                   if line.startswith("part ")}
    # Only the parts the first run had not confirmed are sent (minus those in flight
    # at the kill that landed anyway).
    assert sent_second.isdisjoint(confirmed_first)
    assert len(sent_second) <= 32 - len(confirmed_first)
    assert len(sent_second) >= 32 - len(confirmed_first) - 4
    stored = root / "wf/p/big.bin"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == \
        hashlib.sha256(source.read_bytes()).hexdigest()
    assert not list((root / ".artifacts-async" / "uploads").iterdir())
    # The journal entry is gone once the object is confirmed.
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(state / "uploads.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM uploads").fetchone() == (0,)
    assert json.dumps(sorted(sent_second))  # printable for the failure message


async def test_local_driver_parts_land_at_offsets(tmp_path: Path) -> None:
    """The local driver writes parts at their offsets and renames only when complete."""
    driver = LocalDriver(tmp_path)
    upload = await driver.start_upload("k/obj", metadata={})
    from artifacts_async._checksums import part_checksums  # noqa: PLC0415

    chunks = [b"a" * 10, b"b" * 10, b"c" * 3]
    for number in (3, 1, 2):
        data = chunks[number - 1]
        checks, _ = part_checksums(data, driver.limits.checksums)
        await driver.upload_part("k/obj", upload, number, data, offset=(number - 1) * 10,
                                 checksums=checks)
        assert not (tmp_path / "k/obj").exists()
    parts = await driver.list_parts("k/obj", upload)
    info = await driver.complete_upload("k/obj", upload, parts)
    assert (tmp_path / "k/obj").read_bytes() == b"".join(chunks)
    assert info.size == 23
