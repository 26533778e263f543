"""Saves and loads through a TCP fault proxy: every run ends in bounded time, with the
bytes intact or one typed error."""

from __future__ import annotations

import gc
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from azure_support import ACCOUNT, KEY_ENV, MiB

import artifacts_async as aa
from artifacts_async.testing import FaultProxy, Faults

pytestmark = pytest.mark.anyio

CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid-1", pod_name="pod-1")


def _config(endpoint: str, container: str) -> aa.RepositoryConfig:
    return aa.RepositoryConfig.from_dict({"default": "azure", "repositories": {"azure": {
        "driver": "azure", "endpoint": endpoint, "container": container,
        "credentials": {"account_key_env": KEY_ENV},
        # A stalled answer is given up on quickly (the SDK's socket read timeout).
        "read_timeout": 1, "connect_timeout": 2,
    }}})


@contextmanager
def _sdk_connection_leaks() -> Iterator[list[str]]:
    """Collect, instead of failing the session with, the "Unclosed connection" warnings
    aiohttp gives when a connection the SDK abandoned is garbage-collected.

    azure-core's aiohttp transport does not close a response whose body read timed out
    (its stream generator and `load_body` re-raise `ServiceResponseTimeoutError` without
    releasing the connection); aiohttp closes the socket when the object is collected,
    and warns. The collection runs here, so that warning is seen here, and only it.
    """
    seen: list[str] = []
    previous = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        seen.append(str(unraisable.exc_value))

    sys.unraisablehook = hook
    try:
        yield seen
        gc.collect()
    finally:
        sys.unraisablehook = previous


async def _round(
    upstream: str, container: str, source: Path, faults: Faults, seed: int
) -> tuple[BaseException | None, Path, int]:
    """One save and load through a fresh proxy: the error (or None), the loaded file, and
    how many faults fired."""
    dest = source.with_name(f"out-{seed}.bin")
    error: BaseException | None = None
    async with FaultProxy(upstream, seed=seed, faults=faults) as proxy:
        config = _config(f"{proxy.endpoint}/{ACCOUNT}", container)
        options = aa.TransferOptions(part_size=MiB, max_parts_in_flight=4)
        with anyio.fail_after(60):
            async with aa.Artifacts(config, options=options) as artifacts:
                saved = await artifacts.save_outputs(
                    [aa.OutputArtifact(name="model", path=source, key=f"faults/{seed}.bin",
                                       archive=aa.Archive.none())],
                    context=CONTEXT,
                )
                error = saved.errors.get("model")
                if error is None:
                    try:
                        await artifacts.load_inputs(
                            [aa.InputArtifact(name="model", path=dest,
                                              record=saved.records[0])],
                            context=CONTEXT,
                        )
                    except aa.ArtifactError as exc:
                        error = exc
        return error, dest, sum(proxy.fired.values())


@pytest.mark.parametrize(
    "faults",
    [
        Faults(reset=0.2, close=0.1, after_bytes=(0, 1536 * 1024)),
        Faults(stall=0.2, reset=0.1, after_bytes=(0, 256 * 1024), direction="response"),
    ],
    ids=["resets-and-closes", "stalled-answers"],
)
async def test_transfers_through_faults_end_in_bound(
    azurite: str, container: str, tmp_path: Path, faults: Faults
) -> None:
    """Through resets, closes and stalls every run ends in bound: intact or one typed error."""
    content = random.Random(5).randbytes(4 * MiB)
    source = tmp_path / "model.bin"
    source.write_bytes(content)
    url = urlsplit(azurite)
    upstream = f"http://{url.hostname}:{url.port}"
    fired = 0
    outcomes = []
    with _sdk_connection_leaks() as leaks:
        for seed in range(3):
            error, dest, count = await _round(upstream, container, source, faults, seed)
            fired += count
            if error is None:
                assert dest.read_bytes() == content
                outcomes.append("intact")
            else:
                assert isinstance(error, aa.ArtifactError), repr(error)
                outcomes.append(type(error).__name__)
    assert fired > 0, "no fault fired: the test proved nothing"
    assert "intact" in outcomes
    assert all(leak.startswith("Unclosed connection") for leak in leaks), leaks
