"""Key cases with the fast path off: every request through aiobotocore, as before it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from artifacts_async_s3 import S3Driver
from s3_support import checks, exercise

from artifacts_async.testing import DriverConformance

pytestmark = pytest.mark.anyio


class TestS3ConformanceWithoutFastPath(DriverConformance):
    """The conformance kit with `fast_path = false`."""

    # As in test_s3_conformance: moto does not check the checksums it is sent.
    verifies_checksums = False

    @pytest.fixture
    async def driver(self, settings: Mapping[str, Any]) -> AsyncIterator[S3Driver]:
        """A fresh S3 driver that sends PutObject and UploadPart through aiobotocore."""
        s3 = S3Driver.from_settings({**settings, "fast_path": False})
        try:
            await s3._s3()
            assert s3._fast is None
            yield s3
        finally:
            await s3.aclose()


async def test_every_request_goes_through_botocore(
    make_driver: Callable[..., S3Driver], boto: Any, bucket: str
) -> None:
    """With the fast path off, puts and parts (SSE and storage class set) reach botocore."""
    driver = make_driver(fast_path=False, sse="AES256", storage_class="STANDARD_IA")
    client: Any = await driver._s3()
    seen: list[str] = []
    client.meta.events.register("before-send.s3", lambda **kw: seen.append(kw["event_name"]))
    await exercise(driver)
    assert "before-send.s3.PutObject" in seen
    assert seen.count("before-send.s3.UploadPart") == 2
    head = boto.head_object(Bucket=bucket, Key="small")
    assert (head["ServerSideEncryption"], head["StorageClass"]) == ("AES256", "STANDARD_IA")
    info = await driver.put("k", b"x", checksums=checks(b"x"), metadata={})
    assert info.checksums
