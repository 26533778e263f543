"""The load suites of `artifacts_async.testing` on the local and memory drivers."""

from __future__ import annotations

from pathlib import Path

import pytest

import artifacts_async as aa
from artifacts_async.testing import check_cancelled_loads, check_damaged_loads

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
