"""Constants and helpers shared by the S3 driver's tests (a module of its own: conftest is
not imported)."""

from __future__ import annotations

import hashlib
from typing import Any

import crc32c
from artifacts_async_s3 import S3Driver

import artifacts_async as aa
from artifacts_async.abc import PartChecksums

MiB = 1024 * 1024

# Fake keys: moto accepts any. They are what the redaction tests look for in logs.
ACCESS_KEY = "AKIATESTACCESSKEY0001"
SECRET_KEY = "test-secret-key-0f9e8d7c6b5a"
# The bucket the `rclone` fixture's server holds (a directory of its tree).
RCLONE_BUCKET = "signed"


def s3_config(endpoint: str, bucket: str, **extra: Any) -> aa.RepositoryConfig:
    """A configuration whose default repository is the bucket, with the keys the tests put
    in the env (`TEST_S3_ACCESS_KEY`, `TEST_S3_SECRET_KEY`) and the settings `extra`."""
    return aa.RepositoryConfig.from_dict({
        "default": "s3",
        "repositories": {"s3": {
            "driver": "s3", "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
            "credentials": {"access_key_env": "TEST_S3_ACCESS_KEY",
                            "secret_key_env": "TEST_S3_SECRET_KEY"},
            **extra,
        }},
    })


def checks(data: bytes) -> PartChecksums:
    """The MD5 and CRC32C of `data`, as the engine gives them to the driver."""
    return PartChecksums(
        md5=hashlib.md5(data).digest(), crc32c=crc32c.crc32c(data).to_bytes(4, "big")
    )


async def exercise(driver: S3Driver) -> None:
    """Put, multipart, stat, read, list, delete: every kind of request."""
    await driver.put("small", b"small", checksums=checks(b"small"), metadata={"a": "b"})
    upload_id = await driver.start_upload("large", metadata={})
    first = b"p" * (5 * MiB)
    p1 = await driver.upload_part("large", upload_id, 1, first, offset=0, checksums=checks(first))
    p2 = await driver.upload_part("large", upload_id, 2, b"q", offset=len(first),
                                  checksums=checks(b"q"))
    await driver.list_parts("large", upload_id)
    await driver.complete_upload("large", upload_id, [p1, p2])
    await driver.stat("small")
    assert b"".join([c async for c in driver.read("small", offset=1)]) == b"mall"
    assert [i.key async for i in driver.list("")] == ["large", "small"]
