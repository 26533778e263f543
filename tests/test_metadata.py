"""Object metadata written by a save is read back where it is useful: the mode of a
key-only input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import artifacts_async as aa

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("driver", ["local", "memory"])
@pytest.mark.parametrize("verify", [True, False])
async def test_key_only_input_gets_the_saved_mode(tmp_path: Path, memory_store_name: str,
                                                  driver: str, verify: bool) -> None:
    """A key-only input gets the mode saved with the object; its own mode still wins."""
    settings = {"root": str(tmp_path / "repo")} if driver == "local" else \
        {"name": memory_store_name}
    config = aa.RepositoryConfig.from_dict(
        {"default": "r", "repositories": {"r": {"driver": driver, **settings}}})
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(1000))
    context = aa.Context(workflow_name="wf", pod_name="p")
    async with aa.Artifacts(config) as arts:
        await arts.save_outputs([aa.OutputArtifact(name="model", path=source, key="m.bin",
                                                   archive=aa.Archive.none(), mode=0o640)],
                                context=context)
        await arts.load_inputs([
            aa.InputArtifact(name="a", path=tmp_path / "a.bin", key="m.bin", verify=verify),
            aa.InputArtifact(name="b", path=tmp_path / "b.bin", key="m.bin", verify=verify,
                             mode=0o600),
        ], context=context)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o600
    assert (tmp_path / "a.bin").read_bytes() == source.read_bytes()
