"""S3 downloads: damaged objects, cancellation at random points, and a TCP fault proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from s3_support import s3_config

from artifacts_async.testing import (
    FaultProxy,
    Faults,
    check_cancelled_loads,
    check_damaged_loads,
    check_faulty_loads,
)

pytestmark = pytest.mark.anyio



async def test_damaged_objects_are_refused(moto_endpoint: str, bucket: str,
                                           tmp_path: Path) -> None:
    """Every kind, flipped, truncated or extended on S3, fails with IntegrityError and keeps
    the older file at its destination."""
    await check_damaged_loads(s3_config(moto_endpoint, bucket), tmp_path)


async def test_cancel_at_random_points(moto_endpoint: str, bucket: str, tmp_path: Path) -> None:
    """S3 loads of every kind cancelled at seeded random points end within a second and
    leave nothing behind; a rerun succeeds."""
    await check_cancelled_loads(s3_config(moto_endpoint, bucket), tmp_path, seed=7, rounds=3)


@pytest.mark.parametrize("seed", range(3))
async def test_downloads_through_faults_end_identical_or_typed(
    moto_endpoint: str, bucket: str, tmp_path: Path, seed: int
) -> None:
    """Through resets, stalls and early closes at seeded rates, every load ends within a
    bound with the right bytes or one typed error, the older file kept."""
    faults = Faults(reset=0.15, stall=0.1, close=0.15, after_bytes=(0, 200_000),
                    direction="response")
    async with FaultProxy(moto_endpoint, seed=seed, faults=faults) as proxy:
        outcomes = await check_faulty_loads(
            s3_config(moto_endpoint, bucket), tmp_path,
            load_config=s3_config(proxy.endpoint, bucket), request_timeout=1.0, within=60)
        fired = sum(proxy.fired.values())
    assert fired > 0, proxy.planned
    assert sum(outcomes.values()) == 5


async def test_downloads_through_a_dead_network_fail_typed(
    moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """When every response breaks off, every load fails with a typed error (after its
    retries) and keeps the older file."""
    faults = Faults(reset=0.5, close=0.5, after_bytes=(0, 1000), direction="response")
    async with FaultProxy(moto_endpoint, seed=1, faults=faults) as proxy:
        outcomes = await check_faulty_loads(
            s3_config(moto_endpoint, bucket), tmp_path,
            load_config=s3_config(proxy.endpoint, bucket), request_timeout=1.0, within=60)
    assert "loaded" not in outcomes
    assert sum(outcomes.values()) == 5
