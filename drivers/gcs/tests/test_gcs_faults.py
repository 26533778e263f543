"""Saves and loads through a TCP fault proxy (resets, early closes, stalled answers): every
run ends within a bound, with the bytes intact or with one typed error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

import artifacts_async as aa
from artifacts_async.testing import FaultProxy, Faults

pytestmark = pytest.mark.anyio

KiB = 1024


@pytest.mark.parametrize(
    "faults",
    [Faults(reset=0.15, close=0.15, after_bytes=(0, 300 * KiB)),
     Faults(stall=0.15, direction="response", after_bytes=(0, 64 * KiB))],
    ids=["resets-and-closes", "stalled-answers"],
)
async def test_saves_and_loads_through_faults(
    settings: dict[str, Any], gcs_endpoint: str, tmp_path: Path, faults: Faults
) -> None:
    """Six seeded rounds of a 12-part save and its load: each ends in time, byte-identical
    or failed with an ArtifactError (never another exception, never a hang)."""
    content = os.urandom(12 * 256 * KiB - 5)
    (tmp_path / "model.bin").write_bytes(content)
    outcomes: list[str] = []
    fired = 0
    for seed in range(6):
        async with FaultProxy(gcs_endpoint, seed=seed, faults=faults) as proxy:
            config = aa.RepositoryConfig.from_dict({"repositories": {"gcs": {
                "driver": "gcs", **settings, "endpoint": proxy.endpoint,
                # A stalled answer is given up after 1 s without a byte.
                "read_timeout": 1, "connect_timeout": 1}}})
            options = aa.TransferOptions(part_size=256 * KiB, single_put_threshold=256 * KiB,
                                         retry_attempts=4, state_dir=tmp_path / "state")
            target = tmp_path / f"back-{seed}.bin"
            with anyio.fail_after(60):
                async with aa.Artifacts(config, options=options) as artifacts:
                    saved = await artifacts.save_outputs(
                        [aa.OutputArtifact(name="m", path=tmp_path / "model.bin",
                                           key=f"faults/{seed}.bin", archive=aa.Archive.none())],
                        context=aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p"),
                    )
                    if saved.errors:
                        assert isinstance(saved.errors["m"], aa.ArtifactError)
                        outcomes.append("save failed")
                        fired += sum(proxy.fired.values())
                        continue
                    try:
                        await artifacts.load_inputs(
                            [aa.InputArtifact(name="m", path=target, record=saved.records[0])],
                            context=aa.Context(workflow_name="wf", workflow_uid="u",
                                               pod_name="p"),
                        )
                    except aa.ArtifactError:
                        outcomes.append("load failed")
                        fired += sum(proxy.fired.values())
                        continue
            assert target.read_bytes() == content
            outcomes.append("ok")
        fired += sum(proxy.fired.values())
    assert fired >= 3  # the faults did happen
    assert "ok" in outcomes
