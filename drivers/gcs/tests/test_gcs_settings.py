"""Settings: every name validated, the endpoint resolved, credentials by reference only."""

from __future__ import annotations

from typing import Any

import pytest
from artifacts_async_gcs import GCSDriver, GCSSettings

import artifacts_async as aa


def test_defaults() -> None:
    """Only the bucket is required; Google's endpoint and ADC are the defaults."""
    settings = GCSSettings.parse({"bucket": "b"})
    assert settings.api_root == "https://storage.googleapis.com"
    assert not settings.unauthenticated
    assert settings.credentials.use_sdk_default
    assert settings.read_timeout == 60.0


def test_every_setting() -> None:
    """Every documented setting is read and normalised."""
    settings = GCSSettings.parse({
        "bucket": "b", "prefix": "/team-a/", "endpoint": "http://127.0.0.1:4443/",
        "anonymous": True, "project": "p", "create_bucket": True, "storage_class": "nearline",
        "kms_key_name": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "connect_timeout": 3, "read_timeout": 120.5, "max_connections": 4,
        "credentials": {"service_account_key_file": "/secrets/key.json"},
    })
    assert settings.prefix == "team-a/"
    assert settings.api_root == "http://127.0.0.1:4443"
    assert settings.storage_class == "NEARLINE"
    assert settings.unauthenticated
    assert settings.credentials.refs["service_account_key"] == aa.SecretRef(
        "file", "/secrets/key.json")


def test_emulator_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """STORAGE_EMULATOR_HOST is used (unauthenticated) when no endpoint is set."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:9023")
    settings = GCSSettings.parse({"bucket": "b"})
    assert settings.api_root == "http://127.0.0.1:9023"
    assert settings.unauthenticated
    explicit = GCSSettings.parse({"bucket": "b", "endpoint": "https://gcs.example.com"})
    assert explicit.api_root == "https://gcs.example.com"
    assert not explicit.unauthenticated


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "set 'bucket'"),
        ({"bucket": "gs://b"}, "bare bucket"),
        ({"bucket": "b/k"}, "bare bucket"),
        ({"bucket": "b", "colour": "x"}, "unknown setting"),
        ({"bucket": "b", "endpoint": "127.0.0.1:4443"}, "http"),
        ({"bucket": "b", "endpoint": "http://h/path"}, "without a path"),
        ({"bucket": "b", "endpoint": "http://h:99999"}, "invalid port"),
        ({"bucket": "b", "storage_class": "FAST"}, "storage_class"),
        ({"bucket": "b", "kms_key_name": "my-key"}, "kms_key_name"),
        ({"bucket": "b", "anonymous": "yes"}, "true or false"),
        ({"bucket": "b", "read_timeout": 0}, "positive number"),
        ({"bucket": "b", "max_connections": 0}, "positive integer"),
        ({"bucket": "b", "credentials": {"access_key_env": "X"}}, "not used by GCS"),
        ({"bucket": "b", "credentials": {"profile": "p"}}, "profile"),
        ({"bucket": "b", "credentials": {"service_account_key": "{...}"}}, "reference"),
        ({"bucket": "b", "credentials": 3}, "mapping"),
    ],
)
def test_invalid_settings(settings: dict[str, Any], message: str) -> None:
    """Each invalid setting raises ConfigurationError naming the problem."""
    with pytest.raises(aa.ConfigurationError, match=message):
        GCSDriver.from_settings(settings)


def test_repr_and_describe() -> None:
    """The repr names bucket, endpoint and prefix (no credentials); describe gives gs://."""
    driver = GCSDriver.from_settings({
        "bucket": "b", "prefix": "p", "credentials": {"service_account_key_env": "KEY_VAR"},
    })
    assert repr(driver) == \
        "GCSDriver(bucket='b', endpoint='https://storage.googleapis.com', prefix='p/')"
    assert "KEY_VAR" not in repr(driver.settings)
    assert driver.describe("a b/c") == "gs://b/p/a b/c"
