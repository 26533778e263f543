"""The Argo plugin backed by S3: moto's server and the plugin, both real subprocesses."""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # only to look at the server
import pytest
from argo_plugin_support import MiB, Plugin

from artifacts_async.testing import ServerProcess

ACCESS_KEY = "AKIATESTACCESSKEY0002"
SECRET_KEY = "argo-plugin-test-secret"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free loopback port; yields its URL."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with ServerProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
        health_url="http://127.0.0.1:{port}/moto-api/", log=log,
    ) as server:
        yield server.endpoint


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mounted Kubernetes secret `minio-creds`, as the sidecar sees it."""
    root = tmp_path_factory.mktemp("secrets")
    (root / "minio-creds").mkdir()
    (root / "minio-creds" / "accesskey").write_text(ACCESS_KEY)
    (root / "minio-creds" / "secretkey").write_text(SECRET_KEY)
    return root


@pytest.fixture(scope="module")
def plugin(secrets: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plugin]:
    """The plugin with S3 credentials in its environment and a secrets mount."""
    env = {"TEST_S3_ACCESS_KEY": ACCESS_KEY, "TEST_S3_SECRET_KEY": SECRET_KEY,
           "ARTIFACTS_ASYNC_SECRETS_DIR": str(secrets), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(tmp_path_factory.mktemp("aws") / "none")}
    with Plugin(env=env) as server:
        yield server


@pytest.fixture
def boto(moto: str) -> Any:
    """A plain boto3 client, to look at the server without the plugin."""
    return boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def bucket(moto: str, boto: Any) -> str:
    """Reset moto, then create an empty bucket for one test."""
    request = urllib.request.Request(f"{moto}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    name = f"argo-{uuid.uuid4().hex[:12]}"
    boto.create_bucket(Bucket=name)
    return name


@pytest.fixture
def config(moto: str, bucket: str) -> str:
    """This library's repository shape, credentials from environment variables."""
    return json.dumps({
        "driver": "s3", "bucket": bucket, "endpoint": moto,
        "credentials": {"access_key_env": "TEST_S3_ACCESS_KEY",
                        "secret_key_env": "TEST_S3_SECRET_KEY"},
        "transfer": {"part_size": 5 * MiB},
    })


@pytest.fixture
def argo_config(moto: str, bucket: str) -> str:
    """Argo's S3 repository shape in YAML, credentials from a mounted secret."""
    host = moto.removeprefix("http://")
    return (f"s3:\n  bucket: {bucket}\n  endpoint: {host}\n  insecure: true\n"
            "  accessKeySecret: {name: minio-creds, key: accesskey}\n"
            "  secretKeySecret: {name: minio-creds, key: secretkey}\n")


@pytest.fixture
def stored(boto: Any, bucket: str) -> Callable[[str], bytes]:
    """The bytes S3 holds under a key of the test bucket (read with boto3)."""
    def read(key: str) -> bytes:
        data: bytes = boto.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    return read


def test_save_and_load_files_in_both_configuration_shapes(
    plugin: Plugin, config: str, argo_config: str, stored: Callable[[str], bytes],
    tmp_path: Path,
) -> None:
    """A 13 MiB file (multipart) and a small one round-trip through S3, configured in this
    library's shape and in Argo's own (secrets mounted as files)."""
    big = tmp_path / "model.bin"
    big.write_bytes(hashlib.sha256(b"m").digest() * (13 * MiB // 32) + b"tail")
    small = tmp_path / "out.tgz"
    small.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 10)
    for configuration in (config, argo_config):
        for path in (big, small):
            key = f"wf/{uuid.uuid4().hex[:6]}/{path.name}"
            response = plugin.save(path, key, configuration)
            assert response.success, response.error
            assert stored(key) == path.read_bytes()
            loaded = tmp_path / "in" / f"{path.name}.tmp"
            response_load = plugin.load(key, loaded, configuration)
            assert response_load.success, response_load.error
            assert loaded.read_bytes() == path.read_bytes()


def test_directory_list_is_directory_load_and_delete(
    plugin: Plugin, config: str, bucket: str, boto: Any, tmp_path: Path
) -> None:
    """A directory becomes objects under the key; ListObjects, IsDirectory and Load see it;
    Delete removes every object and is idempotent."""
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "index.html").write_text("<h1>report</h1>")
    (source / "sub" / "data.csv").write_text("a,b\n1,2\n")
    assert plugin.save(source, "wf/report", config).success
    assert sorted(plugin.list_objects("wf/report", config).objects) == [
        "wf/report/index.html", "wf/report/sub/data.csv"]
    assert plugin.is_directory("wf/report", config).is_directory
    assert not plugin.is_directory("wf/report/index.html", config).is_directory
    response = plugin.load("wf/report", tmp_path / "in", config)
    assert response.success, response.error
    assert (tmp_path / "in" / "sub" / "data.csv").read_text() == "a,b\n1,2\n"
    for _ in range(2):
        deleted = plugin.delete("wf/report", config)
        assert deleted.success, deleted.error
    assert boto.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert "does not exist" in plugin.list_objects("wf/report", config).error


def test_save_stream_then_open_stream_in_frames(
    plugin: Plugin, config: str, stored: Callable[[str], bytes]
) -> None:
    """SaveStream of 24 MiB (multipart, no temp file) lands whole in S3; OpenStream
    returns it in frames of at most 1 MiB, then `is_end`."""
    chunk = hashlib.sha256(b"s").digest() * (2 * MiB // 32)
    chunks = [i.to_bytes(4, "big") + chunk[4:] for i in range(12)]
    response = plugin.save_stream(iter(chunks), "wf/streamed.bin", config)
    assert response.success, response.error
    assert stored("wf/streamed.bin") == b"".join(chunks)
    frames = list(plugin.open_stream("wf/streamed.bin", config))
    assert frames[-1].is_end
    assert all(len(f.data) <= MiB for f in frames)
    assert b"".join(f.data for f in frames) == b"".join(chunks)


def test_backend_errors_are_answered_and_the_server_keeps_serving(
    plugin: Plugin, config: str, moto: str, tmp_path: Path
) -> None:
    """A missing bucket or wrong credentials are answered in `error`; the server serves on."""
    data = tmp_path / "f.bin"
    data.write_bytes(b"payload")
    no_bucket = json.loads(config) | {"bucket": "no-such-bucket-here"}
    response = plugin.save(data, "wf/f.bin", json.dumps(no_bucket))
    assert not response.success
    assert "no-such-bucket-here" in response.error
    missing = plugin.load("wf/absent.bin", tmp_path / "x", config)
    assert "MissingInputError" in missing.error
    assert plugin.proc.poll() is None
    assert plugin.save(data, "wf/f.bin", config).success
