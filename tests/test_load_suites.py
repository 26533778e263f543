"""The load suites of `artifacts_async.testing` on the local and memory drivers."""

from __future__ import annotations

from pathlib import Path

import pytest

import artifacts_async as aa
from artifacts_async.testing import (
    FaultyDriver,
    check_cancelled_loads,
    check_damaged_loads,
    check_faulty_loads,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["local", "memory"])
def config(request: pytest.FixtureRequest, tmp_path: Path,
           memory_store_name: str) -> aa.RepositoryConfig:
    """A repository on each core driver."""
    settings = {"driver": "local", "root": str(tmp_path / "store")} \
        if request.param == "local" else {"driver": "memory", "name": memory_store_name}
    return aa.RepositoryConfig.from_dict({"default": "r", "repositories": {"r": settings}})


async def test_damaged_objects_are_refused(config: aa.RepositoryConfig, tmp_path: Path) -> None:
    """Every kind, flipped, truncated or extended, fails with IntegrityError and keeps the
    older file at its destination."""
    await check_damaged_loads(config, tmp_path / "work")


async def test_cancel_at_random_points(config: aa.RepositoryConfig, tmp_path: Path) -> None:
    """Loads of every kind cancelled at seeded random points end within a second and leave
    nothing behind; a rerun succeeds."""
    await check_cancelled_loads(config, tmp_path / "work", seed=2026, rounds=20)


@pytest.mark.parametrize("seed", range(3))
async def test_loads_through_faults(config: aa.RepositoryConfig, tmp_path: Path,
                                    seed: int) -> None:
    """Through transient errors, lost answers and stalls at seeded rates, every load ends
    with the right bytes or one typed error, the older file kept."""
    async with aa.Artifacts(config) as arts:
        inner = await arts.driver("r")
        faulty = FaultyDriver(inner, seed=seed, transient_rate=0.15, lost_answer_rate=0.1,
                              stall_rate=0.1, operations=frozenset({"read", "stat"}))
        outcomes = await check_faulty_loads(config, tmp_path / "work", load_drivers={"r": faulty},
                                            request_timeout=0.2, within=30)
    assert sum(faulty.fired.values()) > 0
    assert outcomes.get("loaded", 0) > 0, outcomes
