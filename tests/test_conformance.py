"""The core's drivers pass the driver conformance kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.testing import DriverConformance


class TestLocalDriver(DriverConformance):
    """`local` with its default limits."""

    verifies_checksums = False  # it declares none: the engine's CRC32C is not redone

    @pytest.fixture
    async def driver(self, tmp_path: Path) -> AsyncIterator[LocalDriver]:
        driver = LocalDriver(tmp_path / "root")
        yield driver
        await driver.aclose()


class TestLocalDriverSmallBatches(DriverConformance):
    """`local` with a 50-key delete batch, so batching is exercised quickly."""

    verifies_checksums = False

    @pytest.fixture
    async def driver(self, tmp_path: Path) -> LocalDriver:
        return LocalDriver.from_settings({"root": str(tmp_path / "root"), "delete_batch_size": 50})


class TestMemoryDriver(DriverConformance):
    """`memory` with its default limits."""

    @pytest.fixture
    async def driver(self, memory_store_name: str) -> MemoryDriver:
        return MemoryDriver(name=memory_store_name)


class TestMemoryDriverSmallBatches(DriverConformance):
    """`memory` with a 50-key delete batch."""

    @pytest.fixture
    async def driver(self, memory_store_name: str) -> MemoryDriver:
        return MemoryDriver.from_settings({"name": memory_store_name, "delete_batch_size": 50})
