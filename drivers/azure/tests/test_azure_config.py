"""Settings in action: credentials of every kind, logging, containers, tiers, Argo."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
from artifacts_async_azure import AzureDriver, _client
from artifacts_async_azure._redact import REDACTOR
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob import BlobServiceClient, ContainerClient, ContainerSasPermissions
from azure.storage.blob import generate_container_sas as container_sas
from azure_support import ACCOUNT, ACCOUNT_KEY, MiB, connection_string, md5_checks

import artifacts_async as aa
from artifacts_async import Credentials, SecretRef
from artifacts_async.abc import UploadedPart

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., AzureDriver]


async def _exercise(driver: AzureDriver) -> None:
    """Put, blocks, list_parts, commit, stat, read, list, delete: every kind of request."""
    await driver.put("small", b"small", checksums=md5_checks(b"small"), metadata={"a": "b"})
    await driver.put("medium", b"m" * (2 * MiB), checksums=md5_checks(b"m" * (2 * MiB)),
                     metadata={})
    upload_id = await driver.start_upload("large", metadata={})
    await driver.upload_part("large", upload_id, 1, b"p" * 1000, offset=0,
                             checksums=md5_checks(b"p" * 1000))
    parts = await driver.list_parts("large", upload_id)
    await driver.complete_upload("large", upload_id, [UploadedPart(number=1, size=1000)])
    assert [p.size for p in parts] == [1000]
    await driver.stat("small")
    assert b"".join([c async for c in driver.read("small", offset=1)]) == b"mall"
    assert [i.key async for i in driver.list("")] == ["large", "medium", "small"]
    await driver.delete(["medium"])


def _sas(container: str) -> str:
    return container_sas(
        ACCOUNT, container, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True,
                                           add=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


async def test_credentials_never_in_logs_reprs_or_errors(
    make_driver: MakeDriver, azurite: str, container: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the SDK's request log at DEBUG, no log line, repr or error shows a credential."""
    sas = _sas(container)
    signature = parse_qs(sas)["sig"][0]
    conn = connection_string(azurite)
    monkeypatch.setenv("TEST_AZURE_SAS", sas)
    monkeypatch.setenv("TEST_AZURE_CONN", conn)
    caplog.set_level(logging.DEBUG)
    drivers = [
        make_driver(sdk_logging=True),
        make_driver(sdk_logging=True, credentials={"sas_token_env": "TEST_AZURE_SAS"}),
        make_driver(sdk_logging=True, endpoint=None,
                    credentials={"connection_string_env": "TEST_AZURE_CONN"}),
    ]
    errors = []
    for driver in drivers:
        await _exercise(driver)
        with pytest.raises(aa.ArtifactNotFoundError) as missing:
            await driver.stat("absent")
        errors.append(missing.value)
        await driver.delete(["small", "large"])
    # The SDK did log its requests, signed headers and SAS URLs included.
    assert "Request URL" in caplog.text
    assert "'Authorization'" in caplog.text
    assert "sig=" in caplog.text
    for secret in (ACCOUNT_KEY, sas, signature, quote(signature, safe=""), conn):
        assert secret not in caplog.text
        for driver in drivers:
            assert secret not in repr(driver)
        for error in errors:
            assert secret not in str(error)
            assert secret not in repr(error)


async def test_missing_credential_reference(make_driver: MakeDriver) -> None:
    """An unset credential variable is a ConfigurationError naming the variable."""
    driver = make_driver(credentials={"account_key_env": "UNSET_AZURE_KEY_VAR"})
    with pytest.raises(aa.ConfigurationError, match="UNSET_AZURE_KEY_VAR") as info:
        await driver.stat("k")
    assert ACCOUNT_KEY not in str(info.value)


async def test_sdk_credentials_are_created_and_closed(
    make_driver: MakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """use_sdk_creds builds a DefaultAzureCredential without a request; aclose closes it."""
    closed: list[DefaultAzureCredential] = []

    class Recording(DefaultAzureCredential):
        async def close(self) -> None:
            closed.append(self)
            await super().close()

    monkeypatch.setattr(_client, "DefaultAzureCredential", Recording)
    driver = make_driver(endpoint="https://myaccount.blob.core.windows.net",
                         credentials=Credentials(use_sdk_default=True))
    client = await driver._client()
    assert isinstance(client.credential, Recording)
    await driver.aclose()
    assert closed == [client.credential]
    assert driver._sdk.current is None
    await driver.aclose()


async def test_client_is_created_lazily_and_closed(make_driver: MakeDriver) -> None:
    """No client exists before the first request; aclose closes it (and is idempotent)."""
    driver = make_driver()
    assert driver._sdk.current is None
    await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata={})
    assert driver._sdk.current is not None
    await driver.aclose()
    assert driver._sdk.current is None
    await driver.aclose()


async def test_create_container(make_driver: MakeDriver, service: BlobServiceClient,
                                container: str) -> None:
    """create_container makes a missing container on first use and accepts an existing one."""
    created = f"{container}-new"
    driver = make_driver(container=created, create_container=True)
    try:
        await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata={})
        assert service.get_blob_client(created, "k").get_blob_properties().size == 1
        existing = make_driver(create_container=True)
        await existing.put("k", b"y", checksums=md5_checks(b"y"), metadata={})
    finally:
        service.delete_container(created)


async def test_access_tier_is_set_on_every_kind_of_upload(
    make_driver: MakeDriver, blobs: ContainerClient
) -> None:
    """Blobs stored by put (both paths) and by a commit get the configured tier."""
    driver = make_driver(access_tier="cool")
    await _exercise(driver)
    for key in ("small", "large"):
        assert blobs.get_blob_client(key).get_blob_properties().blob_tier == "Cool"
    await driver.put("medium", b"m" * (2 * MiB), checksums=md5_checks(b"m" * (2 * MiB)),
                     metadata={})
    assert blobs.get_blob_client("medium").get_blob_properties().blob_tier == "Cool"


async def test_without_content_md5_no_md5_is_sent(
    make_driver: MakeDriver, blobs: ContainerClient
) -> None:
    """content_md5 = false sends no MD5 (a wrong one given is not even looked at)."""
    driver = make_driver(content_md5=False)
    info = await driver.put("k", b"data", checksums=md5_checks(b"other"), metadata={})
    assert "md5" not in info.checksums
    upload_id = await driver.start_upload("m", metadata={})
    part = await driver.upload_part("m", upload_id, 1, b"data", offset=0,
                                    checksums=md5_checks(b"other"))
    assert part.checksums == {}
    await driver.complete_upload("m", upload_id, [part])
    assert blobs.get_blob_client("m").download_blob().readall() == b"data"


ARGO_CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: artifact-repositories
  annotations:
    workflows.argoproj.io/default-artifact-repository: artifactRepository
data:
  artifactRepository: |
    azure:
      endpoint: {endpoint}
      container: {container}
      blobNameFormat: prefix/in/container     #optional, it could reference workflow variables
      accountKeySecret:
        name: my-azure-storage-credentials
        key: account-access-key
  with-identity: |
    azure:
      endpoint: https://mystorageaccountname.blob.core.windows.net
      container: my-container-name
      blobNameFormat: "{{{{workflow.name}}}}/{{{{pod.name}}}}"
      useSDKCreds: true
"""


async def test_argo_configmap_azure_entry(
    azurite: str, container: str, tmp_path: Path, blobs: ContainerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Argo's azure: ConfigMap example loads, blobNameFormat is the key format; save and load."""
    path = tmp_path / "cm.yaml"
    path.write_text(ARGO_CONFIGMAP.format(endpoint=azurite, container=container))
    secret = tmp_path / "secrets" / "my-azure-storage-credentials" / "account-access-key"
    secret.parent.mkdir(parents=True)
    secret.write_text(ACCOUNT_KEY + "\n")
    monkeypatch.setenv("ARTIFACTS_ASYNC_SECRETS_DIR", str(tmp_path / "secrets"))
    config = aa.RepositoryConfig.load(path)
    repo = config.get(None)
    assert (repo.driver, repo.key_format) == ("azure", "prefix/in/container")
    assert repo.credentials.refs == {
        "account_key": SecretRef("kubernetes", "my-azure-storage-credentials",
                                 "account-access-key"),
    }
    identity = config.get("with-identity")
    assert identity.key_format == "{{workflow.name}}/{{pod.name}}"
    assert AzureDriver.from_settings(identity.driver_settings()).settings.credential_kind == "sdk"

    (tmp_path / "message.txt").write_text("hello from argo")
    context = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="pod-1")
    async with aa.Artifacts(config) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="message", path=tmp_path / "message.txt",
                               archive=aa.Archive.none())],
            context=context,
        )
        result.raise_for_errors()
        (record,) = result.records
        assert record.location.key == "prefix/in/container/message.txt"
        assert [b.name for b in blobs.list_blobs()] == [record.location.key]
        await artifacts.load_inputs(
            [aa.InputArtifact(name="message", path=tmp_path / "back.txt", record=record)],
            context=context,
        )
    assert (tmp_path / "back.txt").read_text() == "hello from argo"


def test_settings_from_a_repository(azurite: str) -> None:
    """A TOML-style repository with credential references builds the driver."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"blobs": {
        "driver": "azure", "endpoint": azurite, "container": "artifacts",
        "prefix": "team-a", "access_tier": "Hot",
        "credentials": {"account_key_env": "TEST_AZURE_ACCOUNT_KEY"},
    }}})
    settings: Any = config.get("blobs").driver_settings()
    driver = AzureDriver.from_settings(settings)
    assert driver.describe("k") == "azure://artifacts/team-a/k"
    assert driver.settings.credential_kind == "account_key"


def test_redactor_masks_what_the_sdk_might_leak(caplog: pytest.LogCaptureFixture) -> None:
    """Secrets, signatures, account keys and bearer tokens are masked in SDK log records."""
    secret = "s3cr3t+key/with=chars"
    REDACTOR.register(secret)
    caplog.set_level(logging.DEBUG)
    sdk = logging.getLogger("azure.storage.blob._shared.policies")
    sdk.debug("key %s and %s", secret, quote(secret, safe=""))
    sdk.debug("Request URL: 'https://a.blob.core.windows.net/c/k?sv=1&sig=abc%2Bdef%3D'")
    sdk.debug("conn DefaultEndpointsProtocol=https;AccountKey=QUJD+ZGVm==;EndpointSuffix=x")
    sdk.debug("    'Authorization': 'Bearer eyJ0eXAi.eyJhdWQi.c2ln-_'")
    text = caplog.text
    for leaked in (secret, quote(secret, safe=""), "abc%2Bdef", "QUJD+ZGVm", "eyJ0eXAi"):
        assert leaked not in text
    assert text.count("***") == 5
