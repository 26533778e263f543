"""The core's driver conformance kit, run against the S3 driver and a moto server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from artifacts_async_s3 import S3Driver

from artifacts_async.testing import DriverConformance


class TestS3Conformance(DriverConformance):
    """Every behaviour the protocol promises, on a fresh bucket per test."""

    # moto stores whatever Content-MD5 and CRC32C it is sent without checking them; the
    # engine's verification after completion covers that (see test_s3_core).
    verifies_checksums = False

    @pytest.fixture
    async def driver(self, settings: Mapping[str, Any]) -> AsyncIterator[S3Driver]:
        """A fresh S3 driver on the (reset) test bucket."""
        s3 = S3Driver.from_settings(settings)
        try:
            yield s3
        finally:
            await s3.aclose()
