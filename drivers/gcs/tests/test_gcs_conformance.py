"""The core's driver conformance kit, run against the GCS driver and fake-gcs-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from artifacts_async_gcs import GCSDriver

from artifacts_async.testing import DriverConformance


class TestGCSConformance(DriverConformance):
    """Every behaviour the protocol promises, on a new bucket per test.

    fake-gcs-server stores a part whatever CRC32C is declared, but it reports the CRC32C
    of what it stored, which the driver compares with the declared one: so a wrong
    checksum is still rejected (`verifies_checksums` stays True).
    """

    @pytest.fixture
    async def driver(self, settings: Mapping[str, Any]) -> AsyncIterator[GCSDriver]:
        """A fresh GCS driver on the new test bucket."""
        gcs = GCSDriver.from_settings(settings)
        try:
            yield gcs
        finally:
            await gcs.aclose()
