"""Settings: parsing, defaults, validation and what a repr may show."""

from __future__ import annotations

from typing import Any

import pytest
from artifacts_async_azure import AzureDriver, AzureSettings

import artifacts_async as aa
from artifacts_async.abc import ChecksumKind, Driver

ENDPOINT = "https://myaccount.blob.core.windows.net"


def _parse(**settings: Any) -> AzureSettings:
    return AzureSettings.parse({"container": "c-1", **settings})


def test_defaults() -> None:
    """An endpoint and a container: SDK credentials, MD5 per block, no prefix or tier."""
    settings = _parse(endpoint=ENDPOINT)
    assert settings.account_name == "myaccount"
    assert settings.credential_kind == "sdk"
    assert settings.content_md5 is True
    assert settings.prefix == ""
    assert settings.access_tier is None
    assert (settings.connect_timeout, settings.read_timeout, settings.max_connections) == \
        (10.0, 60.0, 32)


@pytest.mark.parametrize(
    ("endpoint", "account"),
    [
        ("https://acct1.blob.core.windows.net/", "acct1"),
        ("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"),
        ("http://localhost:10000/devstoreaccount1/", "devstoreaccount1"),
        ("https://acct2.blob.core.chinacloudapi.cn", "acct2"),
    ],
)
def test_account_name_from_the_endpoint(endpoint: str, account: str) -> None:
    """The account is the host's first label, or the emulator-style path."""
    settings = _parse(endpoint=endpoint, credentials={"account_key_env": "K"})
    assert settings.account_name == account
    assert settings.endpoint == endpoint.rstrip("/")


def test_account_url_alias_and_explicit_account() -> None:
    """`account_url` is another name for `endpoint`; `account_name` covers custom domains."""
    settings = _parse(account_url="https://blobs.example.com", account_name="acct3",
                      credentials={"account_key_env": "K"})
    assert settings.endpoint == "https://blobs.example.com"
    assert settings.account_name == "acct3"


@pytest.mark.parametrize(
    ("raw", "normalized"), [("team-a", "team-a/"), ("/a/b/", "a/b/"), ("", "")]
)
def test_prefix_is_a_folder(raw: str, normalized: str) -> None:
    """The key prefix is normalized to a folder ending in '/'."""
    settings = _parse(endpoint=ENDPOINT, prefix=raw)
    assert settings.prefix == normalized
    assert AzureDriver(settings).describe("k") == f"azure://c-1/{normalized}k"


@pytest.mark.parametrize(("raw", "tier"), [("hot", "Hot"), ("Cool", "Cool"),
                                           ("ARCHIVE", "Archive"), ("cold", "Cold")])
def test_access_tier(raw: str, tier: str) -> None:
    """Access tiers are accepted in any case."""
    assert _parse(endpoint=ENDPOINT, access_tier=raw).access_tier == tier


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"endpoint": ENDPOINT}, "container"),
        ({"endpoint": ENDPOINT, "container": ""}, "container"),
        ({"endpoint": ENDPOINT, "container": "Upper"}, "container"),
        ({"endpoint": ENDPOINT, "container": "a/b"}, "container"),
        ({"endpoint": ENDPOINT, "container": "a--b"}, "container"),
        ({"container": "c-1", "endpoint": "ftp://h"}, "endpoint"),
        ({"container": "c-1", "endpoint": "https://h/a/b"}, "endpoint"),
        ({"container": "c-1", "endpoint": "https://h:port"}, "endpoint"),
        ({"container": "c-1", "endpoint": f"{ENDPOINT}?sv=1&sig=x"}, "sas_token"),
        ({"container": "c-1"}, "endpoint"),
        ({"container": "c-1", "endpoint": "http://127.0.0.1:1/devstoreaccount1"}, "https"),
        ({"container": "c-1", "endpoint": "https://blobs.example.com",
          "credentials": {"account_key_env": "K"}}, "account_name"),
        ({"container": "c-1", "endpoint": ENDPOINT, "account_name": "Bad_Name",
          "credentials": {"account_key_env": "K"}}, "account_name"),
        ({"container": "c-1", "endpoint": ENDPOINT,
          "credentials": {"connection_string_env": "C"}}, "connection string"),
        ({"container": "c-1", "endpoint": ENDPOINT,
          "credentials": {"account_key_env": "K", "sas_token_env": "S"}}, "one of"),
        ({"container": "c-1", "endpoint": ENDPOINT,
          "credentials": {"access_key_env": "K"}}, "access_key"),
        ({"container": "c-1", "endpoint": ENDPOINT, "credentials": {"profile": "p"}},
         "profile"),
        ({"container": "c-1", "endpoint": ENDPOINT, "credentials": "key"}, "credentials"),
        ({"container": "c-1", "endpoint": ENDPOINT, "access_tier": "Premium"}, "access_tier"),
        ({"container": "c-1", "endpoint": ENDPOINT, "content_md5": "yes"}, "content_md5"),
        ({"container": "c-1", "endpoint": ENDPOINT, "read_timeout": 0}, "read_timeout"),
        ({"container": "c-1", "endpoint": ENDPOINT, "max_connections": 0}, "max_connections"),
        ({"container": "c-1", "endpoint": ENDPOINT, "prefix": 3}, "prefix"),
        ({"container": "c-1", "endpoint": ENDPOINT, "bucket": "b"}, "bucket"),
    ],
)
def test_invalid_settings_name_the_setting(settings: dict[str, Any], named: str) -> None:
    """Each invalid or missing setting is a ConfigurationError whose message names it."""
    with pytest.raises(aa.ConfigurationError, match=named):
        AzureSettings.parse(settings)


def test_literal_secrets_are_refused() -> None:
    """A credential given as a value, not a reference, is refused (configs get logged)."""
    with pytest.raises(aa.ConfigurationError, match="reference"):
        _parse(endpoint=ENDPOINT, credentials={"account_key": "c2VjcmV0"})


def test_use_sdk_creds_wins_over_references() -> None:
    """As in Argo, useSDKCreds means DefaultAzureCredential even with a key reference."""
    settings = _parse(endpoint=ENDPOINT,
                      credentials=aa.Credentials(refs={"account_key": aa.SecretRef("env", "K")},
                                                 use_sdk_default=True))
    assert settings.credential_kind == "sdk"


def test_limits() -> None:
    """Block blob limits: 4000 MiB blocks, 50,000 blocks, MD5 per block, 256 deletes per batch."""
    limits = AzureDriver(_parse(endpoint=ENDPOINT)).limits
    assert limits is AzureDriver.DEFAULT_LIMITS
    assert (limits.max_part_size, limits.max_parts, limits.delete_batch_size) == \
        (4000 * 1024 * 1024, 50_000, 256)
    assert limits.checksums == frozenset({ChecksumKind.MD5})
    assert AzureDriver(_parse(endpoint=ENDPOINT, content_md5=False)).limits.checksums == \
        frozenset()


def test_repr_shows_no_credentials() -> None:
    """Settings and driver reprs name the container and endpoint, never a credential."""
    settings = _parse(endpoint=ENDPOINT, credentials={"account_key_env": "MY_SECRET_VAR"})
    driver: Driver = AzureDriver(settings)  # the protocol, checked statically
    for text in (repr(settings), repr(driver)):
        assert "c-1" in text
        assert "MY_SECRET_VAR" not in text
