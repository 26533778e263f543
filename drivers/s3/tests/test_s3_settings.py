"""Settings: parsing, defaults, validation and what a repr may show."""

from __future__ import annotations

from typing import Any

import pytest
from artifacts_async_s3 import ChecksumMode, S3Driver, S3Settings

import artifacts_async as aa
from artifacts_async.abc import ChecksumKind, Driver

MiB = 1024 * 1024


def test_defaults_for_aws() -> None:
    """Without an endpoint: virtual-hosted addressing, region from the SDK, SDK credentials."""
    settings = S3Settings.parse({"bucket": "b"})
    assert settings.endpoint_url is None
    assert settings.path_style is False
    assert settings.region is None
    assert settings.prefix == ""
    assert settings.checksum is ChecksumMode.CRC32C
    assert settings.credentials.use_sdk_default


def test_defaults_with_an_endpoint() -> None:
    """With an endpoint: path-style addressing and us-east-1, unless set otherwise."""
    settings = S3Settings.parse({"bucket": "b", "endpoint": "http://127.0.0.1:9000"})
    assert settings.path_style is True
    assert settings.region == "us-east-1"
    explicit = S3Settings.parse(
        {"bucket": "b", "endpoint": "http://h:1", "path_style": False, "region": "eu-west-1"}
    )
    assert explicit.path_style is False
    assert explicit.region == "eu-west-1"


@pytest.mark.parametrize(
    ("endpoint", "insecure", "url"),
    [
        ("minio:9000", False, "https://minio:9000"),
        ("minio:9000", True, "http://minio:9000"),
        ("https://s3.example.com", True, "https://s3.example.com"),
    ],
)
def test_endpoint_scheme(endpoint: str, insecure: bool, url: str) -> None:
    """A bare host gets https, or http when insecure; an explicit scheme is kept."""
    settings = S3Settings.parse({"bucket": "b", "endpoint": endpoint, "insecure": insecure})
    assert settings.endpoint_url == url


@pytest.mark.parametrize(
    ("raw", "normalized"), [("team-a", "team-a/"), ("/a/b/", "a/b/"), ("", "")]
)
def test_prefix_is_a_folder(raw: str, normalized: str) -> None:
    """The key prefix is normalized to a folder ending in '/'."""
    settings = S3Settings.parse({"bucket": "b", "prefix": raw})
    assert settings.prefix == normalized
    assert S3Driver(settings).describe("k") == f"s3://b/{normalized}k"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "bucket"),
        ({"bucket": ""}, "bucket"),
        ({"bucket": "b/with/key"}, "bucket"),
        ({"bucket": "b", "endpoint": "ftp://h"}, "endpoint"),
        ({"bucket": "b", "endpoint": "http://h:1/path"}, "endpoint"),
        ({"bucket": "b", "endpoint": "http://h:notaport"}, "endpoint"),
        ({"bucket": "b", "sse": "rot13"}, "sse"),
        ({"bucket": "b", "sse_kms_key_id": "k"}, "sse_kms_key_id"),
        ({"bucket": "b", "sse": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id"),
        ({"bucket": "b", "insecure": "yes"}, "insecure"),
        ({"bucket": "b", "path_style": 1}, "path_style"),
        ({"bucket": "b", "read_timeout": 0}, "read_timeout"),
        ({"bucket": "b", "connect_timeout": True}, "connect_timeout"),
        ({"bucket": "b", "max_pool_connections": 0}, "max_pool_connections"),
        ({"bucket": "b", "checksum": "sha1"}, "checksum"),
        ({"bucket": "b", "checksum": "md5", "content_md5": False}, "content_md5"),
        ({"bucket": "b", "region": 5}, "region"),
        ({"bucket": "b", "buckett": "typo"}, "buckett"),
        ({"bucket": "b", "credentials": "AKIA..."}, "credentials"),
        ({"bucket": "b", "credentials": {"access_key_env": "A"}}, "secret_key"),
        ({"bucket": "b", "credentials": {"account_key_env": "A"}}, "account_key"),
        ({"bucket": "b", "credentials": {"session_token_env": "T"}}, "session_token"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, Any], named: str) -> None:
    """Every invalid or missing setting raises ConfigurationError naming it."""
    with pytest.raises(aa.ConfigurationError, match=named):
        S3Driver.from_settings(settings)


def test_literal_secrets_are_refused() -> None:
    """A secret written into the config itself is refused, and not echoed back."""
    with pytest.raises(aa.ConfigurationError) as info:
        S3Driver.from_settings({"bucket": "b", "credentials": {"secret_key": "s3cr3t-value"}})
    assert "s3cr3t-value" not in str(info.value)


def test_limits() -> None:
    """S3's limits, both per-part checksums with Content-MD5, and the multipart ETag rule."""
    limits = S3Driver.from_settings({"bucket": "b", "content_md5": True}).limits
    assert (limits.min_part_size, limits.max_part_size) == (5 * MiB, 5 * 1024 * MiB)
    assert limits.max_parts == 10_000
    assert limits.max_object_size == 5 * 1024**4
    assert limits.max_single_put == 5 * 1024**3
    assert limits.delete_batch_size == 1000
    assert limits.checksums == {ChecksumKind.MD5, ChecksumKind.CRC32C}
    assert limits.s3_multipart_etag is True
    assert limits.ranged_reads is True
    assert limits.delete_reports_absence is False


def test_limits_follow_the_settings() -> None:
    """SSE-KMS ETags are not MD5s; md5 mode sends no CRC32C; content_md5 = false no MD5."""
    kms = S3Driver.from_settings({"bucket": "b", "sse": "aws:kms", "sse_kms_key_id": "k"})
    assert kms.limits.s3_multipart_etag is False
    assert S3Driver.from_settings({"bucket": "b", "verify_etag": False}).limits.s3_multipart_etag \
        is False
    md5 = S3Driver.from_settings({"bucket": "b", "checksum": "md5"})
    assert md5.limits.checksums == {ChecksumKind.MD5}
    crc_only = S3Driver.from_settings({"bucket": "b", "content_md5": False})
    assert crc_only.limits.checksums == {ChecksumKind.CRC32C}
    assert crc_only.limits.s3_multipart_etag is False


def test_default_integrity_is_crc32c_without_an_md5_pass() -> None:
    """By default each part carries only its CRC32C (S3 verifies it); md5 mode sends MD5."""
    default = S3Driver.from_settings({"bucket": "b"})
    assert default.limits.checksums == {ChecksumKind.CRC32C}
    assert S3Driver.from_settings({"bucket": "b", "content_md5": True}).limits.checksums == {
        ChecksumKind.CRC32C, ChecksumKind.MD5}
    assert S3Driver.from_settings({"bucket": "b", "checksum": "md5"}).limits.checksums == {
        ChecksumKind.MD5}


def test_driver_satisfies_the_protocol() -> None:
    """S3Driver is a `Driver` (checked by mypy --strict: the protocol is static only)."""
    driver: Driver = S3Driver.from_settings({"bucket": "b"})
    assert driver.describe("k") == "s3://b/k"


def test_repr_names_the_bucket_but_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr/str of the driver and its settings show where, never credentials."""
    monkeypatch.setenv("REPR_ACCESS", "AKIAREPRTESTKEY")
    monkeypatch.setenv("REPR_SECRET", "repr-secret-value")
    driver = S3Driver.from_settings({
        "bucket": "my-bucket", "endpoint": "http://127.0.0.1:9000",
        "credentials": {"access_key_env": "REPR_ACCESS", "secret_key_env": "REPR_SECRET"},
    })
    shown = [repr(driver), str(driver), repr(driver.settings), str(driver.settings)]
    for text in shown:
        assert "AKIAREPRTESTKEY" not in text
        assert "repr-secret-value" not in text
    assert "my-bucket" in repr(driver)


def test_argo_configmap_settings_are_accepted() -> None:
    """The settings the Argo ConfigMap mapping produces (role_arn included) parse."""
    config = aa.RepositoryConfig.from_argo({"default": """
s3:
  bucket: argo-artifacts
  endpoint: minio:9000
  insecure: true
  region: us-west-2
  roleARN: arn:aws:iam::123456789012:role/argo
  accessKeySecret: {name: minio-creds, key: accesskey}
  secretKeySecret: {name: minio-creds, key: secretkey}
"""})
    repo = config.get(None)
    driver = S3Driver.from_settings(repo.driver_settings())
    assert driver.settings.endpoint_url == "http://minio:9000"
    assert driver.settings.path_style is True
    assert driver.settings.role_arn == "arn:aws:iam::123456789012:role/argo"
    assert set(driver.settings.credentials.refs) == {"access_key", "secret_key"}


def test_head_after_complete_is_on_unless_turned_off() -> None:
    """HeadObject after an unverifiable completion is the default; false turns it off."""
    assert S3Driver.from_settings({"bucket": "b"}).settings.head_after_complete is True
    off = S3Driver.from_settings({"bucket": "b", "head_after_complete": False})
    assert off.settings.head_after_complete is False
    with pytest.raises(aa.ConfigurationError, match="head_after_complete"):
        S3Driver.from_settings({"bucket": "b", "head_after_complete": "sometimes"})
