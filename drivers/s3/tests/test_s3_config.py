"""Settings in action: encryption, storage class, buckets, credentials, logging."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from artifacts_async_s3 import S3Driver
from s3_support import ACCESS_KEY, SECRET_KEY, checks, exercise

import artifacts_async as aa
from artifacts_async import Credentials, SecretRef

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
MakeDriver = Callable[..., S3Driver]


async def test_sse_and_storage_class_are_sent(
    make_driver: MakeDriver, boto: Any, bucket: str
) -> None:
    """Single and multipart objects are stored with the configured SSE and storage class."""
    driver = make_driver(sse="AES256", storage_class="STANDARD_IA")
    await exercise(driver)
    for key in ("small", "large"):
        head = boto.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["StorageClass"] == "STANDARD_IA"
    # AES256 keeps MD5 ETags, so they are still reported for verification.
    assert (await driver.stat("small")).etag == hashlib.md5(b"small").hexdigest()


async def test_sse_kms(make_driver: MakeDriver, boto: Any, bucket: str) -> None:
    """aws:kms and its key id are sent; ETags (not MD5s under KMS) are not reported."""
    driver = make_driver(sse="aws:kms", sse_kms_key_id="alias/artifacts")
    info = await driver.put("k", b"data", checksums=checks(b"data"), metadata={})
    head = boto.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/artifacts")
    assert info.etag is None
    assert (await driver.stat("k")).etag is None
    assert driver.limits.s3_multipart_etag is False


async def test_missing_bucket_is_a_configuration_error(make_driver: MakeDriver) -> None:
    """Requests to a bucket that does not exist raise ConfigurationError naming it."""
    driver = make_driver(bucket="no-such-bucket-here")
    with pytest.raises(aa.ConfigurationError, match="no-such-bucket-here"):
        await driver.put("k", b"x", checksums=checks(b"x"), metadata={})
    with pytest.raises(aa.ConfigurationError, match="no-such-bucket-here"):
        await driver.start_upload("k", metadata={})
    with pytest.raises(aa.ConfigurationError, match="no-such-bucket-here"):
        [i async for i in driver.list("")]


async def test_create_bucket(make_driver: MakeDriver, boto: Any, bucket: str) -> None:
    """create_bucket makes a missing bucket on first use and accepts an existing one."""
    driver = make_driver(bucket=f"{bucket}-created", create_bucket=True)
    await driver.put("k", b"x", checksums=checks(b"x"), metadata={})
    assert boto.head_object(Bucket=f"{bucket}-created", Key="k")["ContentLength"] == 1
    existing = make_driver(create_bucket=True)
    await existing.put("k", b"y", checksums=checks(b"y"), metadata={})
    assert boto.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1


async def test_client_is_created_lazily_and_closed(make_driver: MakeDriver) -> None:
    """No client exists before the first request; aclose closes it (and is idempotent)."""
    driver = make_driver()
    assert driver._sdk.current is None
    await driver.put("k", b"x", checksums=checks(b"x"), metadata={})
    assert driver._sdk.current is not None
    await driver.aclose()
    assert driver._sdk.current is None
    await driver.aclose()


async def test_credentials_never_in_logs_or_errors(
    make_driver: MakeDriver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DEBUG on everywhere, no log line, repr or error shows a key, secret or token."""
    token = "session-token-value-1234567890"
    monkeypatch.setenv("TEST_S3_SESSION_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    driver = make_driver(credentials=Credentials(refs={
        "access_key": SecretRef("env", "TEST_S3_ACCESS_KEY"),
        "secret_key": SecretRef("env", "TEST_S3_SECRET_KEY"),
        "session_token": SecretRef("env", "TEST_S3_SESSION_TOKEN"),
    }))
    await exercise(driver)
    with pytest.raises(aa.ArtifactNotFoundError) as missing:
        await driver.stat("absent")
    # botocore did log its requests (signed headers included) during all of this.
    assert "Sending http request" in caplog.text
    assert "Authorization" in caplog.text
    for secret in (ACCESS_KEY, SECRET_KEY, token):
        assert secret not in caplog.text
        assert secret not in repr(driver)
        assert secret not in str(missing.value)


async def test_missing_credential_reference(make_driver: MakeDriver) -> None:
    """An unset credential variable is a ConfigurationError naming the variable."""
    driver = make_driver(credentials={"access_key_env": "UNSET_ACCESS_VAR",
                                      "secret_key_env": "TEST_S3_SECRET_KEY"})
    with pytest.raises(aa.ConfigurationError, match="UNSET_ACCESS_VAR") as info:
        await driver.stat("k")
    assert SECRET_KEY not in str(info.value)


async def test_sdk_default_credentials(
    make_driver: MakeDriver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """use_sdk_default lets botocore's chain find keys (here, AWS_* variables)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASDKCHAINKEY00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sdk-chain-secret-value")
    driver = make_driver(credentials=Credentials(use_sdk_default=True))
    await driver.put("k", b"x", checksums=checks(b"x"), metadata={})  # the fast path
    await driver.stat("k")  # botocore, which logs its signed headers
    assert "Authorization" in caplog.text
    assert "AKIASDKCHAINKEY00001" not in caplog.text


async def test_no_credentials_anywhere(make_driver: MakeDriver) -> None:
    """With no credentials to be found the error says how to configure them."""
    driver = make_driver(credentials=Credentials(use_sdk_default=True))
    with pytest.raises(aa.ConfigurationError, match="credentials"):
        await driver.stat("k")


async def test_unknown_profile(make_driver: MakeDriver) -> None:
    """A profile that does not exist is a ConfigurationError naming it."""
    driver = make_driver(credentials=Credentials(profile="no-such-profile"))
    with pytest.raises(aa.ConfigurationError, match="no-such-profile"):
        await driver.stat("k")


async def test_role_arn_is_assumed(
    make_driver: MakeDriver, caplog: pytest.LogCaptureFixture
) -> None:
    """With role_arn, requests are signed by the role's STS credentials (moto's STS)."""
    caplog.set_level(logging.DEBUG)
    driver = make_driver(role_arn="arn:aws:iam::123456789012:role/artifacts")
    await driver.put("k", b"x", checksums=checks(b"x"), metadata={})
    assert "AssumeRole" in caplog.text
    client: Any = driver._sdk.current
    # The fast path signs with the client's own (refreshable) credentials object.
    assert driver._fast is not None
    assert driver._fast._credentials is client._get_credentials()
    frozen = await client._get_credentials().get_frozen_credentials()
    assert frozen.access_key != ACCESS_KEY
    assert frozen.token
    assert frozen.token not in caplog.text
    assert frozen.secret_key not in caplog.text
