"""Saves and loads through a TCP fault proxy (resets, early closes, stalls either way):
every run ends within a bound, with the bytes intact or with one typed error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from aiohttp.abc import AbstractStreamWriter
from artifacts_async_gcs import GCSDriver
from artifacts_async_gcs._body import RelatedBody
from gcs_support import Server

import artifacts_async as aa
from artifacts_async.abc import PartChecksums
from artifacts_async.testing import FaultProxy, Faults

pytestmark = pytest.mark.anyio

KiB = 1024
MiB = 1024 * KiB
CONTEXT = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


def _config(settings: dict[str, Any], endpoint: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict({"repositories": {"gcs": {
        "driver": "gcs", **settings, "endpoint": endpoint, "connect_timeout": 1,
        # Downloads have no per-attempt deadline in the core: a stalled answer is given up
        # after 1 s without a byte.
        "read_timeout": 1}}})


def _options(tmp_path: Path, **kw: Any) -> aa.TransferOptions:
    # Every attempt gets 1 s plus its size at 20 MiB/s: a stalled one is cut and retried.
    base: dict[str, Any] = {"part_size": 256 * KiB, "single_put_threshold": 256 * KiB,
                            "request_timeout": 1.0, "min_throughput": 20 * MiB,
                            "retry_attempts": 4, "state_dir": tmp_path / "state"}
    return aa.TransferOptions(**{**base, **kw})


@pytest.mark.parametrize("size", [100 * KiB, 3 * MiB], ids=["put", "parts"])
async def test_a_stalled_request_body_is_cut_and_retried(
    settings: dict[str, Any], bucket: str, server: Server, tmp_path: Path, size: int
) -> None:
    """A connection that stops forwarding mid-request-body does not hang the upload: the
    attempt misses its deadline, is retried on a new connection and the object is stored."""
    content = os.urandom(size)
    (tmp_path / "f").write_bytes(content)
    faults = Faults(stall=1.0, direction="request", after_bytes=(20_000, 20_000), max_faults=1)
    async with FaultProxy(settings["endpoint"], faults=faults) as proxy:
        with anyio.fail_after(30):
            async with aa.Artifacts(_config(settings, proxy.endpoint),
                                    options=_options(tmp_path)) as arts:
                result = await arts.save_outputs(
                    [aa.OutputArtifact(name="f", path=tmp_path / "f", key="stalled/f",
                                       archive=aa.Archive.none())], context=CONTEXT)
        assert proxy.fired["stall"] == 1, proxy.planned
    assert result.ok, result.errors
    assert int(server.resource(bucket, "stalled/f")["size"]) == size
    assert server.names(bucket) == ["stalled/f"]


async def test_saves_and_loads_through_faults(
    settings: dict[str, Any], gcs_endpoint: str, tmp_path: Path
) -> None:
    """Six seeded rounds of a 12-part save and its load through resets, stalls (either
    way) and early closes: each ends in time, byte-identical or failed with an
    ArtifactError (never another exception, never a hang)."""
    content = os.urandom(12 * 256 * KiB - 5)
    (tmp_path / "model.bin").write_bytes(content)
    faults = Faults(reset=0.1, stall=0.1, close=0.1, after_bytes=(0, 300 * KiB))
    outcomes: list[str] = []
    fired = 0
    for seed in range(6):
        target = tmp_path / f"back-{seed}.bin"
        async with FaultProxy(gcs_endpoint, seed=seed, faults=faults) as proxy:
            with anyio.fail_after(60):
                async with aa.Artifacts(_config(settings, proxy.endpoint),
                                        options=_options(tmp_path)) as artifacts:
                    saved = await artifacts.save_outputs(
                        [aa.OutputArtifact(name="m", path=tmp_path / "model.bin",
                                           key=f"faults/{seed}.bin", archive=aa.Archive.none())],
                        context=CONTEXT,
                    )
                    if saved.errors:
                        assert isinstance(saved.errors["m"], aa.ArtifactError)
                        outcomes.append("save failed")
                    else:
                        try:
                            await artifacts.load_inputs(
                                [aa.InputArtifact(name="m", path=target,
                                                  record=saved.records[0])],
                                context=CONTEXT,
                            )
                            outcomes.append("ok")
                        except aa.ArtifactError:
                            outcomes.append("load failed")
            fired += sum(proxy.fired.values())
        if outcomes[-1] == "ok":
            assert target.read_bytes() == content
    assert fired >= 3  # the faults did happen
    assert "ok" in outcomes


async def test_part_cancelled_after_it_was_sent_is_answered_before_the_abort(
    driver: GCSDriver, server: Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part upload cancelled once its body was sent (the engine cancelling the other
    parts after one failed) returns only after GCS answered: the part is stored by then,
    so the abort that follows deletes it instead of it landing after the abort's listing."""
    upload_id = await driver.start_upload("c/model.bin", metadata={})
    sending = RelatedBody.write

    async def write_then_cancel(body: RelatedBody, writer: AbstractStreamWriter) -> None:
        await sending(body, writer)
        scope.cancel()

    monkeypatch.setattr(RelatedBody, "write", write_then_cancel)
    with anyio.CancelScope() as scope:
        await driver.upload_part("c/model.bin", upload_id, 1, os.urandom(8 * MiB), offset=0,
                                 checksums=PartChecksums())
        await anyio.lowlevel.checkpoint()  # the cancellation is delivered here at the latest
    monkeypatch.undo()
    assert scope.cancelled_caught
    assert [p.number for p in await driver.list_parts("c/model.bin", upload_id)] == [1]
    await driver.abort_upload("c/model.bin", upload_id)
    assert server.names(bucket) == []
