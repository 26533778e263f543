"""Fixtures: a real Azure Blob API (Azurite, in a subprocess) and drivers against it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from artifacts_async_azure import AzureDriver
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure_support import ACCOUNT, ACCOUNT_KEY, KEY_ENV, azurite_blob, connection_string

from artifacts_async import Credentials, SecretRef
from artifacts_async.testing import ServerProcess, driver_factory


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Azurite's blob service on a free loopback port for the session; yield the
    account's endpoint (`http://127.0.0.1:PORT/devstoreaccount1`)."""
    workdir = tmp_path_factory.mktemp("azurite")
    with ServerProcess(
        [azurite_blob(), "--blobHost", "127.0.0.1", "--blobPort", "{port}",
         "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
        # Any answer means it is up (this one is a 403: the request is not signed).
        health_url=f"http://127.0.0.1:{{port}}/{ACCOUNT}?comp=list",
        log=workdir / "azurite.log", cwd=workdir, timeout=90,
    ) as server:
        yield f"{server.endpoint}/{ACCOUNT}"


@pytest.fixture(autouse=True)
def _isolated_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # No Azure settings of the machine leak in (DefaultAzureCredential reads AZURE_*).
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(KEY_ENV, ACCOUNT_KEY)


@pytest.fixture(scope="session")
def service(azurite: str) -> Iterator[BlobServiceClient]:
    """A plain (synchronous) SDK client, to look at the server without our driver."""
    with BlobServiceClient.from_connection_string(connection_string(azurite)) as client:
        yield client


@pytest.fixture
def container(service: BlobServiceClient) -> Iterator[str]:
    """An empty container for one test, deleted afterwards (Azurite keeps blobs in memory)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    service.create_container(name)
    yield name
    service.delete_container(name)


@pytest.fixture
def blobs(service: BlobServiceClient, container: str) -> ContainerClient:
    """The test container, seen through the plain SDK client."""
    return service.get_container_client(container)


@pytest.fixture
def credentials() -> Credentials:
    """A reference to Azurite's account key in the environment."""
    return Credentials(refs={"account_key": SecretRef("env", KEY_ENV)})


@pytest.fixture
def settings(azurite: str, container: str, credentials: Credentials) -> dict[str, Any]:
    """Driver settings for the test container."""
    return {"endpoint": azurite, "container": container, "credentials": credentials}


@pytest.fixture
async def make_driver(settings: Mapping[str, Any]) -> AsyncIterator[Callable[..., AzureDriver]]:
    """Build drivers with settings overrides; every one is closed at the end."""
    async with driver_factory(AzureDriver.from_settings, settings) as make:
        yield make


@pytest.fixture
async def driver(make_driver: Callable[..., AzureDriver]) -> AzureDriver:
    """A fresh Azure driver on the test container, closed afterwards."""
    return make_driver()
