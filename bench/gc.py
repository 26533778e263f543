"""Benchmark: garbage-collect 10,000 stored artifacts, batched vs one delete per key.

Drivers: `local` (a temporary directory), `memory`, `s3` against a moto server and `gcs`
against fake-gcs-server, which the script starts (skipped with a message when the driver
is not installed).

    .venv/bin/python bench/gc.py [--count 10000] [--out docs/benchmarks-gc.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

import artifacts_async as aa
from artifacts_async.abc import DeleteOutcome, Driver, PartChecksums


class Counting:
    """Counts delete requests sent to a driver."""

    def __init__(self, inner: Driver) -> None:
        self.inner = inner
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        self.requests += 1
        return await self.inner.delete(keys)


def records_for(count: int, repository: str, driver: str) -> list[aa.ArtifactRecord]:
    return [aa.ArtifactRecord(
        name=f"a{i}", location=aa.Location(repository=repository, driver=driver,
                                           key=f"bench-gc/{i // 100:03d}/{i:05d}.bin"),
        archive=aa.Archive.none(), gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION,
        status=aa.ArtifactStatus.STORED, size=16) for i in range(count)]


async def fill(driver: Driver, records: Sequence[aa.ArtifactRecord]) -> None:
    limiter = anyio.CapacityLimiter(32)

    async def put(record: aa.ArtifactRecord) -> None:
        async with limiter:
            await driver.put(record.location.key, b"0123456789abcdef",
                             checksums=PartChecksums(), metadata={})

    async with anyio.create_task_group() as tg:
        for record in records:
            tg.start_soon(put, record)


async def measure(name: str, settings: dict[str, Any], count: int) -> list[str]:
    config = aa.RepositoryConfig.from_dict({"repositories": {"r": settings}})
    rows = []
    async with aa.Artifacts(config) as setup:
        raw = await setup.driver("r")
        records = records_for(count, "r", settings["driver"])

        # Batched, through collect_garbage.
        await fill(raw, records)
        driver = Counting(raw)
        async with aa.Artifacts(config, drivers={"r": driver}) as arts:  # type: ignore[dict-item]
            t0 = time.perf_counter()
            report = await arts.collect_garbage(records, event=aa.GCEvent.WORKFLOW_COMPLETED)
            batched = time.perf_counter() - t0
        assert report.deleted == count, report.failed
        rows.append(f"| {name} | collect_garbage (batched) | {count} | {driver.requests} | "
                    f"{batched:.2f} | {count / batched:.0f} |")

        # One delete request per key, 8 at a time.
        await fill(raw, records)
        driver = Counting(raw)
        limiter = anyio.CapacityLimiter(8)

        async def one(key: str) -> None:
            async with limiter:
                await driver.delete([key])

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for record in records:
                tg.start_soon(one, record.location.key)
        single = time.perf_counter() - t0
        rows.append(f"| {name} | one key per request (8 concurrent) | {count} | "
                    f"{driver.requests} | {single:.2f} | {count / single:.0f} |")
    return rows


async def main(args: argparse.Namespace) -> None:
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aa-gc-bench-") as tmp:
        rows += await measure("local", {"driver": "local", "root": tmp}, args.count)
    rows += await measure("memory", {"driver": "memory", "name": "bench"}, args.count)
    if "s3" in aa.available_drivers():
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from bench._servers import (  # noqa: PLC0415
            ACCESS_KEY,
            BUCKET,
            REGION,
            SECRET_KEY,
            Moto,
        )

        with tempfile.TemporaryDirectory(prefix="aa-gc-moto-") as tmp:
            moto = Moto(Path(tmp))
            try:
                moto.fresh_bucket()
                os.environ["BENCH_ACCESS_KEY"] = ACCESS_KEY
                os.environ["BENCH_SECRET_KEY"] = SECRET_KEY
                rows += await measure("s3 (moto server)", {
                    "driver": "s3", "bucket": BUCKET, "endpoint": moto.server.endpoint,
                    "region": REGION, "credentials": {"access_key_env": "BENCH_ACCESS_KEY",
                                                      "secret_key_env": "BENCH_SECRET_KEY"}},
                    args.count)
            finally:
                moto.close()
    else:
        print("s3 driver not installed: skipping the S3 rows", file=sys.stderr)
    if "gcs" in aa.available_drivers():
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from bench._servers import BUCKET as GCS_BUCKET  # noqa: PLC0415
        from bench._servers import FakeGCS  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="aa-gc-gcs-") as tmp:
            fake = FakeGCS(Path(tmp))
            try:
                rows += await measure("gcs (fake-gcs-server)", {
                    "driver": "gcs", "bucket": GCS_BUCKET, "endpoint": fake.server.endpoint,
                    "anonymous": True}, args.count)
            finally:
                fake.close()
    else:
        print("gcs driver not installed: skipping the GCS rows", file=sys.stderr)
    text = "\n".join([
        "# Garbage-collection benchmark",
        "",
        f"`bench/gc.py`: {args.count} stored artifacts collected on workflow completion, "
        "through `Artifacts.collect_garbage` (batched deletes, batches in parallel) and, "
        "for comparison, with one single-key delete request per artifact (8 in flight).",
        "",
        "| driver | method | artifacts | delete requests | wall (s) | artifacts/s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; the moto and fake-gcs-server servers run on "
        "the same machine. GCS deletes go through the JSON API's batch endpoint (100 per "
        "request); the single-key rows send one batch of one.",
        "",
    ])
    print(text)
    if args.out:
        await anyio.Path(args.out).write_text(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--out", default="")
    anyio.run(main, parser.parse_args())
