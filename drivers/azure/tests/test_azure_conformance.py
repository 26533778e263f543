"""The core's driver conformance kit, run against the Azure driver and Azurite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from artifacts_async_azure import AzureDriver

from artifacts_async.testing import DriverConformance


class TestAzureConformance(DriverConformance):
    """Every behaviour the protocol promises, on a fresh container per test (Azurite
    verifies each block's MD5, so the checksum-rejection test runs too)."""

    @pytest.fixture
    async def driver(self, settings: Mapping[str, Any]) -> AsyncIterator[AzureDriver]:
        """A fresh Azure driver on the test container."""
        azure = AzureDriver.from_settings(settings)
        try:
            yield azure
        finally:
            await azure.aclose()
