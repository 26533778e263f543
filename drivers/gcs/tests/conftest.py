"""Fixtures: a real GCS JSON API (fake-gcs-server, in a subprocess) and drivers against it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from artifacts_async_gcs import GCSDriver
from gcs_support import Server, fake_gcs_binary

from artifacts_async.testing import ServerProcess, driver_factory


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start fake-gcs-server (in-memory) on a free loopback port; yield its URL."""
    log = tmp_path_factory.mktemp("fake-gcs") / "server.log"
    with ServerProcess(
        [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", "{port}",
         "-external-url", "http://127.0.0.1:{port}", "-backend", "memory",
         "-log-level", "warn"],
        health_url="http://127.0.0.1:{port}/storage/v1/b", log=log,
    ) as server:
        yield server.endpoint


@pytest.fixture(autouse=True)
def _isolated_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # No Google settings of the machine leak in.
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST",
                 "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud-config"))


@pytest.fixture
def server(gcs_endpoint: str) -> Server:
    """The fake-gcs-server, seen without the driver."""
    return Server(gcs_endpoint)


@pytest.fixture
def bucket(server: Server) -> str:
    """A new, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    server.create_bucket(name)
    return name


@pytest.fixture
def settings(gcs_endpoint: str, bucket: str) -> dict[str, Any]:
    """Driver settings for the test bucket (the emulator takes no token)."""
    return {"bucket": bucket, "endpoint": gcs_endpoint, "anonymous": True}


@pytest.fixture
async def make_driver(settings: Mapping[str, Any]) -> AsyncIterator[Callable[..., GCSDriver]]:
    """Build drivers with settings overrides; every one is closed at the end."""
    async with driver_factory(GCSDriver.from_settings, settings) as make:
        yield make


@pytest.fixture
async def driver(make_driver: Callable[..., GCSDriver]) -> GCSDriver:
    """A fresh GCS driver on the test bucket, closed afterwards."""
    return make_driver()
